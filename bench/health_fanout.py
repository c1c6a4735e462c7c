"""How long one round of health checks takes against 1,000 endpoints, and what it costs.

A thousand distinct endpoints (1,000 listening sockets on 127.0.0.1, one port each) are
served by a few child processes, so the servers do not share the checker's interpreter
lock. Each is a minimal asyncio HTTP/1.1 server with keep-alive answering ``GET /health``
with ``{"status":"UP"}``: about as cheap as a server gets, so what is measured is the
checker. After a warm-up round, each round is timed on the wall clock and on the checker
process's CPU clock; the servers count the connections they accept, which shows whether
the checker reuses its connections from one round to the next or opens them anew.
A round should finish well under 2 s. Run: .venv/bin/python bench/health_fanout.py
"""

from __future__ import annotations

import asyncio
import multiprocessing
import re
import resource
import statistics
import time
from collections import Counter
from multiprocessing.connection import Connection

from opsconsole.sources.health import HealthChecker, HealthTarget
from opsconsole.sources.readings import HealthState

ENDPOINTS = 1000
PROCESSES = 4
ROUNDS = 10

BODY = b'{"status":"UP"}'
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
    len(BODY),
    BODY,
)
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


def raise_fd_limit() -> None:
    """One socket per endpoint on each side, plus the listeners: lift the soft limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Health(asyncio.Protocol):
    """HTTP/1.1 just far enough for a health check: request line and headers, no body."""

    accepted = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""
        Health.accepted += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            method, path, *_ = head.split(b"\r\n", 1)[0].split(b" ")
            self.transport.write(OK if (method, path) == (b"GET", b"/health") else NOT_FOUND)
            if b"connection: close" in head.lower():
                self.transport.close()
                return


def serve(count: int, commands: Connection) -> None:
    raise_fd_limit()
    asyncio.run(serve_async(count, commands))


async def serve_async(count: int, commands: Connection) -> None:
    loop = asyncio.get_running_loop()
    servers = [await loop.create_server(Health, "127.0.0.1", 0, backlog=1024) for _ in range(count)]
    commands.send([server.sockets[0].getsockname()[1] for server in servers])
    # Commands come from a blocking pipe: wait for them off the loop, which goes on serving.
    while await loop.run_in_executor(None, commands.recv) != "stop":
        commands.send(Health.accepted)
    for server in servers:
        server.close()


async def measure(ports: list[int], fleet: list[Connection]) -> None:
    def accepted() -> int:
        for commands in fleet:
            commands.send("count")
        return sum(commands.recv() for commands in fleet)

    targets = [
        HealthTarget(f"svc-{n}", f"http://127.0.0.1:{port}/health", 5.0, 5.0)
        for n, port in enumerate(ports)
    ]
    checker = HealthChecker(targets)
    try:
        started = time.perf_counter()
        checks = await checker.check_all()  # warm-up: first connections, imports
        warm_up = time.perf_counter() - started
        print(
            f"warm-up round      {warm_up * 1000:7.1f} ms   "
            f"UP {sum(c.state is HealthState.UP for c in checks)}/{len(targets)}"
        )
        walls, cpus, ups, connects = [], [], [], []
        for _ in range(ROUNDS):
            before = accepted()
            started, cpu_started = time.perf_counter(), time.process_time()
            checks = await checker.check_all()
            walls.append(time.perf_counter() - started)
            cpus.append(time.process_time() - cpu_started)
            connects.append(accepted() - before)
            ups.append(sum(c.state is HealthState.UP for c in checks))
        # "slow: 5.03 s > 5 s" and "slow: 7.21 s > 5 s" are one reason, said once.
        downs = Counter(re.sub(r"\d+(\.\d+)?", "#", c.reason) for c in checks if c.reason)
    finally:
        await checker.aclose()

    print(
        f"round (wall)       median {statistics.median(walls) * 1000:7.1f} ms"
        f"   max {max(walls) * 1000:7.1f} ms   ({ROUNDS} rounds)"
    )
    print(
        f"round (checker CPU) median {statistics.median(cpus) * 1000:6.1f} ms"
        f"   max {max(cpus) * 1000:7.1f} ms"
    )
    print(f"UP per round       {ups}  (of {len(targets)})")
    print(f"new connections    {connects}  per round")
    for reason, count in downs.most_common():
        print(f"not UP, last round: {count} x {reason}")


def main() -> None:
    raise_fd_limit()
    fleet, processes, ports = [], [], []
    for n in range(PROCESSES):
        ours, theirs = multiprocessing.Pipe()
        count = ENDPOINTS // PROCESSES + (n < ENDPOINTS % PROCESSES)
        process = multiprocessing.Process(target=serve, args=(count, theirs))
        process.start()
        fleet.append(ours)
        processes.append(process)
    try:
        for commands in fleet:
            ports += commands.recv()
        print(f"{len(set(ports))} endpoints on 127.0.0.1, served by {PROCESSES} processes")
        asyncio.run(measure(ports, fleet))
    finally:
        for commands in fleet:
            commands.send("stop")
        for process in processes:
            process.join(timeout=30)


if __name__ == "__main__":
    main()
