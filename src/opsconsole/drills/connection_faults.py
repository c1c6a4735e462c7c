"""The connection fault of a drill: clients that connect to a service and never finish
their request, each holding one of its workers (slowloris, or an upstream's stuck
clients). A server with a bounded pool (Tomcat's maxThreads, Gunicorn's sync workers)
serves everyone else with what is left: slowly, once the rest are queued."""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from opsconsole.drills.fault import FaultRefused


@dataclass
class HeldConnections:
    url: str
    count: int
    held: list[socket.socket] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        return {"kind": "connections_held", "url": self.url}

    def inject(self) -> str:
        parts = urlsplit(self.url)
        if parts.scheme != "http" or not parts.hostname:
            raise FaultRefused(f"connections_held needs an http:// health URL, not {self.url}")
        address = (parts.hostname, parts.port or 80)
        for _ in range(self.count):
            held = socket.create_connection(address, timeout=5)
            # A request begun and never ended: the worker that took it waits for the rest.
            held.sendall(f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n".encode())
            self.held.append(held)
        return f"{self.count} connections to {parts.netloc} held open mid-request"

    def undo(self) -> str:
        closed = len(self.held)
        for held in self.held:
            with contextlib.suppress(OSError):
                held.close()
        self.held.clear()
        return f"{closed} held connections closed"
