"""CPU of one Prometheus poll (three queries and the alerts), in the thread that runs it.

A real Prometheus scrapes 50 demo services (in a child process, so serving them costs the
measured thread nothing); the console's PrometheusSource asks it, as the dashboard does
every refresh. For comparison, the same poll through a plain requests session, which
reads the proxy and CA variables of the environment again at every request (its cost
grows with the size of the environment: the figure names how many variables there were).
Run: .venv/bin/python bench/prometheus_poll.py
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.servers import PrometheusServer

from opsconsole.config.model import PrometheusSection
from opsconsole.demo.fleet import DemoFleet, DemoServiceSpec
from opsconsole.sources.prometheus import PrometheusSource

SERVICES = 50
POLLS = 40
REPEATS = 5


def serve_fleet(commands: Connection) -> None:
    specs = tuple(DemoServiceSpec(f"svc-{n:02d}") for n in range(SERVICES))
    with DemoFleet(specs, traffic_rate=2) as fleet:
        commands.send([s.base_url.removeprefix("http://") for s in fleet.services.values()])
        commands.recv()


def cpu_per_poll(source: PrometheusSource) -> float:
    """Median over REPEATS of this thread's CPU milliseconds per poll."""
    source._poll()
    figures = []
    for _ in range(REPEATS):
        started = time.thread_time()
        for _ in range(POLLS):
            reading = source._poll()
        figures.append((time.thread_time() - started) / POLLS * 1000)
    assert len(reading.metrics) == SERVICES, sorted(reading.metrics)
    return statistics.median(figures)


def main() -> None:
    ours, theirs = multiprocessing.Pipe()
    fleet = multiprocessing.Process(target=serve_fleet, args=(theirs,), daemon=True)
    fleet.start()
    prometheus = PrometheusServer()
    try:
        prometheus.start()
        prometheus.scrape(*ours.recv())
        config = PrometheusSection(url=prometheus.url, window="1m")
        source = PrometheusSource(config)
        deadline = time.monotonic() + 60
        while len(source._poll().metrics) < SERVICES and time.monotonic() < deadline:
            time.sleep(1)
        shipped = cpu_per_poll(source)
        # The session as requests makes it: environment read at every request.
        source._session = plain = requests.Session()
        source._client._session = plain
        plain_figure = cpu_per_poll(source)
    finally:
        prometheus.cleanup()
        ours.send("stop")
        fleet.join(10)
    print(
        f"{SERVICES} services, {POLLS} polls x {REPEATS}, each 3 queries + alerts; "
        f"{len(os.environ)} environment variables"
    )
    print(f"console's session (environment read once)  {shipped:.2f} ms of CPU per poll")
    print(f"plain requests session                     {plain_figure:.2f} ms of CPU per poll")
    print(
        f"at one poll every 2 s: {shipped / 2 / 10:.2f} % of a core "
        f"(plain: {plain_figure / 2 / 10:.2f} %)"
    )


if __name__ == "__main__":
    main()
