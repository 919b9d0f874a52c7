"""One HTTP endpoint per process: Prometheus metrics, liveness and readiness.

Orchestrators (Docker's HEALTHCHECK, Kubernetes probes, compose) and Prometheus
talk to every townlet process the same way:

- ``GET /metrics``: the process's own registry in the Prometheus text format
  (one exporter per process, never prometheus-client's multiprocess mode);
- ``GET /livez``: 200 while the process's main loop makes progress, else 503;
- ``GET /readyz``: 200 once it serves its purpose (bound, synchronised), else 503.

Probe bodies (and 404s) are one JSON object ``{"ok": bool, "detail": str}``. The server runs
on daemon threads and only reads state the probes compute, so a slow scrape never
touches the caller's loop. Anything else is 404.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    disable_created_metrics,
    generate_latest,
)

__all__ = ["PATHS", "Probe", "ProbeServer", "always"]

Probe = Callable[[], tuple[bool, str]]
"""Returns (ok, detail); called on the HTTP thread, so it must only read."""

PATHS = ("/metrics", "/livez", "/readyz")


def always() -> tuple[bool, str]:
    """A probe that is always ok (a process with nothing to wait for)."""
    return True, "ok"


class ProbeServer:
    """Serve ``registry`` and the two probes on ``host:port`` (port 0: a free one).

    ``start()`` binds (OSError if the port is taken) and returns the bound port.
    """

    def __init__(self, registry: CollectorRegistry, *, host: str, port: int,
                 live: Probe = always, ready: Probe = always) -> None:
        self.registry = registry
        self.host, self.port = host, port
        self.live, self.ready = live, ready
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        disable_created_metrics()  # ``*_created`` series double the exposition, unused
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._reply(200, generate_latest(owner.registry), CONTENT_TYPE_LATEST)
                elif path in ("/livez", "/readyz"):
                    ok, detail = (owner.live if path == "/livez" else owner.ready)()
                    body = json.dumps({"ok": ok, "detail": detail}).encode()
                    self._reply(200 if ok else 503, body, "application/json")
                else:
                    text = json.dumps({"ok": False, "detail": f"try {', '.join(PATHS)}"})
                    self._reply(404, text.encode(), "application/json")

            def _reply(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Scrapes and probes are not logged (one line per second per probe)."""

        server = ThreadingHTTPServer((self.host, self.port), Handler)
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, name="townlet-http",
                                        daemon=True)
        self._thread.start()
        return self.port

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
