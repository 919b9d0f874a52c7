"""``prefetch(array, i)``: ask the CPU to start loading row i of an array.

The tick walks the agents in slot order and reads a few bytes of ~25 per-agent
columns for each. Every column is its own sequential stream, more than the
hardware prefetchers track at once, so without help each new cache line of each
column is a demand miss (measured: most of the kernel's cycles at 100k agents
stall on such loads). The tick therefore prefetches the hot columns' rows a few
agents ahead (townlet.world.kernel ``_prefetch_agent``).

A prefetch is only a hint: it never faults (an index past the end is harmless)
and changes no value, so results are identical with or without it. Under
``NUMBA_DISABLE_JIT=1`` it does nothing.
"""

from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from townlet.world.jit import INTERPRETED

__all__ = ["nonneg", "prefetch", "prefetch_at"]


def _codegen(context, builder, sig, args):
    """Prefetch the byte at ``array[i, j, ...]`` (the indices given, any left out 0)."""
    ary = context.make_array(sig.args[0])(context, builder, args[0])
    offset = context.get_constant(types.intp, 0)
    for k, (index, typ) in enumerate(zip(args[1:], sig.args[1:])):
        i = context.cast(builder, index, typ, types.intp)
        offset = builder.add(offset, builder.mul(i, builder.extract_value(ary.strides, k)))
    byte = ir.IntType(8).as_pointer()
    address = builder.gep(builder.bitcast(ary.data, byte), [offset])
    i32 = ir.IntType(32)
    fn = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(ir.VoidType(), [byte, i32, i32, i32]), "llvm.prefetch.p0")
    builder.call(fn, [address, i32(0), i32(3), i32(1)])  # read, all cache levels, data
    return context.get_dummy_value()


@intrinsic
def _prefetch(typingctx, array, i):
    """Prefetch the start of row i of ``array``."""
    if not isinstance(array, types.Array) or not isinstance(i, types.Integer):
        return None
    return types.void(array, i), _codegen


@intrinsic
def _prefetch_at(typingctx, array, i, j):
    """Prefetch element (i, j) of the 2-D ``array``."""
    if not (isinstance(array, types.Array) and array.ndim == 2 and isinstance(i, types.Integer)
            and isinstance(j, types.Integer)):
        return None
    return types.void(array, i, j), _codegen


def _interpreted_prefetch(array, *index):
    """Nothing to prefetch in interpreted kernels."""


prefetch = _interpreted_prefetch if INTERPRETED else _prefetch
prefetch_at = _interpreted_prefetch if INTERPRETED else _prefetch_at


@intrinsic
def _nonneg(typingctx, i):
    """``i``, with the compiler told it is not negative (``llvm.assume``)."""
    if not isinstance(i, types.Integer) or not i.signed:
        return None

    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [ir.IntType(1)]), "llvm.assume")
        builder.call(fn, [builder.icmp_signed(">=", args[0], args[0].type(0))])
        return args[0]

    return i(i), codegen


def _interpreted_nonneg(i):
    """``i`` itself in interpreted kernels."""
    return i


nonneg = _interpreted_nonneg if INTERPRETED else _nonneg
"""``nonneg(i)``: ``i``, known to the compiler not to be negative, so that indexing with it
skips Python's wraparound of negative indices (a hint like ``prefetch``: a negative
``i`` would be undefined behaviour, so use it only on slot numbers)."""
