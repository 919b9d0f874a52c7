"""Atomic operations on one element of an integer array, a wait on one, and a plain
byte copy between arrays: how threads of compiled code hand work to each other.

Numba offers atomics only on GPUs; these emit LLVM's atomic instructions directly, so
threads running compiled code (without the GIL) can hand a block of rows from one to the
other (townlet.world.ahead) or a district row's progress (townlet.world.waves).
``load`` has acquire and ``store`` release ordering: what a thread did before a
``store`` is visible to a thread whose ``load`` reads that value, and nothing a thread
does after its ``load`` is moved before it. ``cas`` and ``fetch_add`` are sequentially
consistent. ``wait_until`` spins on a ``load`` and then yields the core
(``sched_yield``), so a waiting thread does not hold a core the thread it waits for
needs. Under ``NUMBA_DISABLE_JIT=1`` ``load``, ``store``, ``fetch_add`` and
``wait_until`` are plain array operations (an interpreted ``prange`` runs its
iterations one after another); ``cas`` and ``copy_bytes`` only run compiled.
"""

from __future__ import annotations

import os

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from townlet.world.jit import INTERPRETED, kernel

__all__ = ["cas", "copy_bytes", "fetch_add", "load", "store", "wait_until"]

SPINS = 200
"""Reads of a short counter before each yield of the core (``wait_until``)."""


def _pointer(context, builder, sig, args):
    """Address of ``args[0][args[1]]``."""
    aty = sig.args[0]
    ary = context.make_array(aty)(context, builder, args[0])
    index = context.cast(builder, args[1], sig.args[1], types.intp)
    return cgutils.get_item_pointer(context, builder, aty, ary, [index])


def _integer_array(arr, index) -> bool:
    return (isinstance(arr, types.Array) and arr.ndim == 1
            and isinstance(arr.dtype, types.Integer) and isinstance(index, types.Integer))


@intrinsic
def _load(typingctx, arr, index):
    """``arr[index]``, read atomically with acquire ordering."""
    if not _integer_array(arr, index):
        return None

    def codegen(context, builder, sig, args):
        ptr = _pointer(context, builder, sig, args)
        return builder.load_atomic(ptr, "acquire", sig.args[0].dtype.bitwidth // 8)

    return arr.dtype(arr, index), codegen


@intrinsic
def _store(typingctx, arr, index, value):
    """``arr[index] = value``, written atomically with release ordering."""
    if not _integer_array(arr, index) or not isinstance(value, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        ptr = _pointer(context, builder, sig, args)
        val = context.cast(builder, args[2], sig.args[2], sig.args[0].dtype)
        builder.store_atomic(val, ptr, "release", sig.args[0].dtype.bitwidth // 8)
        return context.get_dummy_value()

    return types.void(arr, index, value), codegen


@intrinsic
def cas(typingctx, arr, index, expected, new):
    """Set ``arr[index]`` to ``new`` if it holds ``expected``, atomically; returns the
    value it held (``expected`` exactly when the swap happened)."""
    if not _integer_array(arr, index) or not (isinstance(expected, types.Integer)
                                              and isinstance(new, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        ptr = _pointer(context, builder, sig, args)
        dtype = sig.args[0].dtype
        old = context.cast(builder, args[2], sig.args[2], dtype)
        val = context.cast(builder, args[3], sig.args[3], dtype)
        pair = builder.cmpxchg(ptr, old, val, "seq_cst", "seq_cst")
        return builder.extract_value(pair, 0)

    return arr.dtype(arr, index, expected, new), codegen


@intrinsic
def copy_bytes(typingctx, dst, src, start, stop):
    """``dst[start:stop] = src[start:stop]`` for two byte arrays, as one ``memcpy`` (the C
    library's, the fastest copy there is; a loop is not turned into one reliably)."""
    u1 = types.Array(types.uint8, 1, "C")
    if not (dst == u1 and src == u1 and isinstance(start, types.Integer)
            and isinstance(stop, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        out = context.make_array(sig.args[0])(context, builder, args[0])
        inp = context.make_array(sig.args[1])(context, builder, args[1])
        lo = context.cast(builder, args[2], sig.args[2], types.intp)
        hi = context.cast(builder, args[3], sig.args[3], types.intp)
        cgutils.raw_memcpy(builder, builder.gep(out.data, [lo]), builder.gep(inp.data, [lo]),
                           builder.sub(hi, lo), 1)
        return context.get_dummy_value()

    return types.void(dst, src, start, stop), codegen


@intrinsic
def _fetch_add(typingctx, arr, index, value):
    """Add ``value`` to ``arr[index]`` atomically; returns the value before."""
    if not _integer_array(arr, index) or not isinstance(value, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        ptr = _pointer(context, builder, sig, args)
        val = context.cast(builder, args[2], sig.args[2], sig.args[0].dtype)
        return builder.atomic_rmw("add", ptr, val, "seq_cst")

    return arr.dtype(arr, index, value), codegen


@intrinsic
def _yield_core(typingctx):
    """``sched_yield()``: let another runnable thread have this core."""
    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(builder.module,
                                            ir.FunctionType(ir.IntType(32), []), "sched_yield")
        builder.call(fn, [])
        return context.get_dummy_value()

    return types.void(), codegen


def _interpreted_load(arr, index):
    return arr[index]


def _interpreted_store(arr, index, value):
    arr[index] = value


def _interpreted_fetch_add(arr, index, value):
    before = arr[index]
    arr[index] += value
    return before


def _interpreted_yield():
    os.sched_yield()


load = _interpreted_load if INTERPRETED else _load
store = _interpreted_store if INTERPRETED else _store
fetch_add = _interpreted_fetch_add if INTERPRETED else _fetch_add
_yield = _interpreted_yield if INTERPRETED else _yield_core


@kernel
def wait_until(arr, index, at_least):
    """Return once ``arr[index] >= at_least`` (True) or negative (False: the thread that
    owns it gave up), whichever another thread makes true first."""
    spins = 0
    while True:
        v = load(arr, index)
        if v >= at_least or v < 0:
            return v >= 0
        spins += 1
        if spins >= SPINS:
            _yield()
            spins = 0
