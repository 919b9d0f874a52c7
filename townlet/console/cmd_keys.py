"""Admin views and actions on the key registry (answered off-tick: they touch a file,
never the world)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from townlet.console.context import CommandContext
from townlet.console.errors import CommandError
from townlet.security.keys import revoke_in_registry
from townlet.security.registry import utcnow

__all__ = ["keys", "revoke"]


class NoArgs(msgspec.Struct, forbid_unknown_fields=True):
    """No arguments."""


class KeyRow(msgspec.Struct):
    name: str
    key_id: str
    role: str
    status: str
    expires_at: str


def keys(ctx: CommandContext, p: NoArgs) -> list[KeyRow]:
    """Every registered key with its status (public facts only, never key material)."""
    reg = ctx.registry.current()
    if reg is None:
        raise CommandError("E_INTERNAL", f"key registry unusable: {ctx.registry.error}")
    now = utcnow()
    return [KeyRow(r.name, r.key_id, r.role, reg.check_key_id(r.key_id, now).status.value,
                   r.expires_at.isoformat()) for r in reg.records()]


class RevokeArgs(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=64)]
    """Identity whose keys to revoke."""
    key_id: Annotated[str, Meta(pattern=r"^[0-9a-f]{16}$")] | None = None
    """Only this key (e.g. the old key after a rotation)."""


class Revoked(msgspec.Struct):
    revoked: list[str]
    """Key ids revoked now; their open connections are refused from the next request."""


def revoke(ctx: CommandContext, p: RevokeArgs) -> Revoked:
    """Revoke an identity's keys now (open connections fail on their next request)."""
    try:
        hit = revoke_in_registry(ctx.registry.path, p.name, key_id=p.key_id)
    except LookupError as exc:
        raise CommandError("E_NOT_FOUND", str(exc)) from None
    return Revoked(revoked=[r.key_id for r in hit])
