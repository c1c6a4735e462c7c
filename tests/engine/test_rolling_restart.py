"""The shipped `rolling-restart` runbook against the harness's real Docker daemon: three
containers of one service (as compose labels them), each serving its health on loopback,
restarted one at a time, the next only once the last is healthy again; one that does not
come back stops the run before the next is touched."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.commands import OPSCONSOLE
from tests.support.servers import BUSYBOX_IMAGE, TEST_LABEL, DockerDaemon, free_port

SERVICE = "roller"
ROOT = Path(__file__).parent.parent.parent
BROKEN = (
    "if [ -e /started ]; then echo 'config broken: refusing to start'; exit 1; fi; touch /started; "
)

SITE = "mkdir -p /www && echo ok > /www/health && "

Replicas = Callable[..., list[Any]]


@pytest.fixture
def replicas(docker_daemon: DockerDaemon) -> Iterator[Replicas]:
    """Makes the service's three containers, `opsconsole-test-roller-1..3` (host network,
    each its own httpd on a free loopback port); those named in `healthcheck` get a Docker
    health check of their own port, `broken` ones fail to start a second time (what a bad
    configuration does to a restart). Each is running, and healthy where it has a check,
    before the test goes on; all are removed after it."""
    client = docker_daemon.client()
    made: list[Any] = []

    def make(healthcheck: tuple[int, ...] = (1, 2, 3), broken: tuple[int, ...] = ()) -> list[Any]:
        for number in (1, 2, 3):
            port = free_port()
            serve = f"exec httpd -f -p 127.0.0.1:{port} -h /www"
            script = (BROKEN if number in broken else "") + SITE + serve
            check = {
                "test": ["CMD-SHELL", f"wget -q -O /dev/null http://127.0.0.1:{port}/health"],
                "interval": 500_000_000, "timeout": 2_000_000_000, "retries": 2,
            }  # fmt: skip
            container = client.containers.create(
                BUSYBOX_IMAGE, ["sh", "-c", script],
                name=f"opsconsole-test-{SERVICE}-{number}", network_mode="host",
                labels={TEST_LABEL: "rolling", "com.docker.compose.service": SERVICE,
                        "opsconsole-test-port": str(port)},
                healthcheck=check if number in healthcheck else None,
            )  # fmt: skip
            made.append(container)
            container.start()
        deadline = time.monotonic() + 30
        for number, container in enumerate(made, 1):
            while True:
                container.reload()
                state = container.attrs["State"]
                if state["Status"] == "running" and (
                    number not in healthcheck or state["Health"]["Status"] == "healthy"
                ):
                    break
                assert time.monotonic() < deadline, state
                time.sleep(0.2)
        return made

    try:
        yield make
    finally:
        for container in made:
            container.remove(force=True)


def health_url(container: Any) -> str:
    return f"http://127.0.0.1:{container.labels['opsconsole-test-port']}/health"


def rolling_restart(
    docker_daemon: DockerDaemon, tmp_path: Path, url: str
) -> subprocess.CompletedProcess[str]:
    passed = {name: os.environ[name] for name in ("PYTHONPATH",) if name in os.environ}
    return subprocess.run(
        [OPSCONSOLE, "run", "rolling-restart", "--runbooks", str(ROOT / "runbooks.toml"), "--yes",
         "--param", f"service={SERVICE}", "--param", f"health_url={url}",
         "--param", "stop_seconds=1", "--param", "wait_seconds=20"],
        cwd=tmp_path, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path),
             "XDG_STATE_HOME": str(tmp_path / "state"), "DOCKER_HOST": docker_daemon.base_url,
             **passed},
    )  # fmt: skip


def moment(docker_time: str) -> datetime:
    """Docker's RFC 3339 time with nanoseconds, to the microsecond."""
    whole, _, fraction = docker_time.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{whole}.{(fraction + '000000')[:6]}+00:00")


def state(container: Any) -> dict[str, Any]:
    container.reload()
    return dict(container.attrs["State"])


