"""The ssh sessions behind a host's engine (each an `ssh ... docker system dial-stdio`):
none left behind when a follow of a log is stopped, and none stuck when the engine's side
of a session stops answering (real sshd on loopback, tests/support/ssh.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from opsconsole.config.model import Config, load_config
from opsconsole.monitoring.monitor import Monitor
from opsconsole.sources.readings import STOPPED
from opsconsole.sources.ssh import reach
from tests.sources.test_ssh_hosts import config_text, containers, own_control_dir
from tests.support.servers import BUSYBOX_IMAGE, TEST_LABEL, DockerDaemon
from tests.support.ssh import SshHosts, commands_under

# The fixtures, used here as there: own_control_dir closes each test's kept connections.
__all__ = ["containers", "own_control_dir"]

QUIET = "quiet1"


@pytest.fixture
def quiet(docker_daemon: DockerDaemon) -> Iterator[Any]:
    """A container that writes one line, then nothing: a follow of it waits on the engine."""
    client = docker_daemon.client()
    script = "trap 'exit 0' TERM; echo ready; while :; do busybox sleep 1; done"
    container = client.containers.run(
        BUSYBOX_IMAGE, ["sh", "-c", script], name=QUIET, detach=True, labels={TEST_LABEL: "ssh"}
    )
    try:
        yield container
    finally:
        container.remove(force=True)


def config_of(hosts: SshHosts, tmp_path: Path) -> Config:
    """web1 on app1, web2 on app2 (tests/sources/test_ssh_hosts.py), and quiet1 on app1."""
    path = tmp_path / "opsconsole.toml"
    path.write_text(
        config_text(hosts) + f'[[services]]\nname = "{QUIET}"\n'
        f'health_url = "http://127.0.0.1:9/"\ncontainer = "{QUIET}"\nhost = "app1"\n'
    )
    return load_config(path).config


def sessions_here(alias: str) -> list[int]:
    """This console's `ssh ... app docker system dial-stdio` processes to the host."""
    return commands_under(os.getpid(), f"-- {alias} docker system dial-stdio")


async def until(check: Callable[[], bool], within: float) -> bool:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def test_a_stopped_follow_of_a_remote_log_leaves_no_session_behind(
    ssh_hosts: SshHosts, containers: list[Any], quiet: Any, tmp_path: Path
) -> None:
    """The service screen left while its container is quiet: the follow ends at once,
    and so does the ssh session (here and on the host) that served it; the dashboard's
    own sessions stay, and read on."""
    config = config_of(ssh_hosts, tmp_path)
    monitor = Monitor(config)
    app1 = ssh_hosts.hosts["app1"]
    try:
        source = monitor.docker_for(next(s for s in config.services if s.name == QUIET))
        assert source is not None
        # The kept connection up first, as the dashboard's poll has it: a session opened
        # without one would become it, and a process of its own.
        await asyncio.to_thread(reach, config.host("app1"))
        lines: queue.Queue[str] = queue.Queue()
        stop = threading.Event()
        ended: list[str | BaseException] = []

        def follow() -> None:
            try:
                ended.append(source.follow_logs(QUIET, 5, lines.put, stop))
            except BaseException as error:
                ended.append(error)

        thread = threading.Thread(target=follow, daemon=True)
        thread.start()
        assert lines.get(timeout=15) == "ready"
        # The dashboard polls meanwhile, over sessions of its own: the follow's is taken.
        polled = await monitor.snapshot()
        assert polled.containers is not None
        assert (polled.containers.value or {})[f"app1/{QUIET}"].unreachable is None
        during, there = sessions_here("app1"), len(app1.running("dial-stdio"))
        await asyncio.sleep(0.5)  # nothing more comes: the follow waits on the engine

        asked = time.monotonic()
        stop.set()
        await asyncio.to_thread(thread.join, 5)
        took = time.monotonic() - asked
        assert not thread.is_alive(), "the follow still waits on the quiet container"
        assert ended == [STOPPED]
        assert took < 2.0, took
        # One session fewer, here and on the host: the follow's; the others stay.
        assert await until(lambda: len(sessions_here("app1")) == len(during) - 1, 3), (
            during, sessions_here("app1"),
        )  # fmt: skip
        assert set(sessions_here("app1")) < set(during)
        assert await until(lambda: len(app1.running("dial-stdio")) == there - 1, 5), (
            there, app1.running("dial-stdio"),
        )  # fmt: skip
        # The dashboard reads on.
        again = await monitor.snapshot()
        assert again.containers is not None
        assert (again.containers.value or {})[f"app1/{QUIET}"].unreachable is None
    finally:
        await monitor.aclose()


def signal_all(pids: list[int], signum: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


async def test_sessions_the_engine_stops_answering_are_ended_and_the_host_read_again(
    ssh_hosts: SshHosts, containers: list[Any], tmp_path: Path
) -> None:
    """The engine's side of app2's kept sessions wedged (`docker system dial-stdio` on the
    host stopped, sshd and the engine fine): the poll says so within its deadline, those
    sessions are ended rather than waited on for ever, and the next poll reads app2 on
    fresh ones, while the wedged processes are still stopped; nothing piles up."""
    monitor = Monitor(config_of(ssh_hosts, tmp_path))
    app2 = ssh_hosts.hosts["app2"]
    try:
        await monitor.snapshot()
        kept, wedged = sessions_here("app2"), app2.running("dial-stdio")
        assert kept
        assert wedged
        signal_all(wedged, signal.SIGSTOP)
        try:
            started = time.monotonic()
            hung = await monitor.snapshot()
            took = time.monotonic() - started
            # Ended here, not left waiting on a host that never answers.
            assert await until(lambda: not set(kept) & set(sessions_here("app2")), 3), (
                kept, sessions_here("app2"),
            )  # fmt: skip
            later = [await monitor.snapshot() for _ in range(4)]
            here = [len(sessions_here("app2"))]
            there = [len(set(app2.running("dial-stdio")) - set(wedged))]
            for _ in range(3):
                later.append(await monitor.snapshot())
                here.append(len(sessions_here("app2")))
                there.append(len(set(app2.running("dial-stdio")) - set(wedged)))
        finally:
            signal_all(wedged, signal.SIGCONT)
        # Their sessions gone, the wedged processes end once they run again.
        assert await until(lambda: not set(wedged) & set(app2.running("dial-stdio")), 5)
    finally:
        await monitor.aclose()
    assert took < 5.0, took  # the Monitor's own deadline for a reading
    assert hung.containers is not None
    found = hung.containers.value or {}
    assert found["app1/web1"].unreachable is None
    said = found["app2/web2"].unreachable
    assert said is not None
    assert said.startswith("no answer within 4 s, since "), said
    assert found["app2/web2"].state == "running"  # the last known state, kept
    for snapshot in later:
        assert snapshot.containers is not None
        web2 = (snapshot.containers.value or {})["app2/web2"]
        assert (web2.unreachable, web2.state) == (None, "running")
    # As many sessions each poll, here and on the host: none piles up.
    assert len(set(here)) == 1, here
    assert here[0] <= len(kept), (kept, here)
    assert len(set(there)) == 1, there
