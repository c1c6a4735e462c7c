"""CPU of one health check, in the console's checker (aiohttp) and in httpx, the client
it used before: why the checks moved to aiohttp.

50 endpoints on loopback (the minimal keep-alive servers of health_fanout.py, in a child
process so that serving costs the measured process nothing), checked in rounds of 50
concurrent requests over kept connections, after a warm-up round. The figure is the
checking process's CPU time divided by the number of checks.
Run: .venv/bin/python bench/http_client_cost.py
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from health_fanout import serve
from opsconsole.sources.health import HealthChecker, HealthTarget
from opsconsole.sources.readings import HealthState

ENDPOINTS = 50
ROUNDS = 40
REPEATS = 5


async def cpu_per_check(check_round: Callable[[], Awaitable[None]]) -> float:
    """Median over REPEATS of CPU milliseconds per check."""
    await check_round()  # warm-up: connections, imports
    figures = []
    for _ in range(REPEATS):
        started = time.process_time()
        for _ in range(ROUNDS):
            await check_round()
        figures.append((time.process_time() - started) / ROUNDS / ENDPOINTS * 1000)
    return statistics.median(figures)


async def measure(urls: list[str]) -> None:
    checker = HealthChecker([HealthTarget(f"svc-{n}", url, 5.0, 5.0) for n, url in enumerate(urls)])

    async def checker_round() -> None:
        checks = await checker.check_all()
        assert all(c.state is HealthState.UP for c in checks), checks

    # One pool per origin, as the checker had it in httpx: httpcore's single pool walks
    # all its connections on every request (encode/httpcore#1035) and costs 3.7 times more.
    mounts = {url.rsplit("/", 1)[0]: httpx.AsyncHTTPTransport() for url in urls}
    async with httpx.AsyncClient(mounts=mounts) as client:

        async def httpx_round() -> None:
            answers = await asyncio.gather(*(client.get(url) for url in urls))
            assert all(a.status_code == 200 for a in answers)

        try:
            ours = await cpu_per_check(checker_round)
        finally:
            await checker.aclose()
        theirs = await cpu_per_check(httpx_round)
    print(f"{ENDPOINTS} endpoints, {ROUNDS} rounds x {REPEATS}, kept connections")
    print(f"console's checker (aiohttp)   {ours:.3f} ms of CPU per check")
    print(f"httpx, one pool per origin    {theirs:.3f} ms of CPU per check")
    print(
        f"at {ENDPOINTS} services every 2 s: {ours * ENDPOINTS / 2 / 10:.2f} % of a core "
        f"(httpx: {theirs * ENDPOINTS / 2 / 10:.2f} %)"
    )


def main() -> None:
    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(ENDPOINTS, theirs))
    server.start()
    try:
        ports = ours.recv()
        asyncio.run(measure([f"http://127.0.0.1:{port}/health" for port in ports]))
    finally:
        ours.send("stop")
        server.join(timeout=5)
        server.kill()


if __name__ == "__main__":
    main()
