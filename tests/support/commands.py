"""The installed `opsconsole` run as a process, as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OPSCONSOLE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(cwd),
            "XDG_CONFIG_HOME": str(cwd / "xdg"),
            **(env or {}),
        },
        stdin=subprocess.DEVNULL,
    )


def drill(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OPSCONSOLE, "drill", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(cwd), **(env or {})},
        stdin=subprocess.DEVNULL,
    )


OPSCONSOLE = str(Path(sys.executable).parent / "opsconsole")
