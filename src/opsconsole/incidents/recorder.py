"""A runbook run, recorded into an incident as it happens.

The runner's events arrive here before any screen or terminal sees them (the recorder is
called first, and returns only once the store has the event). Output is not recorded line
by line: the artifact keeps all of it, and each finished step carries its last lines.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from typing import Any

from opsconsole.engine.events import Event as RunEvent
from opsconsole.engine.events import EventKind
from opsconsole.incidents.model import RUNBOOK_PREFIX, Actor
from opsconsole.incidents.store import IncidentStore, StoreError

LAST_LINES = 20


class IncidentRecorder:
    """`on_failure` hears, once, why an event could not be written: the run must then
    stop (Runner.stop), as nothing after it would be on record. Later events are still
    tried, as the store may come back, and are passed on to be shown either way."""

    def __init__(
        self,
        store: IncidentStore,
        incident: str,
        who: Actor,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.incident = incident
        self.who = who
        self.on_failure = on_failure
        self.failure: str | None = None
        """Why the first event that could not be written was not."""
        self._tail: deque[str] = deque(maxlen=LAST_LINES)
        self._command: str | None = None

    def __call__(self, event: RunEvent) -> None:
        if event.kind is EventKind.OUTPUT:
            # Already redacted by the runner, like everything else in its events.
            self._tail.extend(
                f"{'! ' if line.stream == 'stderr' else ''}{line.text}"
                for line in event.detail["lines"]
            )
            return
        data: dict[str, Any] = {"runbook": event.runbook, "step": event.step, **event.detail}
        if event.kind is EventKind.STEP_STARTED:
            self._tail.clear()
            self._command = event.detail.get("command")
        elif event.kind is EventKind.STEP_FINISHED:
            data["output"] = list(self._tail)
            if self._command and "command" not in data:
                data["command"] = self._command
        try:
            self.store.append(self.incident, RUNBOOK_PREFIX + event.kind, _plain(data), self.who)
        except (OSError, StoreError) as error:
            if self.failure is None:
                self.failure = f"not recorded in incident {self.incident}: {error}"
                if self.on_failure is not None:
                    self.on_failure(self.failure)


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """What JSON can hold: paths and times as text."""
    return dict(json.loads(json.dumps(data, default=str)))


def chained(*records: Callable[[RunEvent], None]) -> Callable[[RunEvent], None]:
    """One record hook out of several, called in order: the incident first, then what
    shows the event."""

    def record(event: RunEvent) -> None:
        for each in records:
            each(event)

    return record
