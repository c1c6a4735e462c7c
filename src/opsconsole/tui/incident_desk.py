"""The app's incident side: opening one, writing into it, and what it shows and proposes.

Everything is written to the store before the screen says it happened. Shown: the open
incident in the header, escalation reminders by severity, the events other consoles add.
Proposed: MONITORING when a runbook's verifying check passes, RESOLVED once that check,
run again on its own clock, has held. The app class is built on this one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from textual import on
from textual.app import App, SystemCommand
from textual.message import Message
from textual.timer import Timer

from opsconsole.common.readable import age
from opsconsole.config.model import Config
from opsconsole.engine.probes import ConfiguredProbes
from opsconsole.incidents import escalation
from opsconsole.incidents.export import describe as describe_event
from opsconsole.incidents.holding import CheckResult, Hold, VerifyingCheck
from opsconsole.incidents.model import (
    SEVERITIES,
    SEVERITY_MEANINGS,
    Actor,
    Event,
    Incident,
    Kind,
    Mode,
    Status,
)
from opsconsole.incidents.recorder import IncidentRecorder
from opsconsole.incidents.store import IncidentStore, StoreError
from opsconsole.monitoring.board import Board
from opsconsole.monitoring.offers import describe, offers
from opsconsole.monitoring.snapshot import Breach
from opsconsole.runbooks.model import Library
from opsconsole.tui.screens.dashboard import BreachesChanged
from opsconsole.tui.screens.dialogs import NoteDialog
from opsconsole.tui.screens.incident import OpenIncidentDialog, ProposalDialog
from opsconsole.tui.screens.incidents import IncidentsScreen, JoinIncident
from opsconsole.tui.screens.wizard import RunEnded

FOLLOW_RETRY_MAX_SECONDS = 60.0


class IncidentChanged(Message):
    """Some console (this one too) appended to this incident."""

    def __init__(self, incident: str) -> None:
        super().__init__()
        self.incident = incident


class FollowingFailed(Message):
    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class CheckDone(Message):
    def __init__(self, hold: Hold, result: CheckResult) -> None:
        super().__init__()
        self.hold = hold
        self.result = result


class IncidentDesk(App[None]):
    config: Config
    board: Board
    library: Library | None
    place: str
    """Environment and host: the header's start, with or without an incident."""

    def setup_incidents(self, store: IncidentStore) -> None:
        self.incidents = store
        self.incident: Incident | None = None
        self.who = Actor.current()
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        """What time it is, for the header's age and the reminders: a test moves it."""
        self.hold: Hold | None = None
        self._hold_timer: Timer | None = None
        self.breaching: dict[tuple[str, str], Breach] = {}
        self._following_failed = False

    def start_incident_clocks(self) -> None:
        self.set_interval(30, self.incident_tick)
        self.run_worker(self._follow(), group="incidents-follow", exit_on_error=False)

    def incident_tick(self) -> None:
        """Every 30 s: the age in the header, and the reminders that have come due."""
        self._show_incident()
        self._remind()

    # -- the command palette -------------------------------------------------------------

    def incident_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand(
            "Incidents: list and timelines", "Every incident, and what happened in each",
            self.action_incidents,
        )  # fmt: skip
        incident = self.incident
        if incident is None or not incident.is_open:
            for other in self._open_elsewhere():
                yield SystemCommand(
                    f"Incident: join {other.id}",
                    f"{other.severity} {other.status}: {other.title}",
                    partial(self._join, other),
                )
            return
        for status in Status:
            if status is not incident.status:
                yield SystemCommand(
                    f"Incident: status → {status}",
                    f"Move {incident.id} to {status}",
                    partial(self._record_change, Kind.STATUS, str(status)),
                )
        for severity in SEVERITIES:
            if severity != incident.severity:
                yield SystemCommand(
                    f"Incident: severity → {severity}",
                    SEVERITY_MEANINGS[severity],
                    partial(self._record_change, Kind.SEVERITY, severity),
                )

    def _open_elsewhere(self) -> list[Incident]:
        try:
            return [i for i in self.incidents.incidents() if i.is_open]
        except (OSError, StoreError):
            return []  # the palette is no place for it: the incidents screen says why

    def action_incidents(self) -> None:
        self.push_screen(
            IncidentsScreen(self.incidents, self.incident.id if self.incident else None)
        )

    @on(JoinIncident)
    def _joined(self, message: JoinIncident) -> None:
        self._join(message.incident)

    def _join(self, incident: Incident) -> None:
        self.incident = incident
        self._show_incident()
        self.notify(f"Working incident {incident.id}: what you do here is recorded in it.")
        self._remind()

    # -- opening, changing, noting -------------------------------------------------------

    def action_incident(self) -> None:
        """Opens an incident, filled in from what breaches; with one open, adds a note."""
        if self.incident is not None and self.incident.is_open:

            def noted(text: str | None) -> None:
                if text:
                    self._record(Kind.NOTE, {"text": text})

            self.push_screen(
                NoteDialog(f"note: {self.incident.title}", "What did you see or do?", "cancels"),
                callback=noted,
            )
            return
        breaches = self.board.breaches()
        found = offers(self.library, breaches) if self.library else []
        title = describe(breaches[0]) if breaches else ""
        severity = found[0].runbook.severity if found else "P2"
        self.push_screen(OpenIncidentDialog(title, severity), callback=self._open_incident)

    def _open_incident(self, values: dict[str, str] | None) -> None:
        if values is None:
            return
        try:
            self.incident = self.incidents.open(
                values["title"],
                values["severity"],  # type: ignore[arg-type]
                self.who,
                mode=self.incident_mode(),
                impact=values["impact"],
                environment=self.config.console.environment,
            )
        except (OSError, StoreError) as error:
            self.notify(f"The incident could not be written: {error}", severity="error")
            return
        self._show_incident()
        self.notify(f"Incident {self.incident.id} opened: everything from now on is recorded.")
        for breach in self.breaching.values():  # what it was opened on: the "before"
            self._record(Kind.BREACH, _breach_data(breach, "seen"), announce=False)
        self.incident_opened()
        self._remind()

    # -- what a drill hooks into (nothing, outside one) -----------------------------------

    def incident_mode(self) -> Mode:
        return "real"

    def incident_opened(self) -> None:
        """An incident was opened here, and its opening recorded."""

    def breaches_seen(self, breaches: list[Breach]) -> None:
        """The dashboard's breaches changed."""

    def run_ended(self, message: RunEnded) -> None:
        """A runbook run in the wizard is over."""

    def _record_change(self, kind: Kind, to: str) -> None:
        assert self.incident is not None
        before = self.incident.status if kind is Kind.STATUS else self.incident.severity
        self._record(kind, {"from": str(before), "to": to})
        if kind is Kind.SEVERITY:
            self._remind()
        elif self.incident.status is not Status.MONITORING:
            self._stop_hold()

    def _record(self, kind: Kind, data: dict[str, Any], *, announce: bool = True) -> Event | None:
        """Written first; only then does the screen say so. None if it could not be."""
        if self.incident is None:
            return None
        try:
            event = self.incidents.append(self.incident.id, kind, data, self.who)
            self.incident = self.incidents.get(self.incident.id)
        except (OSError, StoreError) as error:
            self.notify(f"Not recorded: {error}", severity="error", timeout=30)
            return None
        self._show_incident()
        if announce:
            self.notify(f"Recorded in {self.incident.id}: {describe_event(event)}")
        return event

    def _show_incident(self) -> None:
        incident = self.incident
        if incident is None or not incident.is_open:
            self.sub_title = self.place
            return
        started = (self.clock() - incident.started).total_seconds()
        holding = ""
        if self.hold is not None and self.hold.since is not None:
            held = self.hold.held_seconds(self.clock())
            holding = f" (held {age(held)} of {age(self.hold.hold_seconds)})"
        # Redrawn every 30 s: seconds here would sit at "0s", then jump to "30s".
        opened = age(started) if started >= 60 else "<1m"
        self.sub_title = (
            f"{self.place} · ▲ {incident.severity} {incident.status}{holding} "
            f"{opened} · {incident.title}"
        )

    def recorder_for_run(self) -> IncidentRecorder | None:
        if self.incident is None or not self.incident.is_open:
            return None
        return IncidentRecorder(self.incidents, self.incident.id, self.who)

    # -- escalation ----------------------------------------------------------------------

    def _remind(self) -> None:
        if self.incident is None:
            return
        for reminder in escalation.due(self.incident, self.clock()):
            if self._record(Kind.ESCALATION, reminder.to_json(), announce=False) is None:
                return  # not on record: shown again when it can be
            self.notify(reminder.text, title="escalation", severity="warning", timeout=120)

    # -- breaches ------------------------------------------------------------------------

    @on(BreachesChanged)
    def _breaches_changed(self, message: BreachesChanged) -> None:
        now = {(b.subject, b.signal): b for b in message.breaches}
        if self.incident is not None and self.incident.is_open:
            for key, breach in now.items():
                if key not in self.breaching:
                    self._record(Kind.BREACH, _breach_data(breach, "seen"), announce=False)
            for key, breach in self.breaching.items():
                if key not in now:
                    self._record(Kind.BREACH, _breach_data(breach, "cleared"), announce=False)
        self.breaching = now
        self.breaches_seen(message.breaches)

    # -- proposals -----------------------------------------------------------------------

    @on(RunEnded)
    def _run_ended(self, message: RunEnded) -> None:
        self.run_ended(message)
        incident = self.incident
        if incident is None or incident.status not in (Status.INVESTIGATING, Status.IDENTIFIED):
            return
        if not message.verified:
            return
        verified = message.verified[-1]
        title = verified.step.title
        before = [f"{title}: {verified.failed_before}"] if verified.failed_before else []
        before += [describe_event(e) for e in incident.events if e.kind == Kind.BREACH][-3:]
        after = [f"{title}: {verified.passed.summary}", self._dashboard_now()]
        hold = self.config.incidents
        data = {
            "to": str(Status.MONITORING),
            "check": title,
            "runbook": message.runbook.id,
            "step": verified.step.id,
            "before": before,
            "after": after,
        }

        def answered(accepted: bool | None) -> None:
            if self._record(Kind.PROPOSAL, {**data, "accepted": bool(accepted)}) is None:
                return
            if not accepted:
                return
            self._record_status(Status.MONITORING, f"verifying check '{title}' passed")
            check = VerifyingCheck(
                message.runbook,
                verified.step,
                message.result.values,
                self.config.console.environment,
                ConfiguredProbes(self.config),
            )
            self.hold = Hold(check, hold.hold_minutes * 60, verified.passed)
            self._arm_hold()

        lines = [f"before: {line}" for line in before] + [f"after: {line}" for line in after]
        lines.append(
            f"It is then run every {hold.recheck_seconds:g} s; RESOLVED is proposed "
            f"once it has held {hold.hold_minutes:g} min."
        )
        self.push_screen(
            ProposalDialog(f"'{title}' passed. Move {incident.id} to MONITORING?", lines),
            callback=answered,
        )

    def _dashboard_now(self) -> str:
        if not self.breaching:
            return "dashboard: nothing breaches"
        return "dashboard: " + "; ".join(describe(b) for b in self.breaching.values())

    def _record_status(self, to: Status, reason: str) -> None:
        assert self.incident is not None
        self._record(
            Kind.STATUS, {"from": str(self.incident.status), "to": str(to), "reason": reason}
        )

    def _arm_hold(self) -> None:
        """The next check once this one is back: checks never overlap."""
        if self.hold is not None:
            self._hold_timer = self.set_timer(self.config.incidents.recheck_seconds, self._recheck)

    def _stop_hold(self) -> None:
        self.hold = None
        if self._hold_timer is not None:
            self._hold_timer.stop()
            self._hold_timer = None
        self._show_incident()

    def _recheck(self) -> None:
        hold = self.hold
        if hold is None or self.incident is None or self.incident.status is not Status.MONITORING:
            self._stop_hold()
            return
        self.run_worker(self._run_check(hold), group="hold", exit_on_error=False)

    async def _run_check(self, hold: Hold) -> None:
        try:
            result = await hold.check.run()
        except Exception as error:  # the check's own breakage is a failed check, shown
            result = CheckResult(False, datetime.now(UTC), f"could not run: {error}")
        self.post_message(CheckDone(hold, result))

    @on(CheckDone)
    def _check_done(self, message: CheckDone) -> None:
        hold = self.hold
        if hold is not message.hold:
            return  # the hold ended while this check ran
        held = hold.held_seconds(message.result.at)
        outcome = hold.observe(message.result)
        self._show_incident()
        if outcome == "broken":
            data = {
                "check": hold.check.step.title,
                "summary": message.result.summary,
                "held": age(held),
            }
            self._record(Kind.CHECK, data, announce=False)
            self.notify(
                f"'{hold.check.step.title}' failed while MONITORING: {message.result.summary}. "
                "The hold starts again when it passes.",
                severity="warning",
                timeout=60,
            )
        if outcome == "held":
            self._propose_resolved(hold)
            return
        self._arm_hold()

    def _propose_resolved(self, hold: Hold) -> None:
        assert self.incident is not None
        assert hold.last is not None
        title = hold.check.step.title
        held = age(hold.held_seconds(hold.last.at))
        before = [f"{title}: {hold.first.summary} (when MONITORING began)"]
        after = [
            f"{title}: passed every time for {held} ({hold.passes} runs; "
            f"{hold.failures} failed before that)",
            f"last: {hold.last.summary}",
            self._dashboard_now(),
        ]
        data = {"to": str(Status.RESOLVED), "check": title, "before": before, "after": after}

        def answered(accepted: bool | None) -> None:
            if self._record(Kind.PROPOSAL, {**data, "accepted": bool(accepted)}) is None:
                self._arm_hold()
                return
            if accepted:
                self._record_status(Status.RESOLVED, f"'{title}' held for {held}")
                self._stop_hold()
            else:
                hold.restart(self.clock())
                self._arm_hold()

        self.push_screen(
            ProposalDialog(
                f"'{title}' has held for {held}. Resolve {self.incident.id}?",
                [*(f"before: {line}" for line in before), *(f"after: {line}" for line in after)],
            ),
            callback=answered,
        )

    # -- other consoles ------------------------------------------------------------------

    async def _follow(self) -> None:
        """Other consoles' events, as the store tells of them; a store that fails is
        retried, less and less often, and said once."""
        delay = 1.0
        while True:
            try:
                async for incident in self.incidents.changes():
                    delay = 1.0
                    self.post_message(IncidentChanged(incident))
            except (OSError, StoreError) as error:
                self.post_message(FollowingFailed(str(error)))
            await asyncio.sleep(delay)
            delay = min(delay * 2, FOLLOW_RETRY_MAX_SECONDS)

    @on(FollowingFailed)
    def _following_failed_(self, message: FollowingFailed) -> None:
        if not self._following_failed:
            self._following_failed = True
            self.notify(
                f"Other consoles' events cannot be followed: {message.reason}. Retrying.",
                severity="warning",
                timeout=30,
            )

    @on(IncidentChanged)
    def _incident_changed(self, message: IncidentChanged) -> None:
        self._following_failed = False
        for screen in self.screen_stack:
            if isinstance(screen, IncidentsScreen):
                screen.action_reload()
        try:
            fresh = self.incidents.get(message.incident)
        except (OSError, StoreError):
            return  # a torn write being set aside, or the store gone: the next change tells
        mine = self.incident
        if mine is not None and mine.id == fresh.id:
            known = mine.events[-1].seq if mine.events else 0
            self.incident = fresh
            for event in fresh.events:
                if event.seq > known and event.who != self.who:
                    self.notify(f"{event.who.name}: {describe_event(event)}", title=fresh.id)
            if fresh.status is not Status.MONITORING:
                self._stop_hold()
            self._show_incident()
        elif (mine is None or not mine.is_open) and _opened_elsewhere(fresh, self.who):
            self.notify(
                f"{fresh.events[0].who.name} opened incident {fresh.id}: {fresh.title} "
                f"({fresh.severity}). Ctrl+P 'Incident: join' works it here.",
                severity="warning",
                timeout=30,
            )


def _opened_elsewhere(incident: Incident, who: Actor) -> bool:
    return len(incident.events) == 1 and incident.events[0].who != who


def _breach_data(breach: Breach, state: str) -> dict[str, Any]:
    return {
        "state": state,
        "subject": breach.subject,
        "signal": breach.signal,
        "value": breach.value,
        "threshold": breach.threshold,
        "text": describe(breach),
    }
