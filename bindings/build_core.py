"""cffi (API mode) build of ``townlet._core``, the shared-memory frame ring.

Used two ways:
- by setuptools during ``pip install .`` / ``pip install -e .`` through
  ``cffi_modules=["bindings/build_core.py:ffibuilder"]`` in setup.py;
- in place, from any worktree: ``python bindings/build_core.py`` compiles the
  extension next to ``townlet/__init__.py``.

The cdef only declares what core/ring.h, core/frame.h and core/scan.h export; all logic is in
core/ring.c (the frame ring), core/frame.c (the writer's call per tick) and core/scan.c
(the publisher's column scans). The extension also carries the digest of the sources it
was built from (``tl_source_digest()``, townlet/frames/core_digest.py), which
``townlet.frames.ring`` checks at import against the checkout's sources.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "core"


def _load_digest():
    """townlet/frames/core_digest.py, loaded by its path: the package itself cannot be
    imported while it is being built (its dependencies need not be installed yet)."""
    spec = importlib.util.spec_from_file_location(
        "townlet_core_digest", ROOT / "townlet" / "frames" / "core_digest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


core_digest = _load_digest()

CDEF = """
#define TR_OK ...
#define TR_NOT_READY ...
#define TR_LAPPED ...
#define TR_TORN ...
#define TR_EINVAL ...
#define TR_ESYS ...
#define TR_EMAGIC ...
#define TR_EVERSION ...
#define TR_ESCHEMA ...
#define TR_ETOOBIG ...
#define TR_EREADONLY ...
#define TR_EEXIST ...
#define TR_ENOENT ...
#define TR_HASH_SIZE ...
#define TR_HEADER_SIZE ...
#define TR_SCHEMA_MAX ...
#define TR_SLOT_HEADER_SIZE ...
#define TR_LAYOUT_VERSION ...
#define TR_MAX_SLOTS ...
#define TR_EVLOG_HEADER_SIZE ...
#define TR_EV_MAX_RECORD ...

typedef struct tr_ring tr_ring;
int tr_create(const char *name, const uint8_t *schema_hash, const void *schema_doc,
              uint32_t schema_len, uint32_t n_slots, uint64_t frame_capacity,
              int64_t writer_pid, uint64_t writer_starttime, uint32_t ev_record_size,
              uint64_t ev_capacity, tr_ring **out);
int tr_attach(const char *name, const uint8_t *expected_hash, tr_ring **out);
void tr_close(tr_ring *ring);
int tr_unlink(const char *name);
int64_t tr_publish(tr_ring *ring, int64_t tick, uint64_t frame_nbytes, uint32_t n_parts,
                   const void *const *ptrs, const uint64_t *offsets, const uint64_t *sizes);
int64_t tr_publish_columns(tr_ring *ring, int64_t tick, uint64_t fixed_nbytes, uint32_t n_parts,
                           const void *const *ptrs, const uint64_t *offsets,
                           const uint64_t *sizes, uint32_t n_cols, const void *const *cols,
                           const uint32_t *widths, uint64_t rows);
int tr_mark_closed(tr_ring *ring);
int tr_read(const tr_ring *ring, uint64_t frame, uint64_t offset, uint64_t len, void *dst,
            int64_t *tick, uint64_t *frame_nbytes, uint64_t *ev_end);
int tr_events_append_fields(tr_ring *ring, uint64_t n, uint32_t n_fields,
                            const void *const *ptrs, const uint32_t *widths,
                            const uint64_t *strides);
int tr_events_read(const tr_ring *ring, uint64_t start, uint64_t n, void *dst,
                   uint64_t *first_valid);
