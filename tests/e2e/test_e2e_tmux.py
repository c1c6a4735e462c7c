"""The installed ``opsconsole``, in a real terminal (tmux at 80x24), read off the screen."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsconsole.demo.service import DemoService
from tests.support.servers import IN_CI, free_port

OPSCONSOLE = str(Path(sys.executable).parent / "opsconsole")
ISOLATED = ("HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME")
pytestmark = pytest.mark.e2e


class Terminal:
    def __init__(self, session: str) -> None:
        self.session = session

    def screen(self, joined: bool = False) -> str:
        """What the pane shows; `joined`: a line the terminal wrapped, whole again."""
        return subprocess.run(
            ["tmux", "capture-pane", "-p", *(["-J"] if joined else []), "-t", self.session],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def press(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.session, *keys], check=True)

    def wait_for(self, *texts: str, times: int = 1, timeout: float = 20) -> str:
        """The screen once every text is on it (each at least `times` times)."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if all(screen.count(text) >= times for text in texts):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{texts} not on screen after {timeout} s:\n{screen}")


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[callable]:  # type: ignore[valid-type]
    if shutil.which("tmux") is None:
        if IN_CI:
            pytest.fail("tmux is required under CI=true")
        pytest.skip("tmux is not installed")
    sessions: list[str] = []

    def open_terminal(*args: str) -> Terminal:
        session = f"opsconsole-test-{uuid.uuid4().hex[:8]}"
        sessions.append(session)
        # When opsconsole exits, the pane says how, and stays for the test to read.
        command = [OPSCONSOLE, *args]
        shell = " ".join(command) + '; echo "EXITED rc=$?"; sleep 60'
        subprocess.run(
            [
                "tmux",
                "new-session",
                "-d",
                "-s",
                session,
                "-x",
                "80",
                "-y",
                "24",
                "-c",
                str(tmp_path),
                "-e",
                "TERM=xterm-256color",
                # A tmux server already running gives a new session its own environment,
                # not this test's: the test's own home is passed on, never the user's.
                *(f"-e{name}={os.environ[name]}" for name in ISOLATED),
                shell,
            ],
            check=True,
        )
        return Terminal(session)

    yield open_terminal
    for session in sessions:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False, capture_output=True)


def test_demo_shows_the_fleet_up_at_80x24_and_quits_on_q(terminal) -> None:  # type: ignore[no-untyped-def]
    term = terminal("demo")
    # Panes are drawn on their own clock: wait for them too, not only the services.
    screen = term.wait_for(
        "nl-fhir", "hapi-fhir", "backend", "frontend", "nginx", "HTTP 200", "not configured"
    )
    assert screen.count("✔ UP") == 5
    assert "demo @ " in screen  # the environment, in the header
    assert "Quit" in screen
    assert "Refresh" in screen
    assert "not configured" in screen  # absent backends say so
    term.press("?")
    term.wait_for("DEGRADED", "Checks repeat")
    term.press("Escape")
    time.sleep(0.5)
    term.press("q")
    term.wait_for("EXITED rc=0")


def test_configured_services_show_up_and_down_with_the_reason(  # type: ignore[no-untyped-def]
    terminal, tmp_path: Path
) -> None:
    service = DemoService("payments")
    service.start()
    try:
        (tmp_path / "opsconsole.toml").write_text(
            '[console]\nenvironment = "production"\nrefresh_seconds = 1\n\n'
            f'[[services]]\nname = "payments"\nhealth_url = "{service.health_url}"\n\n'
            f'[[services]]\nname = "ledger"\nhealth_url = "http://127.0.0.1:{free_port()}/health"\n'
        )
        term = terminal()  # no arguments: finds ./opsconsole.toml
        screen = term.wait_for("payments", "✔ UP", "ledger", "✖ DOWN", "connection refused")
        assert "production @ " in screen
        service.stop()
        screen = term.wait_for("✖ DOWN", "connection refused", times=2, timeout=10)
        assert "✔ UP" not in screen
        service.start()  # the same port again: it must come back by itself
        term.wait_for("✔ UP", timeout=10)
        term.press("q")
        term.wait_for("EXITED rc=0")
    finally:
        service.stop()


def test_a_configuration_that_does_not_validate_ends_the_console_with_every_problem_whole(  # type: ignore[no-untyped-def]
    terminal, tmp_path: Path
) -> None:
    """In a terminal the first frame is out before the configuration is validated; a
    configuration that does not validate then ends the console, each problem printed
    whole (not wrapped at the terminal's width) and exit 2, as `check` would say."""
    (tmp_path / "opsconsole.toml").write_text(
        '[console]\nenvironment = "production"\nrefresh_secnds = 2\n\n'
        '[[services]]\nname = "payments"\nhealth_url = "ftp://nowhere/health"\n'
    )
    term = terminal()
    term.wait_for("EXITED rc=2")
    lines = term.screen(joined=True).splitlines()
    assert lines[:3] == [
        "opsconsole.toml:3:1: unknown key 'console.refresh_secnds' "
        "(did you mean 'refresh_seconds'?)",
        "opsconsole.toml:7:14: services[0].health_url: should be a URL starting with "
        "http:// or https://",
        "opsconsole: not started; `opsconsole check` lists these too.",
    ]  # and the terminal is the shell's again: the frame is gone
