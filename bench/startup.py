"""Seconds from launching `opsconsole demo` in a real terminal to every service shown UP.

This is what a user waits for: interpreter start, imports, demo fleet start, first
round of checks, first paint. Uses tmux at 80x24, as the end-to-end test does.
Run: .venv/bin/python bench/startup.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 5
OPSCONSOLE = str(Path(sys.executable).parent / "opsconsole")


def screen(session: str) -> str:
    return subprocess.run(
        ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True, check=False
    ).stdout


def one_run(number: int) -> float:
    session = f"opsconsole-bench-{number}"
    started = time.perf_counter()
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", OPSCONSOLE, "demo"],
        check=True,
    )
    try:
        while time.perf_counter() - started < 30:
            if screen(session).count("✔ UP") == 5:
                return time.perf_counter() - started
            time.sleep(0.02)
        raise RuntimeError("the demo never showed five services UP")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)


def main() -> None:
    times = [one_run(n) for n in range(RUNS)]
    print(
        f"opsconsole demo, launch to all 5 services UP at 80x24: "
        f"median {statistics.median(times):.2f} s, max {max(times):.2f} s ({RUNS} runs)"
    )


if __name__ == "__main__":
    main()
