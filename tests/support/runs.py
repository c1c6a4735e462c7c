"""A runbook run's events, as a test reads them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from opsconsole.engine.control import RunOptions
from opsconsole.engine.events import Event
from opsconsole.engine.operator import Operator
from opsconsole.engine.runner import Runner, RunResult
from opsconsole.runbooks.model import Runbook

E = TypeVar("E", bound=Event)


def of_kind(events: list[Event], kind: type[E]) -> list[E]:
    return [event for event in events if isinstance(event, kind)]


async def run_collecting(
    runbook: Runbook, operator: Operator, artifacts: Path, **options: Any
) -> tuple[RunResult, list[Event]]:
    """The run's result and every event it emitted, in order."""
    events: list[Event] = []
    runner = Runner(
        runbook, {}, operator, events.append,
        RunOptions(environment="staging", artifacts=artifacts, **options),
    )  # fmt: skip
    return await runner.run(), events
