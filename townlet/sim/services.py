"""Start the services a ``townlet run`` offers next to the town: the console
(CURVE + ZAP in its front process, :mod:`townlet.front`, fed requests over an owner-only
link), autosaves, and the telemetry publisher (a child process fed through the
shared-memory ring).

On first use the key directory is created with a server keypair and one
short-lived admin credential for the local operator, so the defaults are secure
and still work out of the box; nothing secret is printed.
"""

from __future__ import annotations

import errno
from datetime import timedelta
from pathlib import Path

from townlet.config import TownletConfig
from townlet.ops.http import ProbeServer
from townlet.security.keys import (
    REGISTRY_FILE,
    SERVER_PUBLIC_FILE,
    SERVER_SECRET_FILE,
    init_key_dir,
    issue_key,
)
from townlet.security.profile import profile_for, write_profile
from townlet.sim.loop import Simulation
from townlet.sim.metrics import MetricsHook, probes

__all__ = ["LOCAL_OPERATOR", "ServiceStartError", "bootstrap_keys", "local_operator_key",
           "start_services"]

LOCAL_OPERATOR = "local-operator"
LOCAL_OPERATOR_TTL = timedelta(hours=8)


class ServiceStartError(RuntimeError):
    """A service could not start; the message names the setting and flag that choose where
    it listens (the usual cause is a port another process holds)."""


def bootstrap_keys(key_dir: str, cfg: TownletConfig | None = None) -> list[str]:
    """Create the server keypair and a local admin credential if the directory has none,
    with its profile (for `townlet dashboard`) when ``cfg`` gives the endpoints.
    Returns lines worth telling the operator (paths only).

    Raises ServiceStartError, saying how to provision keys, when the directory cannot be
    written (a read-only secrets mount in a container): keys are never created anywhere
    else, so a deployment cannot silently run with keys nobody provisioned.
    """
    d = Path(key_dir)
    if (d / SERVER_SECRET_FILE).exists() and (d / REGISTRY_FILE).exists():
        return []
    try:
        init_key_dir(d)
        record, path = issue_key(d, LOCAL_OPERATOR, "admin", LOCAL_OPERATOR_TTL,
                                 out=local_operator_key(key_dir))
        if cfg is not None:
            write_profile(profile_for(record, path, d, cfg.console.endpoint,
                                      cfg.telemetry.endpoint))
    except OSError as exc:
        if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
        raise ServiceStartError(
            f"keys: {d} holds no server key and cannot be written ({exc.strerror}); it is "
            "probably mounted read-only. Provision the keys where the mount comes from "
            f"(`townlet keys init --key-dir DIR`, then `townlet keys issue ...`; see "
            "docs/ops/runbook.md, 'Keys') and mount that directory, or mount it writable "
            "for the first run") from None
    return [(f"keys: created {d / SERVER_PUBLIC_FILE} (server public key) and an admin "
             f"credential {path} valid until {record.expires_at:%Y-%m-%d %H:%M} UTC")]


def local_operator_key(key_dir: str) -> Path:
    """Where the bootstrap admin credential lives."""
    return Path(key_dir) / f"{LOCAL_OPERATOR}.key_secret"


def start_services(sim: Simulation, cfg: TownletConfig, *, console: bool, publish: bool,
                   insecure_dev: bool = False) -> list[str]:
    """Attach the console and the telemetry hook to ``sim``; returns status lines.

    Both services use the one key directory ``cfg.keys.dir``; the publisher is
    supervised and reported in ``sim.service_health()`` (the console's ``health``).
    """
    notes: list[str] = []
    metrics = MetricsHook(sim)
    sim.add_hook(metrics)
    sim.services["town"] = metrics.status
    if console or (publish and not insecure_dev):
        notes += bootstrap_keys(cfg.keys.dir, cfg)
    if publish:  # named in health from the first summary on, not only once it is up
        from townlet.publish.supervise import NOT_STARTED

        sim.services["publisher"] = lambda: NOT_STARTED
    if console:
        from townlet.front.supervise import start_front

        try:
            front = start_front(sim, cfg.console, keys_dir=cfg.keys.dir,
                                backoff=cfg.telemetry, snapshot_root=cfg.snapshots.root)
        except RuntimeError as exc:  # e.g. the front's ROUTER could not bind (it said why)
            raise ServiceStartError(f"console: {exc}; choose another endpoint with "
                                    f"console.endpoint in the config or --console-endpoint") from None
        notes.append(f"console: {front.link.endpoint}  (townlet console --client-key "
                     f"{local_operator_key(cfg.keys.dir)})")
    from townlet.snapshots.world_io import autosave_hook

    saver = autosave_hook(cfg, identity=lambda: sim.identity)
    if saver is not None:
        sim.add_hook(saver)
        metrics.watch_autosave(saver.saver)
        sim.services["autosave"] = saver.saver.status
        notes.append(f"autosave: every {cfg.snapshots.autosave_every} ticks into "
                     f"{cfg.snapshots.root}/ (keeping {cfg.snapshots.keep_last})")
    if publish:
        from townlet.publish.hook import TelemetryHook

        tcfg = cfg.telemetry
        if insecure_dev:
            import msgspec

            tcfg = msgspec.structs.replace(tcfg, insecure_dev=True)
            cfg = msgspec.structs.replace(cfg, telemetry=tcfg)
        from townlet.publish.spawn import PublisherStartError

        try:
            hook = TelemetryHook(sim.world, cfg, identity=lambda: sim.identity)
        except PublisherStartError as exc:  # its own error, e.g. a busy port, is printed above
            raise ServiceStartError(f"publisher: {exc}; it listens on telemetry.endpoint "
                                    f"(--publish-endpoint) and serves metrics on "
                                    f"telemetry.metrics_port") from None
        sim.add_hook(hook)
        sim.services["publisher"] = hook.status
        endpoint = (hook.ready or {}).get("endpoint", tcfg.endpoint)
        mode = "PLAINTEXT, development only" if tcfg.insecure_dev else "CURVE"
        notes.append(f"publisher: {endpoint} ({mode}), ring {hook.ring.name}")
    if cfg.ops.http_port:
        notes.append(_serve_http(sim, cfg))
    return notes


class _HttpHook:
    """Closes the process's HTTP endpoint with the simulation."""

    def __init__(self, server: ProbeServer) -> None:
        self.server = server

    def before(self, world: object) -> None:
        """The endpoint runs on its own threads."""

    def after(self, world: object) -> None:
        """The endpoint runs on its own threads."""

    def close(self) -> None:
        self.server.close()


def _serve_http(sim: Simulation, cfg: TownletConfig) -> str:
    """Serve /metrics, /livez and /readyz on ``ops.http_host:ops.http_port``."""
    o = cfg.ops
    live, ready = probes(sim, o.stall_seconds)
    server = ProbeServer(sim.registry, host=o.http_host, port=o.http_port, live=live,
                         ready=ready)
    try:
        port = server.start()
    except OSError as exc:
        raise ServiceStartError(f"metrics endpoint: cannot listen on {o.http_host}:"
                                f"{o.http_port} ({exc.strerror}); choose another with "
                                "ops.http_port in the config") from None
    sim.add_hook(_HttpHook(server))
    return f"metrics: http://{o.http_host}:{port}/metrics  (probes /livez, /readyz)"