class Watcher:
    """Reads the containers' states every 0.1 s while the run goes on: which of them are
    down (not running, or not yet healthy where they have a health check) at each look."""

    def __init__(self, containers: list[Any]) -> None:
        self.containers = containers
        self.seen: list[set[str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _watch(self) -> None:
        while not self._stop.is_set():
            down = set()
            for container in self.containers:
                now = state(container)
                health = now.get("Health", {}).get("Status", "healthy")
                if now["Status"] != "running" or health != "healthy":
                    down.add(container.name)
            self.seen.append(down)
            self._stop.wait(0.1)


def test_each_container_is_restarted_only_once_the_one_before_is_healthy_again(
    docker_daemon: DockerDaemon, replicas: Replicas, tmp_path: Path
) -> None:
    # Two with a Docker health check, the last without one: running (and still the same
    # run 5 s later) and the health URL answering is what brings it back then.
    made = replicas(healthcheck=(1, 2))
    before = [state(c) for c in made]
    with Watcher(made) as watcher:
        ran = rolling_restart(docker_daemon, tmp_path, health_url(made[0]))
    out = ran.stdout
    assert ran.returncode == 0, out + ran.stderr
    assert (
        "containers=3 not_running=0 order="
        + ",".join(f"opsconsole-test-{SERVICE}-{n}" for n in (1, 2, 3))
        in out
    )
    assert "confirmed by --yes" in out
    assert "opsconsole-test-roller-1 is back: running healthy started=" in out
    assert "opsconsole-test-roller-3 is back: running no-healthcheck started=" in out
    assert "restarted=3" in out
    assert "the health URL answers" in out
    after = [state(c) for c in made]
    for old, new in zip(before, after, strict=True):
        assert new["Status"] == "running"
        assert moment(new["StartedAt"]) > moment(old["StartedAt"])  # each really restarted
    # One after another, never two down at once: those with a health check were seen
    # down (starting) for a while each, never with another (the last, without one, is
    # down only between its kill and its start); each was stopped only after the one
    # before it had started again.
    assert {name for down in watcher.seen for name in down} >= {made[0].name, made[1].name}
    assert max(len(down) for down in watcher.seen) == 1, watcher.seen
    for previous, following in ((after[0], after[1]), (after[1], after[2])):
        assert moment(following["FinishedAt"]) > moment(previous["StartedAt"])
    assert out.index("roller-1 is back") < out.index("== opsconsole-test-roller-2: restarting")
    assert out.index("roller-2 is back") < out.index("== opsconsole-test-roller-3: restarting")


def test_a_container_that_does_not_come_back_stops_the_run_before_the_next(
    docker_daemon: DockerDaemon, replicas: Replicas, tmp_path: Path
) -> None:
    made = replicas(broken=(2,))
    before = [state(c) for c in made]
    ran = rolling_restart(docker_daemon, tmp_path, health_url(made[0]))
    out = ran.stdout
    assert ran.returncode == 1, out + ran.stderr
    assert "opsconsole-test-roller-1 is back: running healthy" in out
    assert "opsconsole-test-roller-2 did not come back within 20 s: exited" in out
    assert "   | config broken: refusing to start" in out  # its last log lines
    assert "== opsconsole-test-roller-3: restarting" not in out
    assert "step 'restart' failed" in out
    after = [state(c) for c in made]
    assert moment(after[0]["StartedAt"]) > moment(before[0]["StartedAt"])
    assert after[1]["Status"] == "exited"
    assert after[2]["StartedAt"] == before[2]["StartedAt"]  # never touched
    assert after[2]["Status"] == "running"

    # With one down, a rolling restart would leave two down: it restarts none.
    again = rolling_restart(docker_daemon, tmp_path, health_url(made[0]))
    assert again.returncode == 1, again.stdout + again.stderr
    assert "1 of 3 not running: restarting another would leave two down" in again.stdout
    assert "== opsconsole-test-roller-1: restarting" not in again.stdout
    assert state(made[0])["StartedAt"] == after[0]["StartedAt"]
    assert state(made[2])["StartedAt"] == after[2]["StartedAt"]
