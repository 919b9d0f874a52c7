"""Who the dashboard logs in as: a profile (or flags) resolved into a :class:`Login`,
and the problems it can have before and during the handshake.

``preflight`` catches what needs no network (no key file, an unreadable or unsafe one,
an expiry already past); the console handshake then tells refused (key unknown, expired
or revoked) from failed (wrong server key) and from a server that is down. Each
problem carries the fix the operator needs, including how to renew a credential.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from townlet.security.keys import KeyFileError, load_keypair
from townlet.security.profile import PROFILE_SUFFIX, Profile, ProfileError, load_profile

__all__ = ["Login", "LoginProblem", "expiry_text", "key_file_expiry", "login_from_profile",
           "newer_login", "preflight", "renew_hint"]

_EXPIRES = re.compile(r"^\s*expires_at\s*=\s*(\S+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Login:
    """Endpoints and credential the dashboard connects with."""

    console_endpoint: str
    telemetry_endpoint: str
    server_key: Path
    client_key: Path | None
    name: str = ""
    role: str = ""
    expires_at: datetime | None = None
    profile: Path | None = None


@dataclass(frozen=True)
class LoginProblem:
    """Why the dashboard cannot log in, and what to do about it."""

    kind: str
    """``no_key``, ``expired``, ``refused``, ``failed`` (handshake: wrong server key) or
    ``down`` (server unreachable)."""
    message: str
    fix: str


def key_file_expiry(path: Path) -> datetime | None:
    """The ``expires_at`` that ``townlet keys issue`` writes into a key file's metadata."""
    try:
        m = _EXPIRES.search(path.read_text(encoding="ascii", errors="replace"))
    except OSError:
        return None
    if m is None:
        return None
    try:
        when = datetime.fromisoformat(m.group(1))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def login_from_profile(p: Profile, path: Path | None = None) -> Login:
    expires = p.expires_at if p.expires_at.tzinfo else p.expires_at.replace(tzinfo=UTC)
    return Login(p.console_endpoint, p.telemetry_endpoint, Path(p.server_key),
                 Path(p.client_key), p.name, p.role, expires, path)


def newer_login(login: Login) -> Login | None:
    """The renewal of ``login``: the profile beside the current one with the same name and
    the latest expiry after the current key's (an admin issued it with ``keys issue``)."""
    if login.profile is None or login.expires_at is None:
        return None
    best: tuple[datetime, Login] | None = None
    for path in login.profile.parent.glob(f"*{PROFILE_SUFFIX}"):
        try:
            cand = login_from_profile(load_profile(path), path)
        except ProfileError:
            continue
        if cand.name != login.name or cand.expires_at is None \
                or cand.expires_at <= login.expires_at:
            continue
        if best is None or cand.expires_at > best[0]:
            best = (cand.expires_at, cand)
    return best[1] if best is not None else None


def renew_hint(login: Login) -> str:
    """How to get a fresh credential (docs/ops/credentials.md, "Renew from the dashboard")."""
    who = login.name or "<your name>"
    role = login.role or "viewer"
    return (f"Ask an admin to run `townlet keys issue --name {who} --role {role} --ttl 8h` "
            "and hand you the new key file and its .profile.json; put both beside the current "
            "profile and press r (or R in the dashboard) to switch to it, or restart with "
            "`townlet dashboard --profile <new profile>`. The old key keeps working until it "
            "expires or is revoked.")


def preflight(login: Login, now: datetime | None = None) -> LoginProblem | None:
    """A problem visible without the network, or None."""
    if login.client_key is None:
        return LoginProblem("no_key", "No client key: no profile was found and none was given.",
                            "Get a key with `townlet keys issue --name <you> --role viewer` "
                            "(it writes a profile beside the key), then run `townlet "
                            "dashboard --profile <profile>` or pass --client-key.")
    try:
        load_keypair(login.client_key)
    except KeyFileError as exc:
        return LoginProblem("no_key", str(exc),
                            "Check the path in your profile or --client-key; key files must "
                            "be mode 0600.")
    t = now or datetime.now(UTC)
    if login.expires_at is not None and login.expires_at <= t:
        return LoginProblem("expired", f"Your key expired at {login.expires_at:%Y-%m-%d %H:%M} "
                            "UTC.", renew_hint(login))
    return None


def expiry_text(expires_at: datetime | None, now: datetime | None = None) -> str:
    """Countdown to a credential's expiry: ``7h 59m``, ``4m 10s``, ``expired``."""
    if expires_at is None:
        return "unknown"
    left = int((expires_at - (now or datetime.now(UTC))).total_seconds())
    if left <= 0:
        return "expired"
    d, rem = divmod(left, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    if d:
        return f"{d}d {h}h"
    return f"{h}h {m:02d}m" if h else f"{m}m {s:02d}s"
