"""What recording costs: the time an incident event takes to be on disk (written and
fsynced under the file lock) before the console may show it, in the file store and in
the PostgreSQL store.
Run: .venv/bin/python bench/incident_append.py [--dsn postgresql://...] [--events N]
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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        report("file store", measure(FileStore(Path(directory)), args.events))
    if args.dsn:
        from opsconsole.incidents.postgres import PostgresStore

        store = PostgresStore(args.dsn)
        try:
            report("postgres store", measure(store, args.events))
        finally:
            store.close()


if __name__ == "__main__":
    main()
