"""The Docker source against a real daemon: every state it reports, seen happen."""

from __future__ import annotations

import asyncio
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from opsconsole.sources.base import read
from opsconsole.sources.docker import ContainerStatus, DockerSource
from tests.servers import BUSYBOX_IMAGE, TEST_LABEL, DockerDaemon

Run = Callable[..., Any]
"""Runs a labelled busybox container: run(command, name=..., **docker_options)."""

MiB = 1024 * 1024
# The busy loop and sleeps stop at once on SIGTERM: sh as PID 1 ignores it untrapped.
BUSY = ["sh", "-c", "trap 'exit 0' TERM; while :; do :; done"]
IDLE = ["sh", "-c", "trap 'exit 0' TERM; while :; do busybox sleep 0.1; done"]


def unique(what: str) -> str:
    return f"ds-{uuid.uuid4().hex[:8]}-{what}"


@pytest.fixture
def run(docker_daemon: DockerDaemon) -> Iterator[Run]:
    client = docker_daemon.client()
    started: list[Any] = []

    def run(command: list[str], **options: Any) -> Any:
        options.setdefault("labels", {TEST_LABEL: "docker-source"})
        # Created, then started: a container that fails to start is still removed.
        container = client.containers.create(BUSYBOX_IMAGE, command, network_mode="host", **options)
        started.append(container)
        container.start()
        return container

    try:
        yield run
    finally:
        for container in started:
            container.remove(force=True)


async def poll_until(
    source: DockerSource,
    name: str,
    done: Callable[[ContainerStatus], bool],
    within: float = 15.0,
) -> ContainerStatus:
    deadline = time.monotonic() + within
    while True:
        status = (await source.poll()).get(name)
        if status is not None and done(status):
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} never got there; last seen: {status}")
        await asyncio.sleep(0.1)


async def test_running_container_with_cpu_and_memory(docker_daemon: DockerDaemon, run: Run) -> None:
    name = unique("busy")
    run(BUSY, name=name, mem_limit="64m")
    source = DockerSource(docker_daemon.base_url, containers=[name])

    first = (await source.poll())[name]
    assert first.state == "running"
    assert first.cpu_percent is None  # nothing to compare with yet
    assert first.memory_bytes is not None
    assert first.memory_bytes > 0
    assert first.memory_limit_bytes == 64 * MiB
    assert first.started_at is not None
    assert (first.exit_code, first.health, first.oom_killed) == (None, None, False)

    later = await poll_until(source, name, lambda s: s.cpu_percent is not None)
    assert later.cpu_percent is not None
    assert later.cpu_percent > 5  # a busy loop, on a core of its own


async def test_health_check_status(docker_daemon: DockerDaemon, run: Run) -> None:
    name = unique("healthy")
    check = {"test": ["CMD-SHELL", "exit 0"], "interval": 100_000_000, "retries": 1}
    run(IDLE, name=name, healthcheck=check)
    source = DockerSource(docker_daemon.base_url, containers=[name])
    status = await poll_until(source, name, lambda s: s.health == "healthy")
    assert status.state == "running"


async def test_exited_container_has_its_exit_code(docker_daemon: DockerDaemon, run: Run) -> None:
    name = unique("exits")
    run(["sh", "-c", "exit 3"], name=name)
    source = DockerSource(docker_daemon.base_url, containers=[name])
    status = await poll_until(source, name, lambda s: s.state == "exited")
    assert status.exit_code == 3
    assert status.oom_killed is False
    assert (status.cpu_percent, status.memory_bytes) == (None, None)


async def test_paused_container(docker_daemon: DockerDaemon, run: Run) -> None:
    name = unique("paused")
    run(IDLE, name=name).pause()
    source = DockerSource(docker_daemon.base_url, containers=[name])
    status = (await source.poll())[name]
    assert status.state == "paused"
    assert status.cpu_percent is None
    assert status.exit_code is None


async def test_oom_killed_under_a_memory_limit(docker_daemon: DockerDaemon, run: Run) -> None:
    name = unique("oom")
    # tail keeps the last line whole, and /dev/zero never ends one: it grows until killed.
    run(["busybox", "tail", "/dev/zero"], name=name, mem_limit="16m", memswap_limit="16m")
    source = DockerSource(docker_daemon.base_url, containers=[name])
    status = await poll_until(source, name, lambda s: s.state == "exited")
    assert status.oom_killed is True
    assert status.exit_code == 137  # SIGKILL


async def test_restart_policy_counts_restarts(docker_daemon: DockerDaemon, run: Run) -> None:
    name = unique("crashloop")
    policy = {"Name": "on-failure", "MaximumRetryCount": 5}
    run(["sh", "-c", "exit 1"], name=name, restart_policy=policy)
    source = DockerSource(docker_daemon.base_url, containers=[name])
    first = await poll_until(source, name, lambda s: s.restart_count > 0)
    later = await poll_until(source, name, lambda s: s.restart_count > first.restart_count)
    assert later.state in ("running", "restarting", "exited")
    if later.state != "running":
        assert later.exit_code == 1


