"""One console's side of an incident: opening it, recording into it, the reminders it is
owed, what other consoles add, and (through its Proposals) the statuses its evidence
calls for. No Textual: each
method returns what happened (`Done`: what to tell the operator, a proposal to put to
them), and the shell shows it.

Everything is written to the store before it is returned, so nothing is shown that is not
on record. The store is read and written on one thread of the session's own (`submit`),
in the order things were asked: never on the loop that draws the screen, and never two
writes of this console racing each other."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from opsconsole.common.readable import age
from opsconsole.config.model import Config
from opsconsole.incidents import escalation
from opsconsole.incidents.export import describe as describe_event
from opsconsole.incidents.model import Actor, Event, Incident, Kind, Mode, Severity, Status
from opsconsole.incidents.outcomes import Done, Said
from opsconsole.incidents.outcomes import RunEnd as RunEnd
from opsconsole.incidents.proposals import Proposals
from opsconsole.incidents.recorder import IncidentRecorder
from opsconsole.incidents.store import IncidentStore, StoreError
from opsconsole.monitoring.offers import describe, offers
from opsconsole.monitoring.snapshot import Breach
from opsconsole.runbooks.model import Library

T = TypeVar("T")

CLOCK_SKEW = timedelta(minutes=1)


class SessionListener(Protocol):
    """What a drill hears of what the operator does. Called on the session's thread; a
    listener may record through the session and return what it did."""

    def incident_opened(self, session: IncidentSession) -> Done | None: ...

    def breaches_seen(self, breaches: list[Breach]) -> None: ...

    def runbook_started(self, runbook: str) -> None: ...

    def run_ended(self, end: RunEnd) -> None: ...


class IncidentSession:
    def __init__(
        self,
        store: IncidentStore,
        config: Config,
        library: Library | None = None,
        *,
        who: Actor | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.library = library
        self.who = who or Actor.current()
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        """What time it is, for the header's age and the reminders: a test moves it."""
        self.incident: Incident | None = None
        self.proposals = Proposals(self)
        self.breaching: dict[tuple[str, str], Breach] = {}
        self.mode: Mode = "real"
        self.listeners: list[SessionListener] = []
        self._announced: set[str] = set()
        """Incidents opened elsewhere that were already announced here."""
        self._since = self.clock()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="incident-store")

    # -- the session's thread ----------------------------------------------------------

    def submit(self, method: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Runs `method(*args)` on the session's thread, after what was submitted before;
        await the result on the loop."""
        return asyncio.get_running_loop().run_in_executor(self._thread, method, *args)

    def close(self) -> None:
        self._thread.shutdown(wait=True)

    # -- what is open here -------------------------------------------------------------

    @property
    def open_incident(self) -> Incident | None:
        incident = self.incident
        return incident if incident is not None and incident.is_open else None

    def header(self, place: str) -> str:
        """The header's text: where, and the incident worked here if one is open."""
        incident = self.open_incident
        if incident is None:
            return place
        started = (self.clock() - incident.started).total_seconds()
        holding, hold = "", self.proposals.hold
        if hold is not None and hold.since is not None:
            held = hold.held_seconds(self.clock())
            holding = f" (held {age(held)} of {age(hold.hold_seconds)})"
        # Redrawn every 30 s: seconds here would sit at "0s", then jump to "30s".
        opened = age(started) if started >= 60 else "<1m"
        return (
            f"{place} · ▲ {incident.severity} {incident.status}{holding} "
            f"{opened} · {incident.title}"
        )

    def draft(self) -> tuple[str, Severity]:
        """Title and severity to open one with: the first breach, the severity of the
        runbook offered for it (as the dashboard offers it: one that fits the service)."""
        breaches = list(self.breaching.values())
        services = {service.name: service for service in self.config.services}
        found = offers(self.library, breaches, services, self.config) if self.library else []
        title = describe(breaches[0]) if breaches else ""
        return title, found[0].runbook.severity if found else "P2"

    def recorder(self) -> IncidentRecorder | None:
        """Records a runbook run into the open incident, if there is one."""
        incident = self.open_incident
        if incident is None:
            return None
        return IncidentRecorder(self.store, incident.id, self.who)

    # -- on the session's thread: everything below reads or writes the store -----------

    def open(self, title: str, severity: Severity, impact: str) -> Done:
        try:
            self.incident = self.store.open(
                title,
                severity,
                self.who,
                mode=self.mode,
                impact=impact,
                environment=self.config.console.environment,
            )
        except (OSError, StoreError) as error:
            return Done([Said(f"The incident could not be written: {error}", "error")])
        done = Done(
            [Said(f"Incident {self.incident.id} opened: everything from now on is recorded.")]
        )
        for breach in self.breaching.values():  # what it was opened on: the "before"
            self.record(Kind.BREACH, breach_data(breach, "seen"), done, announce=False)
        for listener in self.listeners:
            done.merge(listener.incident_opened(self))
        return done.merge(self.remind())

    def record(
        self, kind: Kind, data: dict[str, Any], done: Done | None = None, *, announce: bool = True
    ) -> Event | None:
        """Written first; only then said. None (and said why) if it could not be."""
        done = done if done is not None else Done()
        if self.incident is None:
            return None
        try:
            event = self.store.append(self.incident.id, kind, data, self.who)
        except (OSError, StoreError) as error:
            done.said.append(Said(f"Not recorded: {error}", "error", timeout=30))
            return None
        self.incident = self.incident.with_event(event)
        if announce:
            done.said.append(Said(f"Recorded in {self.incident.id}: {describe_event(event)}"))
        return event

    def note(self, text: str) -> Done:
        done = Done()
        self.record(Kind.NOTE, {"text": text}, done)
        return done

    def change(self, kind: Kind, to: str) -> Done:
        """A new status or severity, as the operator chose it."""
        done = Done()
        if self.incident is None:
            return done
        before = self.incident.status if kind is Kind.STATUS else self.incident.severity
        self.record(kind, {"from": str(before), "to": to}, done)
        if kind is Kind.SEVERITY:
            return done.merge(self.remind())
        if self.incident.status is not Status.MONITORING:
            self.proposals.hold = None
        return done

    def remind(self) -> Done:
        """The escalation reminders that have come due, each recorded as it is shown."""
        done = Done()
        if self.incident is None:
            return done
        for reminder in escalation.due(self.incident, self.clock()):
            if self.record(Kind.ESCALATION, reminder.to_json(), done, announce=False) is None:
                return done  # not on record: shown again when it can be
            done.said.append(Said(reminder.text, "warning", "escalation", 120))
        return done

    def breaches_changed(self, breaches: list[Breach]) -> Done:
        """What breaches now: each start and end recorded while an incident is open."""
        done = Done()
        now = {(b.subject, b.signal): b for b in breaches}
        if self.open_incident is not None:
            for key, breach in now.items():
                if key not in self.breaching:
                    self.record(Kind.BREACH, breach_data(breach, "seen"), done, announce=False)
            for key, breach in self.breaching.items():
                if key not in now:
                    self.record(Kind.BREACH, breach_data(breach, "cleared"), done, announce=False)
        self.breaching = now
        for listener in self.listeners:
            listener.breaches_seen(breaches)
        return done

    def open_elsewhere(self) -> list[Incident]:
        """The open incidents this console could join."""
        if self.open_incident is not None:
            return []
        try:
            return [i for i in self.store.incidents() if i.is_open]
        except (OSError, StoreError):
            return []  # the palette is no place for it: the incidents screen says why

    def join(self, incident: Incident) -> Done:
        self.incident = incident
        done = Done([Said(f"Working incident {incident.id}: what you do here is recorded in it.")])
        return done.merge(self.remind())

    def catch_up(self) -> Done:
        """Once other consoles' events are followed: what was opened elsewhere since this
        console started, and not yet announced, is announced now (a following that was
        not yet listening, or was cut off, would otherwise never tell of it)."""
        done = Done()
        if self.open_incident is not None:
            return done
        try:
            found = [i for i in self.store.incidents() if i.is_open]
        except (OSError, StoreError):
            return done
        for incident in sorted(found, key=lambda i: i.started):
            done.merge(self.incident_changed(incident.id))
        return done

    def incident_changed(self, incident_id: str) -> Done:
        """Some console (this one too) appended to `incident_id`: what others did is said;
        an incident opened elsewhere is announced once."""
        done = Done()
        try:
            fresh = self.store.get(incident_id)
        except (OSError, StoreError):
            return done  # a torn write being set aside, or the store gone: the next change tells
        mine = self.incident
        if mine is not None and mine.id == fresh.id:
            known = {event.seq for event in mine.events}
            self.incident = fresh
            for event in fresh.events:
                if event.seq not in known and event.who != self.who:
                    done.said.append(
                        Said(f"{event.who.name}: {describe_event(event)}", title=fresh.id)
                    )
            if fresh.status is not Status.MONITORING:
                self.proposals.hold = None
        elif self.open_incident is None and fresh.is_open and fresh.id not in self._announced:
            opener = fresh.events[0].who
            # Opened since this console started (another host's clock may be a little
            # off): one opened long ago is for the incidents screen, not a toast.
            if opener != self.who and fresh.started >= self._since - CLOCK_SKEW:
                self._announced.add(fresh.id)
                done.said.append(
                    Said(
                        f"{opener.name} opened incident {fresh.id}: {fresh.title} "
                        f"({fresh.severity}). Ctrl+P 'Incident: join' works it here.",
                        "warning",
                        timeout=30,
                    )
                )
        return done

    # -- runs, and the statuses their evidence calls for -------------------------------

    def runbook_started(self, runbook: str) -> None:
        for listener in self.listeners:
            listener.runbook_started(runbook)

    def run_ended(self, end: RunEnd) -> Done:
        for listener in self.listeners:
            listener.run_ended(end)
        return self.proposals.after_run(end)


def breach_data(breach: Breach, state: str) -> dict[str, Any]:
    return {
        "state": state,
        "subject": breach.subject,
        "signal": breach.signal,
        "value": breach.value,
        "threshold": breach.threshold,
        "text": describe(breach),
    }
