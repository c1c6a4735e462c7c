"""A runbook run, recorded into an incident as it happens.

The runner's events arrive here before any screen or terminal sees them (the recorder is
called first, and returns only once the store has the event). Output is not recorded line
by line: the artifact keeps all of it, and each finished step carries its last lines.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import replace

from opsconsole.engine.events import Event as RunEvent
from opsconsole.engine.events import Output, StepFinished, StepStarted
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

    def __call__(self, event: RunEvent) -> None:
        if isinstance(event, Output):
            # Already redacted by the runner, like everything else in its events.
            self._tail.extend(event.marked())
            return
        if isinstance(event, StepStarted):
            self._tail.clear()
        elif isinstance(event, StepFinished):
            event = replace(event, output=tuple(self._tail))
        try:
            self.store.append(
                self.incident, RUNBOOK_PREFIX + event.kind, event.to_record(), self.who
            )
        except (OSError, StoreError) as error:
            if self.failure is None:
                self.failure = f"not recorded in incident {self.incident}: {error}"
                if self.on_failure is not None:
                    self.on_failure(self.failure)


def chained(*records: Callable[[RunEvent], None]) -> Callable[[RunEvent], None]:
    """One record hook out of several, called in order: the incident first, then what
    shows the event."""

    def record(event: RunEvent) -> None:
        for each in records:
            each(event)

    return record
