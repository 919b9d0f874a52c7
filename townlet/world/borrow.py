"""``borrowed(struct)``: a reference-count-free view of a state or params struct.

Numba reference-counts a StructRef like an array: every compiled function that
receives ``s`` or ``p`` increments and decrements the struct's MemInfo on entry
and exit, and every ``s.agent_x`` read does the same to the array's MemInfo.
These are atomic operations on a shared counter, and Numba's refcount pruning
cannot remove them around calls and branches; with ~15 helper calls per agent
they cost more than the town logic itself.

``borrowed(s)`` copies the struct's fields into a frame-local record of the
calling function, with every array's MemInfo cleared, and returns a plain
pointer to it (type :class:`Borrowed`). Helpers that take the pointer read the
same arrays through the same attribute names, with no reference counting at
all. The view lives on the caller's stack: it is valid only during that call
and must never be stored or returned (``tick`` makes one and passes it down).
Nothing writes the record after ``borrowed`` filled it (a view has no setattr), so its
loads are marked ``!invariant.load``: LLVM then keeps the arrays' data pointers and
shapes in registers across the tick's stores instead of reloading them after each.
Under ``NUMBA_DISABLE_JIT=1`` (:data:`townlet.world.jit.INTERPRETED`) there is no
compiled code and nothing to borrow: ``borrowed`` returns its argument.
"""

from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, imputils, types
from numba.core.datamodel import models
from numba.core.typing.templates import AttributeTemplate
from numba.experimental.structref import _Utils
from numba.extending import infer_getattr, intrinsic, lower_getattr_generic, register_model

from townlet.world.jit import INTERPRETED

__all__ = ["OWN_FIELDS", "Borrowed", "borrowed", "borrowed_with"]


class Borrowed(types.Type):
    """A borrowed, frame-local view of the StructRef type ``struct``."""

    def __init__(self, struct: types.StructRef) -> None:
        self.struct = struct
        super().__init__(name=f"Borrowed({struct.name})")


@register_model(Borrowed)
class _BorrowedModel(models.OpaqueModel):
    """A bare pointer to the record: nothing for Numba to reference-count."""


@infer_getattr
class _BorrowedAttributes(AttributeTemplate):
    key = Borrowed

    def generic_resolve(self, typ, attr):
        return typ.struct.field_dict.get(attr)


def _record(context, builder, struct, ptr):
    data_type = struct.get_data_type()
    ptr = builder.bitcast(ptr, context.get_value_type(data_type).as_pointer())
    return cgutils.create_struct_proxy(data_type)(context, builder, ref=ptr)


def _load_invariant(builder, ptr, md):
    """Load ``*ptr`` one scalar at a time, each marked ``!invariant.load`` (an aggregate
    load would be split by LLVM into loads without the mark), and rebuild the value."""
    typ = ptr.type.pointee
    if isinstance(typ, ir.BaseStructType | ir.ArrayType):
        value = ir.Constant(typ, ir.Undefined)
        count = len(typ.elements) if isinstance(typ, ir.BaseStructType) else typ.count
        for k in range(count):
            member = builder.gep(ptr, [ir.IntType(32)(0), ir.IntType(32)(k)], inbounds=True)
            value = builder.insert_value(value, _load_invariant(builder, member, md), k)
        return value
    load = builder.load(ptr)
    load.set_metadata("invariant.load", md)
    return load


@lower_getattr_generic(Borrowed)
def _borrowed_getattr(context, builder, typ, val, attr):
    """A field of the view, loaded as invariant (without the mark, LLVM must assume any
    store through an array may have written the record, and reloads the field after it;
    measured: 813 such reloads in ``turns`` before, 170 after)."""
    record = _record(context, builder, typ.struct, val)
    index = record._datamodel.get_field_position(attr)
    value = _load_invariant(builder, record._get_ptr_by_index(index),
                            builder.module.add_metadata([]))
    value = record._cast_member_to_value(index, value)
    return imputils.impl_ret_borrowed(context, builder, typ.struct.field_dict[attr], value)


def _borrow(context, builder, struct, value, replaced):
    """Code for a frame-local copy of ``struct``'s record (fields in ``replaced`` taken
    from there), every array's MemInfo cleared; returns the pointer to it."""
    src = _Utils(context, builder, struct).get_data_struct(value)
    ptr = cgutils.alloca_once(builder, context.get_value_type(struct.get_data_type()))
    dst = _record(context, builder, struct, ptr)
    for name, typ in struct.field_dict.items():
        field = replaced[name] if name in replaced else getattr(src, name)
        if isinstance(typ, types.Array):
            ary = context.make_array(typ)(context, builder, value=field)
            ary.meminfo = cgutils.get_null_value(ary.meminfo.type)
            field = ary._getvalue()
        setattr(dst, name, field)
    return builder.bitcast(ptr, cgutils.voidptr_t)


@intrinsic
def _borrowed(typingctx, struct):
    """Borrow ``struct`` (a StructRef of arrays and scalars) for this call."""
    if not isinstance(struct, types.StructRef):
        return None

    def codegen(context, builder, sig, args):
        return _borrow(context, builder, struct, args[0], {})

    return Borrowed(struct)(struct), codegen


def _interpreted_borrowed(struct):
    """The struct itself: interpreted kernels read the namedtuple directly."""
    return struct


borrowed = _interpreted_borrowed if INTERPRETED else _borrowed


OWN_FIELDS = ("evt_code", "evt_agent", "evt_other", "evt_obj", "evt_value", "evt_len", "stats",
              "ledger")
"""Fields each thread of a parallel tick writes to arrays of its own (townlet.world.waves):
the event buffer, the counters and the money accounts."""


@intrinsic
def _borrowed_with(typingctx, struct, own):
    """Borrow ``struct`` with the fields :data:`OWN_FIELDS` taken from the tuple ``own``
    (arrays of the same types) instead of the struct's."""
    if not isinstance(struct, types.StructRef) or not isinstance(own, types.BaseTuple):
        return None
    fields = struct.field_dict
    if len(own) != len(OWN_FIELDS) or any(fields[n] != t for n, t in zip(OWN_FIELDS, own)):
        return None

    def codegen(context, builder, sig, args):
        own_values = cgutils.unpack_tuple(builder, args[1], len(OWN_FIELDS))
        return _borrow(context, builder, struct, args[0], dict(zip(OWN_FIELDS, own_values)))

    return Borrowed(struct)(struct, own), codegen


def _interpreted_borrowed_with(struct, own):
    """The namedtuple with the fields :data:`OWN_FIELDS` replaced."""
    return struct._replace(**dict(zip(OWN_FIELDS, own)))


borrowed_with = _interpreted_borrowed_with if INTERPRETED else _borrowed_with
