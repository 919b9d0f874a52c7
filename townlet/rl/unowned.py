"""``unowned(value)``: the same arrays (or tuples of them) without reference counting.

Numba reference-counts every array: taking one out of a named tuple (``tr.alive``),
slicing a row (``out_feat[i]``) or handing it to a helper increments and later
decrements its MemInfo with an atomic instruction. In the per-agent passes after a
tick these atomics cost about as much as the observation work itself (a profile of
``env.step`` at 10k agents had ~45 % of its samples in ``NRT_incref``/``NRT_decref``).
``unowned`` returns the value with every array's MemInfo pointer cleared (recursing
into tuples, so the RL statics and trackers keep their named fields); Numba's
reference counting skips a null MemInfo, so every access afterwards is free of
atomics. This is ``townlet.world.borrow`` for plain arrays and named tuples.

The arrays stay alive because the Python caller holds them for the whole call: an
unowned array (or a view of one) must never be stored or returned. Under
``NUMBA_DISABLE_JIT=1`` there is nothing to count and ``unowned`` returns its argument.
"""

from __future__ import annotations

from numba.core import cgutils, types
from numba.extending import intrinsic

from townlet.world.jit import INTERPRETED

__all__ = ["unowned"]


def _countless(typ: types.Type) -> bool:
    """Whether ``typ`` is an array, a scalar, or a tuple of those (what ``unowned`` takes)."""
    if isinstance(typ, types.BaseTuple):
        return all(_countless(t) for t in typ)
    return isinstance(typ, (types.Array, types.Number, types.Boolean))


def _clear(context, builder, typ, value):
    """``value`` of type ``typ`` with the MemInfo of every array in it set to null."""
    if isinstance(typ, types.Array):
        ary = context.make_array(typ)(context, builder, value=value)
        ary.meminfo = cgutils.get_null_value(ary.meminfo.type)
        return ary._getvalue()
    if isinstance(typ, types.BaseTuple):
        out = cgutils.get_null_value(value.type)
        for k, item in enumerate(typ):
            out = builder.insert_value(
                out, _clear(context, builder, item, builder.extract_value(value, k)), k)
        return out
    return value


@intrinsic
def _unowned(typingctx, value):
    """``value`` (an array, or a tuple of arrays and scalars) for this call only."""
    if not _countless(value):
        return None

    def codegen(context, builder, sig, args):
        return _clear(context, builder, sig.args[0], args[0])

    return value(value), codegen


def _interpreted_unowned(value):
    """The value itself: interpreted code counts nothing."""
    return value


unowned = _interpreted_unowned if INTERPRETED else _unowned
