"""Client profiles: where a credential connects, written next to it by ``townlet keys issue``.

A profile is the non-secret half of a login: the console and telemetry endpoints,
the server's public key file, the client key file, and the identity, role and
expiry the key was issued with. ``townlet dashboard`` takes its defaults from one,
so an operator handed a key file and its profile only runs ``townlet dashboard
--profile FILE``. The profile never holds key material; the key file stays 0600.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import msgspec

from townlet.config.console import ConsoleConfig
from townlet.config.telemetry import TelemetryConfig
from townlet.security.keys import SERVER_PUBLIC_FILE
from townlet.security.registry import KeyRecord

__all__ = ["PROFILE_SUFFIX", "Profile", "ProfileError", "find_profile", "load_profile",
           "profile_for", "profile_path", "write_profile"]

PROFILE_SUFFIX = ".profile.json"
"""A profile sits beside its key file: ``alice-<key_id>.key_secret`` ->
``alice-<key_id>.profile.json``."""


class ProfileError(Exception):
    """A profile is missing or malformed; the message names the file and the fix."""


class Profile(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Everything a client needs to log in, except the secret (which is in ``client_key``)."""

    name: str
    role: str
    key_id: str
    expires_at: datetime
    client_key: str
    """The client keypair file (absolute path)."""
    server_key: str
    """The server's public key file (absolute path)."""
    console_endpoint: str = ConsoleConfig().endpoint
    telemetry_endpoint: str = TelemetryConfig().endpoint


def profile_for(rec: KeyRecord, key_file: str | os.PathLike[str], key_dir: str | os.PathLike[str],
                console_endpoint: str, telemetry_endpoint: str) -> Profile:
    """The profile of a freshly issued key (paths made absolute)."""
    return Profile(name=rec.name, role=rec.role, key_id=rec.key_id, expires_at=rec.expires_at,
                   client_key=os.fspath(Path(key_file).resolve()),
                   server_key=os.fspath((Path(key_dir) / SERVER_PUBLIC_FILE).resolve()),
                   console_endpoint=console_endpoint, telemetry_endpoint=telemetry_endpoint)


def profile_path(key_file: str | os.PathLike[str]) -> Path:
    """The profile that belongs to ``key_file``."""
    p = Path(key_file)
    stem = p.name.removesuffix(".key_secret")
    return p.with_name(stem + PROFILE_SUFFIX)


def write_profile(profile: Profile) -> Path:
    """Write ``profile`` beside its key file (replacing an older profile of that key)."""
    path = profile_path(profile.client_key)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(msgspec.json.format(msgspec.json.encode(profile)) + b"\n")
    os.replace(tmp, path)
    return path


def load_profile(path: str | os.PathLike[str]) -> Profile:
    """Read a profile; :class:`ProfileError` naming the file when it is missing or malformed."""
    p = Path(path)
    try:
        return msgspec.json.decode(p.read_bytes(), type=Profile)
    except OSError:
        raise ProfileError(f"no profile at {p}; `townlet keys issue` writes one beside "
                           "each key file") from None
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ProfileError(f"profile {p} is malformed: {exc}") from None


def find_profile(key_dir: str | os.PathLike[str]) -> Path | None:
    """The most recently written profile in ``key_dir`` or its ``clients/`` folder, if any."""
    d = Path(key_dir)
    found = [*d.glob(f"*{PROFILE_SUFFIX}"), *(d / "clients").glob(f"*{PROFILE_SUFFIX}")]
    return max(found, key=lambda p: p.stat().st_mtime_ns) if found else None
