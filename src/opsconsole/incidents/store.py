"""What every incident store does, whichever keeps the lines."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator
from typing import Any

from opsconsole.incidents.chain import Verification
from opsconsole.incidents.model import (
    Actor,
    Event,
    Incident,
    Kind,
    Mode,
    Severity,
    Status,
    fold,
    new_incident_id,
)


class StoreError(Exception):
    """The store cannot do what was asked; the message says why, in words."""


class UnknownIncident(StoreError, LookupError):
    pass


class IncidentExists(StoreError):
    """Another incident was given the same id: two ids drawn in one minute can meet."""


ID_ATTEMPTS = 5
LISTENING = ""
"""What `changes()` yields first, once nothing more can be missed."""


class IncidentStore(ABC):
    """Appends are durable when they return: the caller shows an event only after."""

    @abstractmethod
    def append(self, incident: str, kind: str, data: dict[str, Any], who: Actor) -> Event:
        """Write the next event of `incident` (which must exist) and return it."""

    @abstractmethod
    def _create(self, incident: str, data: dict[str, Any], who: Actor) -> Event:
        """Write the OPENED event of a new incident."""

    @abstractmethod
    def read(self, incident: str) -> Verification:
        """Every event of `incident`, checked against the chain."""

    @abstractmethod
    def ids(self) -> list[str]:
        """Every incident's id, oldest first."""

    def close(self) -> None:  # noqa: B027 -- most stores hold nothing open
        """Let go of what the store holds open."""

    async def changes(self, every: float = 1.0) -> AsyncGenerator[str]:
        """The id of each incident as any console appends to it (this one too), from now
        on; first LISTENING, once it is listening: what came before, the caller looks up
        itself. This default looks at every incident's fingerprint each `every` seconds;
        a store that can be told (LISTEN) does better."""
        seen = await asyncio.to_thread(self.fingerprints)
        yield LISTENING
        while True:
            await asyncio.sleep(every)
            now = await asyncio.to_thread(self.fingerprints)
            for incident, mark in now.items():
                if seen.get(incident) != mark:
                    yield incident
            seen = now

    def fingerprints(self) -> dict[str, object]:
        """Something per incident that changes when an event is appended to it."""
        return {incident: len(self.read(incident).events) for incident in self.ids()}

    def open(
        self,
        title: str,
        severity: Severity,
        who: Actor,
        *,
        mode: Mode = "real",
        impact: str = "",
        commander: str | None = None,
        **extra: Any,
    ) -> Incident:
        data = {
            "title": title,
            "severity": severity,
            "mode": mode,
            "status": Status.INVESTIGATING.value,
            "impact": impact,
            "commander": commander or who.name,
            **extra,
        }
        for attempt in range(ID_ATTEMPTS):
            try:
                return fold([self._create(new_incident_id(), data, who)])
            except IncidentExists:
                if attempt == ID_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def get(self, incident: str) -> Incident:
        found = self.read(self.resolve(incident))
        if not found.events:
            raise UnknownIncident(f"incident {incident} has no readable events")
        return fold(found.events)

    def incidents(self) -> list[Incident]:
        found = []
        for incident in self.ids():
            events = self.read(incident).events
            if events and events[0].kind == Kind.OPENED:
                found.append(fold(events))
        return found

    def resolve(self, prefix: str) -> str:
        """The id that `prefix` starts, when only one does: ids are long to type at 3 a.m."""
        ids = self.ids()
        if prefix in ids:
            return prefix
        matches = [incident for incident in ids if incident.startswith(prefix)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise UnknownIncident(f"no incident {prefix}")
        raise UnknownIncident(f"{prefix} could be any of: {', '.join(matches)}")
