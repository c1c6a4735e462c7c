"""One demo service: a real HTTP server with health endpoints, metrics and fault knobs."""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from opsconsole.demo.faults import Fault

HEALTH_PATHS = frozenset({"/health", "/api/health", "/fhir/metadata"})
PROBE_PATHS = HEALTH_PATHS | {"/ready", "/live"}
WORK_PATH = "/api/work"


@dataclass
class FaultSettings:
    fault: Fault = Fault.NONE
    slow_seconds: float = 3.0
    health_delay_seconds: float = 1.5
    """How much later a slow service answers its health check: slow, not gone. Past the
    console's 1 s `health_slow_seconds` and inside its 2 s timeout, it reads DEGRADED,
    as a slow service does, while its requests' P95 climbs past the 2 s SLA."""
    error_ratio: float = 0.25
    flap_seconds: float = 3.0
    started: float = 0.0

    def flapped_down(self) -> bool:
        phase = int((time.monotonic() - self.started) / self.flap_seconds)
        return self.fault is Fault.FLAPPING and phase % 2 == 0


class DemoService:
    """A service of the demo fleet. Thread-safe: faults may be set from any thread."""

    def __init__(self, name: str, *, health_path: str = "/health", latency: float = 0.04) -> None:
        if health_path not in HEALTH_PATHS:
            raise ValueError(f"health_path must be one of {sorted(HEALTH_PATHS)}")
        self.name = name
        self.health_path = health_path
        self.latency = latency
        """Median seconds of a request to the work endpoint when healthy."""
        self.port = 0
        self.settings = FaultSettings()
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "Requests answered.",
            ["service", "status"],
            registry=self.registry,
        )
        self.durations = Histogram(
            "http_request_duration_seconds",
            "Request durations.",
            ["service"],
            registry=self.registry,
        )
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def health_url(self) -> str:
        return self.base_url + self.health_path

    def start(self) -> None:
        with self._lock:
            if self._server is not None:
                return
            handler = type("Handler", (_Handler,), {"service": self})
            # Port 0 the first time; the same port again after a DOWN fault clears,
            # so the console sees the same service come back.
            server = _QuietServer(("127.0.0.1", self.port), handler)
            self.port = server.server_address[1]
            self._server = server
            threading.Thread(
                target=server.serve_forever, name=f"demo-{self.name}", daemon=True
            ).start()

    def stop(self) -> None:
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def set_fault(self, fault: Fault | str, **settings: float) -> None:
        fault = Fault(fault)
        self.settings = FaultSettings(fault=fault, started=time.monotonic(), **settings)
        if fault is Fault.DOWN:
            self.stop()
        else:
            self.start()

    def clear_fault(self) -> None:
        self.set_fault(Fault.NONE)


class _QuietServer(ThreadingHTTPServer):
    """Keeps connections alive, as real services do, and ends every one of them when it
    stops: a DOWN service must refuse the very next check, not answer it on a connection
    kept from before."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        super().server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # the client hung up first
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: object, client_address: object) -> None:
        """Silent: a client that hangs up early (a health check timing out) is normal here,
        and a traceback on stderr would scribble over the TUI."""


class _Handler(BaseHTTPRequestHandler):
    service: ClassVar[DemoService]
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; on a kept connection Nagle's algorithm holds
    # the second until the client's delayed ACK, 40 ms later, on every answer.
    disable_nagle_algorithm = True
    # An idle kept-alive connection is let go after this long, so threads do not pile up.
    timeout = 30

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, generate_latest(self.service.registry), CONTENT_TYPE_LATEST)
        elif path in PROBE_PATHS:
            self._probe(path)
        elif path == WORK_PATH:
            self._work()
        else:
            self._json(404, {"error": "not found"})

    def _probe(self, path: str) -> None:
        settings = self.service.settings
        if settings.fault is Fault.SLOW:
            time.sleep(min(settings.slow_seconds, settings.health_delay_seconds))
        if settings.flapped_down():
            self._json(503, {"status": "down"})
        elif settings.fault is Fault.DEGRADED and path != "/live":
            self._json(200, {"status": "degraded", "checks": {"dependency": "unavailable"}})
        else:
            self._json(200, {"status": "ok", "service": self.service.name})

    def _work(self) -> None:
        service, settings = self.service, self.service.settings
        started = time.monotonic()
        # A log-normal around the median looks like real request latency: most fast, a tail.
        delay = random.lognormvariate(0, 0.5) * service.latency
        if settings.fault is Fault.SLOW:
            delay += settings.slow_seconds
        time.sleep(delay)
        if settings.flapped_down():
            status = 503
        elif settings.fault is Fault.ERRORING and random.random() < settings.error_ratio:  # noqa: S311
            status = 500
        else:
            status = 200
        service.durations.labels(service.name).observe(time.monotonic() - started)
        service.requests.labels(service.name, str(status)).inc()
        self._json(status, {"status": "ok" if status == 200 else "error"})

    def _json(self, status: int, document: dict[str, object]) -> None:
        self._send(status, json.dumps(document).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Silent: request logs would scribble over the TUI."""
