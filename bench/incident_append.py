"""What recording costs: the time an incident event takes to be on disk (written and
fsynced under the file lock) before the console may show it, in the file store and in
the PostgreSQL store.
Run: .venv/bin/python bench/incident_append.py [--postgres | --dsn postgresql://...]
--postgres starts a PostgreSQL of its own on loopback (fsync on, as in production).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opsconsole.incidents.files import FileStore
from opsconsole.incidents.model import Actor
from opsconsole.incidents.store import IncidentStore


def measure(store: IncidentStore, events: int) -> list[float]:
    who = Actor.current()
    incident = store.open("bench", "P3", who, mode="test").id
    output = [f"line {n} of a step's output" for n in range(20)]
    took = []
    for number in range(events):
        started = time.perf_counter()
        store.append(
            incident,
            "runbook.step_finished",
            {"step": f"s{number}", "exit_code": 0, "output": output},
            who,
        )
        took.append(time.perf_counter() - started)
    return took


def report(name: str, took: list[float]) -> None:
    ms = sorted(t * 1000 for t in took)
    print(
        f"{name}: {len(ms)} events with 20 lines of output each: "
        f"median {statistics.median(ms):.2f} ms, p99 {ms[int(len(ms) * 0.99) - 1]:.2f} ms, "
        f"max {ms[-1]:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--dsn", help="also measure the PostgreSQL store on this database")
    parser.add_argument(
        "--postgres", action="store_true", help="start a PostgreSQL (fsync on) and measure it"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        report("file store", measure(FileStore(Path(directory)), args.events))
    with tempfile.TemporaryDirectory() as directory:
        follow_cost(FileStore(Path(directory)))
    if args.postgres:
        from tests.support.servers import PostgresServer

        server = PostgresServer(fsync=True).start()  # its own temp dir, removed on stop
        try:
            measure_postgres(server.dsn, args.events)
        finally:
            server.stop()
    elif args.dsn:
        measure_postgres(args.dsn, args.events)


def follow_cost(store: FileStore, incidents: int = 1000) -> None:
    """A console following other consoles' appends looks at every log once a second."""
    who = Actor.current()
    for _ in range(incidents):
        store.open("bench", "P4", who, mode="test")
    took = []
    for _ in range(50):
        started = time.perf_counter()
        store.fingerprints()
        took.append(time.perf_counter() - started)
    print(
        f"following the file store: one look at {incidents} incident logs takes "
        f"median {statistics.median(took) * 1000:.2f} ms (done once a second, off the loop)"
    )


def measure_postgres(dsn: str, events: int) -> None:
    from opsconsole.incidents.postgres import PostgresStore

    store = PostgresStore(dsn)
    try:
        report("postgres store", measure(store, events))
    finally:
        store.close()


if __name__ == "__main__":
    main()
