"""Atomic loads, stores and compare-and-swap on one element of an integer array, and a
plain byte copy between arrays.

Numba offers atomics only on GPUs; these emit LLVM's atomic instructions directly, so two
threads running compiled code (both without the GIL) can hand a block of work from one
to the other (townlet.world.ahead). ``load`` has acquire and ``store`` release ordering:
what a thread did before a ``store`` is visible to a thread whose ``load`` reads that
value, and nothing a thread does after its ``load`` is moved before it. ``cas`` is
sequentially consistent. Only used where compiled: interpreted kernels never get here.
"""

from __future__ import annotations

from numba.core import cgutils, types
from numba.extending import intrinsic

__all__ = ["cas", "copy_bytes", "load", "store"]


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
def load(typingctx, arr, index):
    """``arr[index]``, read atomically with acquire ordering."""
    if not _integer_array(arr, index):
        return None

    def codegen(context, builder, sig, args):
        ptr = _pointer(context, builder, sig, args)
        return builder.load_atomic(ptr, "acquire", sig.args[0].dtype.bitwidth // 8)

    return arr.dtype(arr, index), codegen


@intrinsic
def store(typingctx, arr, index, value):
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
