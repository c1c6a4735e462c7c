"""How long one Docker poll takes (inspect + one-shot stats) as the watched set grows.

Runs its own daemon from the test harness (root, dockerd and busybox needed: scripts/bootstrap
--servers installs them) and idle busybox containers on it. The daemon collects stats once
a second and answers every request waiting at that round together, so a poll should stay
near one second however many containers it watches.
Run: sudo .venv/bin/python bench/docker_poll.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.servers import BUSYBOX_IMAGE, TEST_LABEL, DockerDaemon

from opsconsole.sources.docker import DockerSource

ROUNDS = 5
IDLE = ["sh", "-c", "trap 'exit 0' TERM; while :; do busybox sleep 1; done"]


async def measure(daemon: DockerDaemon, names: list[str]) -> list[float]:
    source = DockerSource(daemon.base_url, containers=names, label=None, timeout=30.0)
    try:
        await source.poll()  # warm-up: connection pool, first CPU sample
        durations = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            statuses = await source.poll()
            durations.append(time.perf_counter() - started)
            assert all(statuses[name].state == "running" for name in names)
        return durations
    finally:
        source.close()


def main() -> None:
    daemon = DockerDaemon().start()
    client: Any = daemon.client()
    try:
        running: list[str] = []
        for size in (5, 20, 50):
            while len(running) < size:
                name = f"bench-{len(running)}"
                client.containers.run(
                    BUSYBOX_IMAGE,
                    IDLE,
                    name=name,
                    detach=True,
                    network_mode="none",
                    labels={TEST_LABEL: "bench"},
                )
                running.append(name)
            durations = asyncio.run(measure(daemon, list(running)))
            print(
                f"docker poll, {size:>3} running containers   "
                f"median {statistics.median(durations) * 1000:7.0f} ms"
                f"   max {max(durations) * 1000:7.0f} ms   ({ROUNDS} rounds)"
            )
    finally:
        daemon.remove_test_containers()
        daemon.stop()


if __name__ == "__main__":
    main()
