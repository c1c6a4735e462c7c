"""How long one round of health checks takes, for fleets of growing size.

Every service is a real demo HTTP server on loopback, run in a child process so the
servers do not share the checker's interpreter lock. A round checks all of them
concurrently through one shared client, so its time should track the slowest service,
not the sum. Run: .venv/bin/python bench/health_poll.py
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time
from multiprocessing.connection import Connection

from opsconsole.demo.faults import Fault
from opsconsole.demo.fleet import DemoFleet, DemoServiceSpec
from opsconsole.sources.health import HealthChecker, HealthTarget

ROUNDS = 20


def serve_fleet(size: int, commands: Connection) -> None:
    specs = tuple(DemoServiceSpec(f"svc-{n}") for n in range(size))
    with DemoFleet(specs, traffic_rate=0) as fleet:
        commands.send([(s.name, s.health_url) for s in fleet.services.values()])
        while (command := commands.recv()) != "stop":
            name, fault, seconds = command
            fleet.set_fault(name, fault, slow_seconds=seconds)
            commands.send("ok")


async def measure(services: list[tuple[str, str]]) -> list[float]:
    targets = [HealthTarget(name, url, 5.0, 5.0) for name, url in services]
    checker = HealthChecker(targets)
    try:
        await checker.check_all()  # warm-up: first connections, imports
        durations = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            checks = await checker.check_all()
            durations.append(time.perf_counter() - started)
            assert len(checks) == len(targets)
        return durations
    finally:
        await checker.aclose()


def report(label: str, durations: list[float]) -> None:
    ordered = sorted(durations)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    print(
        f"{label:<44} median {statistics.median(ordered) * 1000:7.1f} ms"
        f"   p95 {p95 * 1000:7.1f} ms   ({len(ordered)} rounds)"
    )


def main() -> None:
    for size in (5, 50, 200):
        ours, theirs = multiprocessing.Pipe()
        fleet = multiprocessing.Process(target=serve_fleet, args=(size, theirs))
        fleet.start()
        try:
            services = ours.recv()
            report(f"{size} healthy services", asyncio.run(measure(services)))
            # Five services answering 0.5 s late: a concurrent round waits ~0.5 s, not 2.5 s.
            for name, _ in services[:5]:
                ours.send((name, Fault.SLOW, 0.5))
                ours.recv()
            report(f"{size} services, 5 of them 0.5 s slow", asyncio.run(measure(services)))
        finally:
            ours.send("stop")
            fleet.join(timeout=30)


if __name__ == "__main__":
    main()