uint64_t tr_events_head(const tr_ring *ring);
uint64_t tr_events_capacity(const tr_ring *ring);
uint32_t tr_events_record_size(const tr_ring *ring);
uint64_t tr_latest(const tr_ring *ring);
int tr_closed(const tr_ring *ring);
uint32_t tr_n_slots(const tr_ring *ring);
uint64_t tr_frame_capacity(const tr_ring *ring);
uint32_t tr_layout_version(const tr_ring *ring);
int64_t tr_writer_pid(const tr_ring *ring);
uint64_t tr_writer_starttime(const tr_ring *ring);
void tr_schema_hash(const tr_ring *ring, uint8_t *out32);
uint64_t tr_segment_size(const tr_ring *ring);
uint32_t tr_schema_doc(const tr_ring *ring, void *dst, uint32_t cap);
const char *tr_strerror(int code);

#define TF_EVENTS ...
#define TF_FRAME ...
typedef struct tf_plan {
    uint64_t fixed_nbytes;
    uint32_t n_parts;
    const void *const *ptrs;
    const uint64_t *offsets;
    uint64_t *sizes;
    uint32_t n_static;
    const uint32_t *static_parts;
    const uint64_t *static_sizes;
    int64_t statics;
    int64_t *slot_statics;
    const int32_t *n_events;
    uint64_t event_capacity;
    uint32_t n_fields;
    const void *const *fields;
    const uint32_t *widths;
    const uint64_t *strides;
    int64_t *tick;
    uint32_t n_cols;
    const void *const *cols;
    const uint32_t *col_widths;
    int64_t *meta_tick;
    int32_t *meta_tick_of_day;
    int32_t *meta_n_alive;
    int32_t *meta_n_events;
    int64_t ticks_per_day;
    const uint8_t *alive;
    uint64_t n_agents;
    uint64_t event_row;
    int64_t logged_tick;
    uint64_t logged_n;
    uint64_t bytes_written;
} tf_plan;
int64_t tf_tick(tr_ring *ring, tf_plan *plan, int64_t tick, uint32_t what);

uint64_t ts_changed(const void *a, const void *b, uint64_t n, uint32_t size, int64_t *idx,
                    uint64_t cap);
uint64_t ts_repeat_misses(const void *old, const void *cur, const void *before, uint64_t n,
                          uint32_t size, int64_t *idx, uint64_t cap, uint64_t *changed);

const char *tl_source_digest(void);
"""


def make_builder(relative: bool) -> FFI:
    """The FFI builder; paths relative to the project root (setuptools) or absolute."""
    core = Path("core") if relative else CORE
    builder = FFI()
    builder.cdef(CDEF)
    source_digest = core_digest.digest(ROOT)
    builder.set_source(
        "townlet._core",
        '#include "ring.h"\n#include "frame.h"\n#include "scan.h"\n'
        f'const char *tl_source_digest(void) {{ return "{source_digest}"; }}',
        sources=[str(core / name) for name in core_digest.SOURCES],
        include_dirs=[str(core)],
        libraries=["rt"],
        extra_compile_args=["-std=c11", "-O3", "-Wall", "-Wextra"],
        py_limited_api=True,  # both paths name it _core.abi3.so (cffi's setuptools default)
    )
    return builder


#: Picked up by setuptools (cffi_modules), which runs from the project root.
ffibuilder = make_builder(relative=Path.cwd().resolve() == ROOT)


def build_in_place() -> Path:
    """Compile ``townlet/_core.abi3.so`` inside this source tree, the file ``pip install -e .``
    writes, and remove any other ``townlet/_core`` extension (Python would import a
    ``_core.cpython-*.so`` before it); returns its path."""
    tmp = ROOT / "build" / "cffi"
    tmp.mkdir(parents=True, exist_ok=True)
    built = Path(make_builder(relative=False).compile(tmpdir=str(tmp), verbose=False))
    target = ROOT / "townlet" / built.name
    os.replace(built, target)
    for other in (ROOT / "townlet").glob("_core.*"):
        if other.suffix in (".so", ".pyd") and other != target:
            other.unlink()
    return target


if __name__ == "__main__":
    print(build_in_place(), file=sys.stdout)
