"""The persisted promotion state: release and shadow slots, readiness, bounded history.

One JSON file (``state.json``) under ``pilot.promotion.state_dir`` (by default
``.townlet/promotion``, never the checkout) is the single authority that ``townlet
eval --submit``, ``townlet promote`` and the console's promotion commands all act on.
Every change is a transaction: an exclusive ``flock`` on ``state.lock``, read, change,
write a temporary file, fsync, rename. The directory is private (0700) and a state
file that others could change is refused, since it decides which policy drives the town.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import msgspec

from townlet.security.fileperm import untrusted

__all__ = ["STATE_VERSION", "PolicySlot", "PromotionEvent", "PromotionState", "PromotionStore",
           "StateError", "SuiteVerdict", "utc_now"]

STATE_VERSION = 1
"""Layout version of ``state.json``; a newer file is refused."""


def utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


class StateError(RuntimeError):
    """The promotion state cannot be read or written (the message says which file and why)."""


class PolicySlot(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A policy the state refers to (release, shadow, or one in the history)."""

    name: str
    policy_hash: str
    checkpoint: str
    """Absolute path of the checkpoint (verified against ``policy_hash`` when loaded)."""
    variant: str
    layout_hash: str


class SuiteVerdict(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the evaluation suite said about the shadow candidate."""

    suite: str
    suite_version: int
    evaluated_at: str
    clean_windows: int
    """Fewest clean promotion windows in a row over the suite's scenarios."""
    alerts: list[str]
    """Disallowed alerts the candidate raised in any scenario."""
    regressions: list[str]
    """``scenario.metric`` where the candidate is worse than the release beyond tolerance."""
    against: str | None
    """Policy hash of the release it was compared with (None: the scripted baseline)."""


class PromotionEvent(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind: Literal["candidate", "promoted", "rollback"]
    at: str
    """UTC time."""
    actor: str
    """Who did it: ``cli:<user>`` or the console key id."""
    reason: str
    release: PolicySlot | None
    """The release after the event (None: scripted)."""
    previous_release: PolicySlot | None
    candidate: PolicySlot | None = None


class PromotionState(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    version: int = STATE_VERSION
    state: Literal["monitoring", "ready", "promoted"] = "monitoring"
    release: PolicySlot | None = None
    """The policy serving the town (None: the scripted policy)."""
    shadow: PolicySlot | None = None
    """The candidate under evaluation."""
    verdict: SuiteVerdict | None = None
    """The shadow's last suite evaluation."""
    pass_streak: int = 0
    """The shadow's clean windows in a row (from its evaluation)."""
    required_passes: int = 2
    candidate_ready: bool = False
    previous: list[PolicySlot | None] = []
    """Earlier releases, newest last: what rollbacks restore (bounded like the history)."""
    history: list[PromotionEvent] = []
    """Newest last, at most ``pilot.promotion.history_limit`` events."""


class PromotionStore:
    """The state file under ``directory`` (created private on first write)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = Path(directory)
        self.path = self.dir / "state.json"

    def read(self) -> PromotionState:
        """The current state (the initial one when no file exists yet)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return PromotionState()
        except OSError as exc:
            raise StateError(f"cannot read {self.path}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as f:
            why = untrusted(os.fstat(f.fileno()))
            if why is not None:
                raise StateError(f"refusing {self.path}: {why} (chmod 600 it if you trust it)")
            data = f.read()
        try:
            state = msgspec.json.decode(data, type=PromotionState)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise StateError(f"{self.path} is damaged: {exc}") from None
        if state.version > STATE_VERSION:
            raise StateError(f"{self.path} has layout {state.version}, newer than this build's "
                             f"{STATE_VERSION}")
        return state

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.dir / "state.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def update(self, change: Callable[[PromotionState], PromotionState]) -> PromotionState:
        """Apply ``change`` to the current state under the lock and persist the result.
        An exception from ``change`` leaves the file untouched."""
        with self._locked():
            new = change(self.read())
            tmp = self.path.with_name(f".state.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(msgspec.json.format(msgspec.json.encode(new)))
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            return new