async def test_restart_and_logs(docker_daemon: DockerDaemon, run: Run) -> None:
    name = unique("restarted")
    script = (
        "trap 'exit 0' TERM; echo to stdout; echo to stderr >&2; printf 'not \\377 utf-8\\n'; "
        "busybox sleep 60 & wait"
    )
    run(["sh", "-c", script], name=name)
    source = DockerSource(docker_daemon.base_url, containers=[name])
    before = await poll_until(source, name, lambda s: s.state == "running")

    await source.restart(name, timeout=5)
    after = await poll_until(source, name, lambda s: s.state == "running")
    assert after.started_at is not None
    assert after.started_at != before.started_at
    assert after.restart_count == 0  # counts the policy's restarts only

    deadline = time.monotonic() + 10
    while (lines := await source.logs(name)).count("to stdout") < 2:
        assert time.monotonic() < deadline, lines
        await asyncio.sleep(0.1)
    # Both runs wrote all lines; logs outlive a restart.
    assert sorted(lines) == sorted(2 * ["to stdout", "to stderr", "not \ufffd utf-8"])
    # stdout and stderr reach the log by separate paths: which line is last may vary.
    last = await source.logs(name, tail=1)
    assert len(last) == 1
    assert last[0] in lines

    with pytest.raises(LookupError, match="no such container"):
        await source.logs(unique("absent"))
    with pytest.raises(ValueError, match="not a container name"):
        await source.restart("../etc")


async def test_selection_by_label_and_missing_names(docker_daemon: DockerDaemon, run: Run) -> None:
    picked_value = unique("picked")
    picked, other, absent = unique("picked"), unique("other"), unique("absent")
    run(IDLE, name=picked, labels={TEST_LABEL: picked_value})
    other_container = run(IDLE, name=other)
    # Docker takes an id prefix where a name is asked for: such a name is still no container.
    id_prefix = other_container.id[:12]
    source = DockerSource(
        docker_daemon.base_url,
        containers=[absent, id_prefix],
        label=f"{TEST_LABEL}={picked_value}",
    )
    statuses = await source.poll()
    assert list(statuses) == [absent, id_prefix, picked]
    assert statuses[absent].state == "missing"
    assert statuses[id_prefix].state == "missing"
    assert statuses[picked].state == "running"
    with pytest.raises(LookupError):
        await source.restart(id_prefix)


def test_names_and_labels_are_checked() -> None:
    for bad in ("/web", "-web", "web app", "web;rm", ""):
        with pytest.raises(ValueError, match="not a container name"):
            DockerSource("unix:///nowhere.sock", containers=[bad])
    with pytest.raises(ValueError, match="label"):
        DockerSource("unix:///nowhere.sock", label="=value")
    with pytest.raises(ValueError, match="nothing to watch"):
        DockerSource("unix:///nowhere.sock")


async def test_daemon_not_there_is_a_short_reason(docker_daemon: DockerDaemon) -> None:
    # A short directory: a unix socket's path must fit in 108 bytes.
    with tempfile.TemporaryDirectory(prefix="ds-") as directory:
        link = Path(directory) / "docker.sock"
        link.symlink_to(Path(directory) / "nothing-here.sock")
        source = DockerSource(f"unix://{link}", containers=["web"], timeout=2)
        reading = await read(source.poll, seconds=5)
        assert reading.value is None
        assert reading.error == "no such file or directory"

        refusing = Path(directory) / "refusing.sock"
        with socket.socket(socket.AF_UNIX) as bound_not_listening:
            bound_not_listening.bind(str(refusing))
            reading = await read(
                DockerSource(f"unix://{refusing}", containers=["web"], timeout=2).poll, 5
            )
        assert reading.value is None
        assert reading.error == "connection refused"

        # The daemon comes up: the same source reaches it, with no restart of the console.
        link.unlink()
        link.symlink_to(docker_daemon.base_url.removeprefix("unix://"))
        reading = await read(source.poll, seconds=5)
        assert reading.error is None
        assert reading.value is not None
        assert reading.value["web"].state == "missing"


async def test_stats_of_many_containers_in_one_round(docker_daemon: DockerDaemon, run: Run) -> None:
    # How long a round takes is measured in bench/docker_poll.py; here, that every
    # container of a round gets its figures.
    selected = unique("many")
    names = [unique(f"many{i}") for i in range(5)]
    for name in names:
        run(IDLE, name=name, labels={TEST_LABEL: selected})
    source = DockerSource(docker_daemon.base_url, label=f"{TEST_LABEL}={selected}")
    for _ in range(2):
        statuses = await source.poll()
    assert list(statuses) == sorted(names)
    assert all(status.cpu_percent is not None for status in statuses.values())
    assert all(status.memory_bytes for status in statuses.values())
