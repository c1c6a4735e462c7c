"""One Docker poll of 3 hosts with 20 running containers each, over ssh (one kept
connection a host), beside the same poll of 20 containers on the local socket, in the
same run: the console polls every 2 s, so all three hosts must answer within that.

Runs its own daemon and one sshd a host from the test harness (root, dockerd, busybox
and openssh-server needed: scripts/bootstrap --servers installs them); the three "hosts"
reach the one daemon and each watches 20 containers of its own.
Run: sudo .venv/bin/python bench/ssh_hosts_poll.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.servers import BUSYBOX_IMAGE, TEST_LABEL, DockerDaemon
from tests.support.ssh import SshHosts

from opsconsole.config.model import Config
from opsconsole.sources.docker import DockerSource
from opsconsole.sources.hosts import Containers, host_sources

HOSTS = ["app1", "app2", "app3"]
PER_HOST = 20
ROUNDS = 7
REFRESH_SECONDS = 2.0
IDLE = ["sh", "-c", "trap 'exit 0' TERM; while :; do busybox sleep 1; done"]


async def timed(poll: object, rounds: int) -> list[float]:
    await poll()  # type: ignore[operator]  # warm-up: connections, first CPU sample
    durations = []
    for _ in range(rounds):
        started = time.perf_counter()
        found = await poll()  # type: ignore[operator]
        durations.append(time.perf_counter() - started)
        assert all(c.state == "running" and not c.unreachable for c in found.values())
    return durations


def config_of(hosts: SshHosts) -> Config:
    return Config.model_validate(
        {
            "hosts": [
                {"name": alias, "ssh": alias, "ssh_config": str(hosts.config)} for alias in HOSTS
            ],
            "services": [
                {
                    "name": f"{alias}-c{n}",
                    "health_url": "http://127.0.0.1:9/",
                    "container": f"{alias}-c{n}",
                    "host": alias,
                }
                for alias in HOSTS
                for n in range(PER_HOST)
            ],
        }
    )


async def main() -> None:
    os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="oc-bench-")
    daemon = DockerDaemon().start()
    hosts = SshHosts(Path(tempfile.mkdtemp(prefix="oc-bench-ssh-")))
    client = daemon.client()
    try:
        hosts.start(HOSTS, daemon.base_url)
        names = [f"{alias}-c{n}" for alias in HOSTS for n in range(PER_HOST)]
        for name in names:
            client.containers.run(BUSYBOX_IMAGE, IDLE, name=name, detach=True,
                                  labels={TEST_LABEL: "bench"})  # fmt: skip
        local = DockerSource(daemon.base_url, containers=names[:PER_HOST], timeout=30.0)
        fleet = Containers(None, host_sources(config_of(hosts), 30.0))
        try:
            local_times = await timed(local.poll, ROUNDS)
            fleet_times = await timed(fleet.poll, ROUNDS)
        finally:
            local.close()
            fleet.close()
        logins = [hosts.hosts[a].log_path.read_text().count("Accepted publickey") for a in HOSTS]
        local_median, fleet_median = statistics.median(local_times), statistics.median(fleet_times)
        print(f"local socket, {PER_HOST} containers: median {local_median:.3f} s, "
              f"max {max(local_times):.3f} s")  # fmt: skip
        print(f"{len(HOSTS)} hosts over ssh, {PER_HOST} containers each: median "
              f"{fleet_median:.3f} s, max {max(fleet_times):.3f} s "
              f"({fleet_median / local_median:.2f}x the local poll); logins per host over "
              f"{ROUNDS + 1} polls: {logins}")  # fmt: skip
        within = max(fleet_times) < REFRESH_SECONDS
        print(f"within one {REFRESH_SECONDS:g} s refresh: {'yes' if within else 'NO'}")
    finally:
        hosts.cleanup()
        daemon.remove_test_containers()
        daemon.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
