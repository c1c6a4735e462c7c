"""The installed `opsconsole` in a real terminal: a tmux session, read off its screen."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

OPSCONSOLE = str(Path(sys.executable).parent / "opsconsole")
ISOLATED = ("HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME")
"""What every session is given from the test's own environment (see `open_terminal`)."""
CLEAN_PATH = "/usr/local/bin:/usr/bin:/bin"
"""A PATH as a new user has it: no `.venv/bin`, so no `opsconsole` on it."""


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

    def type(self, text: str) -> None:
        """Text as typed, not read as key names (`-l`)."""
        subprocess.run(["tmux", "send-keys", "-t", self.session, "-l", text], check=True)

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


class OpenTerminal(Protocol):
    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Terminal: ...


@contextmanager
def terminals(cwd: Path, size: tuple[int, int] = (80, 24)) -> Iterator[OpenTerminal]:
    """Opens `opsconsole ARGS` in tmux sessions of `size`, each killed at the end."""
    sessions: list[str] = []

    def open_terminal(*args: str, env: dict[str, str] | None = None) -> Terminal:
        session = f"opsconsole-test-{uuid.uuid4().hex[:8]}"
        sessions.append(session)
        # When opsconsole exits, the pane says how, and stays for the test to read.
        shell = " ".join([OPSCONSOLE, *args]) + '; echo "EXITED rc=$?"; sleep 60'
        # A tmux server already running gives a new session its own environment, not
        # this test's: the test's own home is passed on, never the user's.
        given = {name: os.environ[name] for name in ISOLATED} | (env or {})
        width, height = size
        command = ["tmux", "new-session", "-d", "-s", session, "-x", str(width),
                   "-y", str(height), "-c", str(cwd), "-e", "TERM=xterm-256color",
                   *(f"-e{name}={value}" for name, value in given.items()), shell]  # fmt: skip
        # The tmux server exits with its last session: a session opened as the previous
        # test's last one is killed can meet a server on its way out. Once more, then.
        for _ in range(3):
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode == 0:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"tmux new-session failed: {done.stderr}")
        return Terminal(session)

    try:
        yield open_terminal
    finally:
        for session in sessions:
            subprocess.run(
                ["tmux", "kill-session", "-t", session], check=False, capture_output=True
            )
