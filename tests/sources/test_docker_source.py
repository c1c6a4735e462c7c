"""The Docker source against a real daemon: every state it reports, seen happen."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import re
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from opsconsole.config.model import Config, DockerSection, ServiceSection
from opsconsole.monitoring.snapshot import Snapshot, breaches
from opsconsole.sources.base import describe_error, read
from opsconsole.sources.docker import LONGEST_LINE_BYTES, DockerSource
from opsconsole.sources.readings import STOPPED, ContainerStatus
from tests.support.servers import BUSYBOX_IMAGE, TEST_LABEL, DockerDaemon

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
    # The daemon may record the exit a moment before containerd's OOM event reaches it.
    status = await poll_until(source, name, lambda s: s.state == "exited" and s.oom_killed)
    assert status.state == "exited"
    assert status.oom_killed is True
    assert status.exit_code == 137  # SIGKILL


async def test_an_oom_kill_breaches_until_the_container_runs_again(
    docker_daemon: DockerDaemon, run: Run
) -> None:
    name = unique("oom-once")
    # Out of memory the first time only: the marker file outlives the kill in the
    # container's own layer, so the next start stays up. exec: Docker says OOMKilled only
    # when the container's main process is the one killed.
    script = "if [ ! -e /once ]; then touch /once; exec tail /dev/zero; fi; exec sleep 600"
    container = run(["sh", "-c", script], name=name, mem_limit="16m", memswap_limit="16m")
    source = DockerSource(docker_daemon.base_url, containers=[name])
    config = Config(
        services=[ServiceSection(name="app", health_url="http://127.0.0.1:1/", container=name)],
        docker=DockerSection(base_url=docker_daemon.base_url),
    )

    def breached() -> set[str]:
        return {b.signal for b in breaches(config, Snapshot(health={}, containers=reading))}

    await poll_until(source, name, lambda s: s.state == "exited" and s.oom_killed)
    reading = await read(source.poll, 10)
    assert breached() == {"container_state", "oom_killed"}

    container.start()
    await poll_until(source, name, lambda s: s.state == "running")
    reading = await read(source.poll, 10)
    # Docker before 25 still says OOMKilled of the last exit; running, it is not a breach.
    assert breached() == set()


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


# -- following a container's log ------------------------------------------------------

# A line every 0.2 s, numbered; stops at once on SIGTERM.
COUNTING = [
    "sh",
    "-c",
    "trap 'exit 0' TERM; i=0; while :; do echo line $i; i=$((i+1)); busybox sleep 0.2; done",
]


class Follow:
    """`follow_logs` in a thread of its own, as the console runs it: each line with the
    time it arrived, and how the follow ended."""

    def __init__(self, source: DockerSource, name: str, tail: int) -> None:
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self.stop = threading.Event()
        self.result: str | None = None
        self.error: BaseException | None = None
        self.ended_at: float | None = None
        self._thread = threading.Thread(target=self._run, args=(source, name, tail), daemon=True)
        self._thread.start()

    def _run(self, source: DockerSource, name: str, tail: int) -> None:
        def on_line(line: str) -> None:
            self.lines.put((time.monotonic(), line))

        try:
            self.result = source.follow_logs(name, tail, on_line, self.stop)
        except BaseException as error:
            self.error = error
        finally:
            self.ended_at = time.monotonic()

    def take(self, count: int, within: float = 10.0) -> list[tuple[float, str]]:
        deadline = time.monotonic() + within
        return [self.lines.get(timeout=max(0.0, deadline - time.monotonic())) for _ in range(count)]

    def rest(self) -> list[str]:
        taken = []
        with contextlib.suppress(queue.Empty):
            while True:
                taken.append(self.lines.get_nowait()[1])
        return taken

    def join(self, within: float) -> bool:
        """Whether the follow ended within so many seconds."""
        self._thread.join(within)
        return not self._thread.is_alive()


def numbers(lines: list[str]) -> list[int]:
    found = [re.fullmatch(r"line (\d+)", line) for line in lines]
    assert all(found), lines
    return [int(match.group(1)) for match in found if match]


def wait_for_log(source: DockerSource, name: str, lines: int) -> list[str]:
    deadline = time.monotonic() + 15
    while len(logged := asyncio.run(source.logs(name, tail=1000))) < lines:
        assert time.monotonic() < deadline, logged
        time.sleep(0.1)
    return logged


def test_follow_gives_the_tail_then_live_lines_in_order(
    docker_daemon: DockerDaemon, run: Run
) -> None:
    name = unique("counting")
    run(COUNTING, name=name)
    source = DockerSource(docker_daemon.base_url, containers=[name])
    wait_for_log(source, name, lines=6)

    follow = Follow(source, name, tail=3)
    try:
        arrived = follow.take(13)
    finally:
        follow.stop.set()
    assert follow.join(within=2)
    assert (follow.result, follow.error) == (STOPPED, None)

    got = numbers([line for _, line in arrived])
    # The last three lines of history first, then every line after them, once, in order.
    assert got == list(range(got[0], got[0] + 13))
    assert got[0] >= 3
    # History comes at once; the live lines as the container writes them, 0.2 s apart.
    times = [at for at, _ in arrived]
    assert times[2] - times[0] < 0.3
    assert times[12] - times[3] > 1.2
    # No line twice or too many: nothing more came after the stop.
    assert numbers(follow.rest()) == []


def test_follow_of_new_lines_only_and_of_both_streams(
    docker_daemon: DockerDaemon, run: Run
) -> None:
    name = unique("streams")
    script = (
        "trap 'exit 0' TERM; echo old; "
        "while [ ! -e /go ]; do busybox sleep 0.1; done; "
        "echo to stdout; echo to stderr >&2; printf 'not \\377 utf-8\\r\\n'; "
        "printf 'in '; busybox sleep 0.3; echo 'two writes'; exit 3"
    )
    container = run(["sh", "-c", script], name=name)
    source = DockerSource(docker_daemon.base_url, containers=[name])
    assert wait_for_log(source, name, lines=1) == ["old"]

    follow = Follow(source, name, tail=0)
    time.sleep(0.5)  # the follow is under way before the container goes on
    assert container.exec_run(["busybox", "touch", "/go"]).exit_code == 0
    assert follow.join(within=10)
    assert follow.error is None
    assert follow.result == "container exited (code 3)"
    lines = follow.rest()
    # stdout and stderr reach the log by separate paths: their order may vary.
    assert sorted(lines) == sorted(["to stdout", "to stderr", "not \ufffd utf-8", "in two writes"])


def test_follow_stops_promptly_while_the_container_is_quiet(
    docker_daemon: DockerDaemon, run: Run
) -> None:
    name = unique("quiet")
    run(
        ["sh", "-c", "trap 'exit 0' TERM; echo ready; while :; do busybox sleep 0.1; done"],
        name=name,
    )
    source = DockerSource(docker_daemon.base_url, containers=[name])
    follow = Follow(source, name, tail=5)
    assert [line for _, line in follow.take(1)] == ["ready"]
    time.sleep(0.5)  # nothing more comes: the follow is blocked on the daemon

    asked = time.monotonic()
    follow.stop.set()
    assert follow.join(within=2)
    assert follow.ended_at is not None
    assert follow.ended_at - asked < 1.0
    assert (follow.result, follow.error) == (STOPPED, None)

    # Asked to stop before it began: no line at all.
    early = threading.Event()
    early.set()
    seen: list[str] = []
    assert source.follow_logs(name, 5, seen.append, early) == STOPPED
    assert seen == []


def test_follow_ends_when_the_container_stops_or_goes(
    docker_daemon: DockerDaemon, run: Run
) -> None:
    stopping, removed = unique("stopping"), unique("removed")
    stopping_container = run(COUNTING, name=stopping)
    # Not by `run`, whose clean-up would find it gone.
    removed_container = docker_daemon.client().containers.run(
        BUSYBOX_IMAGE,
        COUNTING,
        name=removed,
        labels={TEST_LABEL: "docker-source"},
        network_mode="host",
        detach=True,
    )
    source = DockerSource(docker_daemon.base_url, containers=[stopping, removed])
    follows = {name: Follow(source, name, tail=1) for name in (stopping, removed)}
    for follow in follows.values():
        follow.take(2)  # following

    stopping_container.stop(timeout=5)
    removed_container.remove(force=True)
    for follow in follows.values():
        assert follow.join(within=10)
        assert follow.error is None
    assert follows[stopping].result == "container exited (code 0)"
    assert follows[removed].result in ("container removed", "container exited (code 137)")

    with pytest.raises(LookupError, match="no such container"):
        source.follow_logs(unique("absent"), 1, print, threading.Event())
    # An id prefix where a name is asked for is still no container.
    other = run(["sh", "-c", "echo hello"])
    with pytest.raises(LookupError, match="no such container"):
        source.follow_logs(other.id[:12], 1, print, threading.Event())
    with pytest.raises(ValueError, match="tail"):
        source.follow_logs(stopping, -1, print, threading.Event())


def test_follow_of_a_line_without_end_comes_in_bounded_pieces(
    docker_daemon: DockerDaemon, run: Run
) -> None:
    name = unique("endless")
    size = 3 * LONGEST_LINE_BYTES + 10
    # Ended by a newline: the daemon loses a last line without one (moby/moby#43860).
    script = f"busybox head -c {size} /dev/zero | busybox tr '\\0' x; echo"
    run(["sh", "-c", script], name=name)
    source = DockerSource(docker_daemon.base_url, containers=[name])
    seen: list[str] = []
    # The daemon keeps a long line in pieces of 16 KiB, and a tail counts the pieces.
    result = source.follow_logs(name, 1000, seen.append, threading.Event())
    assert result == "container exited (code 0)"
    assert "".join(seen) == "x" * size
    assert max(len(line) for line in seen) <= 2 * LONGEST_LINE_BYTES


class SocketProxy:
    """A stand-in for the daemon's socket that can vanish, connections and all: from the
    client's side, a daemon that went away."""

    def __init__(self, target: str, path: Path) -> None:
        self.target, self.path = target, path
        self._listener = socket.socket(socket.AF_UNIX)
        self._listener.bind(str(path))
        self._listener.listen()
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self._listener.accept()
                upstream = socket.socket(socket.AF_UNIX)
                upstream.connect(self.target)
                with self._lock:
                    self._open += [client, upstream]
                for source, sink in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def vanish(self) -> None:
        self._listener.close()
        self.path.unlink()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


def test_follow_raises_when_the_daemon_goes_away(docker_daemon: DockerDaemon, run: Run) -> None:
    name = unique("orphaned")
    run(COUNTING, name=name)
    with tempfile.TemporaryDirectory(prefix="ds-") as directory:
        proxy = SocketProxy(
            docker_daemon.base_url.removeprefix("unix://"), Path(directory) / "docker.sock"
        )
        source = DockerSource(f"unix://{proxy.path}", containers=[name], timeout=2)
        follow = Follow(source, name, tail=1)
        follow.take(2)
        proxy.vanish()
        assert follow.join(within=5)
    assert follow.result is None
    assert follow.error is not None
    assert describe_error(follow.error) == "no such file or directory"
