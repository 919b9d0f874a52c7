"""Atomic counters for threads of one compiled call (townlet.world.waves).

The wave tick's threads hand work to each other through int64 arrays: a thread
claims the next district row with ``fetch_add`` and publishes how far it got in a
row with ``store_release``; a thread that needs that row's progress reads it with
``load_acquire`` and, while it is short, ``wait_until`` spins and then yields the
core (``sched_yield``), so a waiting thread does not hold a core the thread it waits
for needs; a negative count says the row will not run. Release and acquire order the row's state writes before the progress that
announces them. Under ``NUMBA_DISABLE_JIT=1`` these are plain array operations (the
interpreted ``prange`` runs its iterations one after another).
"""

from __future__ import annotations

import os

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from townlet.world.jit import INTERPRETED, kernel

__all__ = ["fetch_add", "load_acquire", "store_release", "wait_until"]

SPINS = 200
"""Reads of a short counter before each yield of the core."""


def _int64_1d(array, i):
    return (isinstance(array, types.Array) and array.ndim == 1 and array.dtype == types.int64
            and isinstance(i, types.Integer))


def _pointer(context, builder, sig, args):
    """The address of ``array[i]``."""
    ary = context.make_array(sig.args[0])(context, builder, args[0])
    i = context.cast(builder, args[1], sig.args[1], types.intp)
    return cgutils.get_item_pointer(context, builder, sig.args[0], ary, [i])


@intrinsic
def _load_acquire(typingctx, array, i):
    """``array[i]`` read with acquire order."""
    if not _int64_1d(array, i):
        return None

    def codegen(context, builder, sig, args):
        return builder.load_atomic(_pointer(context, builder, sig, args), "acquire", 8)

    return types.int64(array, i), codegen


@intrinsic
def _store_release(typingctx, array, i, value):
    """``array[i] = value`` written with release order."""
    if not _int64_1d(array, i) or not isinstance(value, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        v = context.cast(builder, args[2], sig.args[2], types.int64)
        builder.store_atomic(v, _pointer(context, builder, sig, args), "release", 8)
        return context.get_dummy_value()

    return types.void(array, i, value), codegen


@intrinsic
def _fetch_add(typingctx, array, i, value):
    """Add ``value`` to ``array[i]`` atomically; returns the value before."""
    if not _int64_1d(array, i) or not isinstance(value, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        v = context.cast(builder, args[2], sig.args[2], types.int64)
        return builder.atomic_rmw("add", _pointer(context, builder, sig, args), v, "seq_cst")

    return types.int64(array, i, value), codegen


@intrinsic
def _yield_core(typingctx):
    """``sched_yield()``: let another runnable thread have this core."""
    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(builder.module,
                                            ir.FunctionType(ir.IntType(32), []), "sched_yield")
        builder.call(fn, [])
        return context.get_dummy_value()

    return types.void(), codegen


def _interpreted_load(array, i):
    return array[i]


def _interpreted_store(array, i, value):
    array[i] = value


def _interpreted_fetch_add(array, i, value):
    before = array[i]
    array[i] += value
    return before


def _interpreted_yield():
    os.sched_yield()


load_acquire = _interpreted_load if INTERPRETED else _load_acquire
store_release = _interpreted_store if INTERPRETED else _store_release
fetch_add = _interpreted_fetch_add if INTERPRETED else _fetch_add
_yield = _interpreted_yield if INTERPRETED else _yield_core


@kernel
def wait_until(counters, i, at_least):
    """Return once ``counters[i] >= at_least`` (True) or negative (False: the thread
    that owns it gave up), whichever another thread makes true first."""
    spins = 0
    while True:
        v = load_acquire(counters, i)
        if v >= at_least or v < 0:
            return v >= 0
        spins += 1
        if spins >= SPINS:
            _yield()
            spins = 0
