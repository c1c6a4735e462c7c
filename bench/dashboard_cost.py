"""What the dashboard costs while it sits open: CPU of the console process and bytes per
second written to the terminal, at 120x40 with 50 services refreshing every 2 s.

The 50 services are real demo HTTP servers under steady traffic, in a child process of
their own; the console reads their health and /metrics as it would any fleet. It runs in
a pseudo-terminal whose output is counted byte by byte, after a warm-up (75 s by default;
`--warmup 3` for the first minute, when the engineer is watching). Targets (issues 3
and 15): under 1.5 % of one core, under 1.5 KB/s, from the first second.
With --metrics prometheus (the default) a real Prometheus scrapes the fleet and the
console asks it three queries a refresh; with --metrics scrape the console reads every
service's /metrics itself. Last, how fast this machine runs plain Python: machines of one
kind differ by half, and so do the figures.
Run: .venv/bin/python bench/dashboard_cost.py [--metrics prometheus|scrape|none] [--services N]
"""

from __future__ import annotations

import argparse
import fcntl
import multiprocessing
import os
import pty
import select
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.servers import PrometheusServer

from opsconsole.demo.fleet import DemoFleet, DemoServiceSpec

SERVICES = 50
COLUMNS, ROWS = 120, 40
OPSCONSOLE = str(Path(sys.executable).parent / "opsconsole")
TICKS = os.sysconf("SC_CLK_TCK")
WINDOW_SECONDS = 10.0


def serve_fleet(size: int, commands: Connection) -> None:
    specs = tuple(DemoServiceSpec(f"svc-{n:02d}", latency=0.02 + n * 0.004) for n in range(size))
    with DemoFleet(specs, traffic_rate=2) as fleet:
        commands.send([(s.name, s.health_url, s.base_url) for s in fleet.services.values()])
        commands.recv()


def config_file(
    services: list[tuple[str, str, str]], directory: Path, metrics: str, prometheus_url: str
) -> Path:
    lines = ['[console]\nenvironment = "bench"\nrefresh_seconds = 2\n']
    if metrics == "prometheus":
        lines.append(f'[prometheus]\nurl = "{prometheus_url}"\nwindow = "1m"\n')
    for name, health_url, base_url in services:
        lines.append(f'[[services]]\nname = "{name}"\nhealth_url = "{health_url}"\n')
        if metrics == "scrape":
            lines.append(f'metrics_url = "{base_url}/metrics"\n')
    path = directory / "opsconsole.toml"
    path.write_text("\n".join(lines))
    return path


class Terminal:
    """A pty of a fixed size whose output is drained and counted in a thread."""

    def __init__(self, argv: list[str]) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        env = dict(os.environ, TERM="xterm-256color", COLORTERM="truecolor")
        self.process = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        self.master = master
        self.written = 0
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    self.written += len(os.read(self.master, 65536))
                except OSError:
                    return

    def cpu_seconds(self) -> float:
        return sum(self.cpu_split())

    def cpu_split(self) -> tuple[float, float]:
        """User and system seconds: in the kernel is mostly the loopback network."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) / TICKS, int(fields[12]) / TICKS  # utime, stime

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self._stop.set()
        self._reader.join(2)
        os.close(self.master)


def python_speed() -> float:
    """Milliseconds this machine takes for a fixed piece of plain Python (dicts, strings,
    floats, as the console's own work): machines of one kind differ by half, and figures
    taken on two of them compare only with this beside them."""
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        cells: dict[tuple[int, int], str] = {}
        for n in range(200_000):
            cells[(n % 50, n % 10)] = f"{n / 7:.2g}"
        best = min(best, time.process_time() - started)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warmup", type=float, default=75.0)
    parser.add_argument(
        "--prometheus-warmup",
        type=float,
        default=75.0,
        help="seconds Prometheus scrapes the fleet before the console starts",
    )
    parser.add_argument("--measure", type=float, default=60.0)
    parser.add_argument(
        "--metrics",
        choices=("prometheus", "scrape", "none"),
        default="prometheus",
        help="where P95 and error rates come from (none: health checks and drawing only)",
    )
    parser.add_argument(
        "--services", type=int, default=SERVICES, help="1 shows what the console costs idle"
    )
    args = parser.parse_args()

    ours, theirs = multiprocessing.Pipe()
    fleet = multiprocessing.Process(target=serve_fleet, args=(args.services, theirs), daemon=True)
    fleet.start()
    services = ours.recv()
    prometheus = PrometheusServer()
    if args.metrics == "prometheus":
        # The production set-up: Prometheus scrapes the fleet, the console asks it.
        prometheus.start()
        prometheus.scrape(*(base_url.removeprefix("http://") for _, _, base_url in services))
        # As in production, Prometheus has been scraping long before the console opens:
        # a Prometheus started with it would still be filling its window in the first
        # minute, and every figure would move with it.
        time.sleep(args.prometheus_warmup)
    with tempfile.TemporaryDirectory() as directory:
        config = config_file(services, Path(directory), args.metrics, prometheus.url)
        terminal = Terminal([OPSCONSOLE, "--config", str(config)])
        try:
            time.sleep(args.warmup)
            cpu, written, started = terminal.cpu_seconds(), terminal.written, time.monotonic()
            _, system = terminal.cpu_split()
            # The CPU of each 10 s as well: this machine's neighbours make single runs
            # differ by a quarter, and the spread says how far to trust one figure.
            windows, last_cpu, last_time = [], cpu, started
            sent, last_written = [], written
            while (now := time.monotonic()) - started < args.measure:
                time.sleep(min(WINDOW_SECONDS, args.measure - (now - started)))
                now_cpu, now = terminal.cpu_seconds(), time.monotonic()
                windows.append((now_cpu - last_cpu) / (now - last_time) * 100)
                sent.append((terminal.written - last_written) / (now - last_time) / 1024)
                last_cpu, last_time, last_written = now_cpu, now, terminal.written
            elapsed = time.monotonic() - started
            cpu = terminal.cpu_seconds() - cpu
            system = terminal.cpu_split()[1] - system
            written = terminal.written - written
        finally:
            terminal.close()
            prometheus.cleanup()
    ours.send("stop")
    fleet.join(10)
    print(
        f"dashboard, {args.services} service{'s' * (args.services != 1)}, metrics: {args.metrics}, "
        f"{COLUMNS}x{ROWS}, refresh 2 s, "
        f"{args.measure:.0f} s after {args.warmup:.0f} s warm-up: "
        f"CPU {cpu / elapsed * 100:.2f} % of one core "
        f"({system / elapsed * 100:.2f} in the kernel), "
        f"{written / elapsed / 1024:.2f} KB/s to the terminal; "
        f"by {WINDOW_SECONDS:.0f} s: {' '.join(f'{w:.2f}' for w in windows)} % and "
        f"{' '.join(f'{k:.2f}' for k in sent)} KB/s; "
        f"this machine's Python speed: {python_speed():.0f} ms"
    )


if __name__ == "__main__":
    main()
