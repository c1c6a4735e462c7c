"""How long the console takes to show its first frame, beside a hello-world Textual app
measured in the same run on the same machine: the ratio is the figure (target: at most
1.3x, issue 15). Both run in a real pseudo-terminal at 80x24, launched as a user launches
them; the clock stops when the terminal has been sent the frame's text (the dashboard's
table header, the hello app's greeting). The console's first frame is drawn before its
configuration is loaded: the bench also says when every service's row is on screen. Runs
alternate, so a busy moment of the machine costs both alike. Also: `import
opsconsole.cli.main` alone, and `opsconsole --version`.

Run: .venv/bin/python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import fcntl
import multiprocessing
import os
import pty
import re
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opsconsole.demo.fleet import DemoFleet

BIN = Path(sys.executable).parent
OPSCONSOLE = str(BIN / "opsconsole")
COLUMNS, ROWS = 80, 24
ESCAPES = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")
HELLO = """
from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Static

class Hello(App[None]):
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Hello, world")
        yield Footer()

Hello().run()
"""


def serve_fleet(commands: Connection) -> None:
    """The five demo services, in a process of their own: the console reads them as it
    would any fleet, and their servers cost its start-up nothing."""
    with DemoFleet(traffic_rate=0) as fleet:
        commands.send([(s.name, s.health_url) for s in fleet.services.values()])
        commands.recv()


def first_frame(argv: list[str], marker: bytes, env: dict[str, str]) -> float:
    """Seconds from launch until the terminal has been sent `marker` (escapes aside)."""
    return shown(argv, [marker], env)[0]


def shown(argv: list[str], markers: list[bytes], env: dict[str, str]) -> list[float]:
    """Seconds from launch until the terminal has been sent each of `markers`."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
    )
    os.close(slave)
    seen = b""
    found: list[float] = []
    try:
        while time.perf_counter() - started < 30:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                seen += os.read(master, 65536)
                text = ESCAPES.sub(b"", seen)
                while len(found) < len(markers) and markers[len(found)] in text:
                    found.append(time.perf_counter() - started)
                if len(found) == len(markers):
                    return found
        raise RuntimeError(f"{argv[0]} never showed {markers[len(found)]!r}")
    finally:
        process.terminate()
        process.wait(10)
        os.close(master)


def seconds_of(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    ours, theirs = multiprocessing.Pipe()
    fleet = multiprocessing.Process(target=serve_fleet, args=(theirs,), daemon=True)
    fleet.start()
    services = ours.recv()
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        config = directory / "opsconsole.toml"
        config.write_text(
            '[console]\nenvironment = "bench"\n\n'
            + "\n".join(
                f'[[services]]\nname = "{name}"\nhealth_url = "{url}"\n' for name, url in services
            )
        )
        hello = directory / "hello.py"
        hello.write_text(HELLO)
        env = dict(
            os.environ,
            TERM="xterm-256color",
            COLORTERM="truecolor",
            XDG_STATE_HOME=str(directory / "state"),  # never the user's own incidents
        )
        console = [OPSCONSOLE, "--config", str(config)]
        greeting = [sys.executable, str(hello)]
        first_frame(console, b"SERVICE", env)  # warm the page cache for both
        first_frame(greeting, b"Hello, world", env)
        ours_s, rows_s, theirs_s = [], [], []
        last = services[-1][0].encode()
        for _ in range(args.runs):
            frame, rows = shown(console, [b"SERVICE", last], env)
            ours_s.append(frame)
            rows_s.append(rows)
            theirs_s.append(first_frame(greeting, b"Hello, world", env))
        imports = [
            seconds_of([sys.executable, "-c", "import opsconsole.cli.main"])
            for _ in range(args.runs)
        ]
        version = [seconds_of([OPSCONSOLE, "--version"]) for _ in range(args.runs)]
        bare = [seconds_of([sys.executable, "-c", "pass"]) for _ in range(args.runs)]
    ours.send("stop")
    fleet.join(10)

    console_s, hello_s = statistics.median(ours_s), statistics.median(theirs_s)
    print(f"first frame at {COLUMNS}x{ROWS}, median of {args.runs} runs each, alternating:")
    print(f"  opsconsole, 5 services:  {console_s:.3f} s (max {max(ours_s):.3f})")
    print(f"  hello-world Textual app: {hello_s:.3f} s (max {max(theirs_s):.3f})")
    print(f"  ratio: {console_s / hello_s:.2f}x (target: at most 1.3x)")
    print(
        f"  then every service's row, the configuration loaded: {statistics.median(rows_s):.3f} s"
    )
    print(
        f"python -c 'import opsconsole.cli.main': {statistics.median(imports):.3f} s; "
        f"opsconsole --version: {statistics.median(version):.3f} s; "
        f"python -c pass: {statistics.median(bare):.3f} s"
    )


if __name__ == "__main__":
    main()
