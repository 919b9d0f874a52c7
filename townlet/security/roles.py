"""Roles and their ordering: the one place that says who outranks whom.

Three roles, each a superset of the one below: ``viewer`` (read-only),
``operator`` (world interventions), ``admin`` (everything, incl. policy and
snapshot operations and any file write).
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = ["ALL_ROLES", "ROLES", "SUBSCRIBE_ROLES", "Role", "parse_role", "role_allows"]

Role = Literal["viewer", "operator", "admin"]

#: Roles from least to most privileged.
ROLES: Final[tuple[Role, ...]] = ("viewer", "operator", "admin")
_RANK: Final[dict[str, int]] = {r: i for i, r in enumerate(ROLES)}

#: Roles allowed to subscribe to telemetry (every role may watch).
SUBSCRIBE_ROLES: Final[frozenset[Role]] = frozenset(ROLES)
#: Every role (the console admits all and authorises per command).
ALL_ROLES: Final[frozenset[Role]] = frozenset(ROLES)


def role_allows(have: str, need: str) -> bool:
    """True when role ``have`` may do what role ``need`` may do.

    Unknown role names never allow anything (deny by default).
    """
    if have not in _RANK or need not in _RANK:
        return False
    return _RANK[have] >= _RANK[need]


def parse_role(text: str) -> Role:
    """Return ``text`` as a :data:`Role`, or raise ``ValueError`` naming the choices."""
    if text not in _RANK:
        raise ValueError(f"unknown role {text!r}; expected one of {', '.join(ROLES)}")
    return text  # type: ignore[return-value]
