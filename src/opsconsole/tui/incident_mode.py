"""The incident side of the shell: the dialogs, toasts and clocks around the incident
session, which decides and records. Everything the session does runs on its own thread;
what it returns is shown here once it is on record."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from textual.signal import Signal
from textual.timer import Timer

from opsconsole.incidents.holding import CheckResult, Hold
from opsconsole.incidents.model import Incident, Kind, Severity, Status
from opsconsole.incidents.outcomes import Done, Proposal, RunEnd
from opsconsole.incidents.session import IncidentSession
from opsconsole.incidents.store import LISTENING, StoreError
from opsconsole.monitoring.poller import Polled
from opsconsole.tui.screens.dialogs import NoteDialog
from opsconsole.tui.screens.incident import OpenIncidentDialog, ProposalDialog

if TYPE_CHECKING:
    from opsconsole.tui.app import OpsConsoleApp

FOLLOW_RETRY_MAX_SECONDS = 60.0
TICK_SECONDS = 30.0
"""The header's age and the reminders: ages count minutes, reminders come by the minute."""


class IncidentMode:
    def __init__(self, app: OpsConsoleApp, session: IncidentSession) -> None:
        self.app = app
        self.session = session
        self.changed: Signal[str] = Signal(app, "incident-changed")
        """The id of each incident some console appended to: the incidents screen
        subscribes."""
        self._hold_timer: Timer | None = None
        self._following_failed = False

    def start(self) -> None:
        self.app.set_interval(TICK_SECONDS, self.tick)
        self.app.run_worker(self._follow(), group="incidents-follow", exit_on_error=False)

    # -- the session's work, then what it said ------------------------------------------

    def submit(self, method: Callable[..., Done], *args: Any) -> None:
        """Runs a session method on its thread, in the order asked, then shows its Done."""
        future = self.session.submit(method, *args)  # queued now: the order is kept

        async def shown() -> None:
            self.show(await future)

        self.app.run_worker(shown(), group="incident-session", exit_on_error=False)

    def show(self, done: Done) -> None:
        for said in done.said:
            self.app.notify(
                said.text,
                title=said.title,
                severity=said.severity,
                timeout=said.timeout,
            )
        self.app.show_header()
        if done.hold_started:
            self._arm_hold()
        elif self.session.proposals.hold is None:
            self._stop_hold_timer()
        if done.proposal is not None:
            self._propose(done.proposal)

    # -- what the operator does ------------------------------------------------------------

    def open_or_note(self) -> None:
        """Opens an incident, filled in from what breaches; with one open, adds a note."""
        incident = self.session.open_incident
        if incident is not None:

            def noted(text: str | None) -> None:
                if text:
                    self.submit(self.session.note, text)

            self.app.push_screen(
                NoteDialog(f"note: {incident.title}", "What did you see or do?", "cancels"),
                callback=noted,
            )
            return
        title, severity = self.session.draft()

        def filled(values: dict[str, str] | None) -> None:
            if values is not None:
                chosen: Severity = values["severity"]  # type: ignore[assignment]
                self.submit(self.session.open, values["title"], chosen, values["impact"])

        self.app.push_screen(OpenIncidentDialog(title, severity), callback=filled)

    def change(self, kind: Kind, to: str) -> None:
        """A new status or severity; RESOLVED only once confirmed: it ends the incident
        for every console, and a stray Enter in the palette must not."""
        incident = self.session.open_incident
        if kind is not Kind.STATUS or to != str(Status.RESOLVED) or incident is None:
            self.submit(self.session.change, kind, to)
            return

        def answered(resolve: bool | None) -> None:
            if resolve:
                self.submit(self.session.change, kind, to)

        lines = [f"{incident.severity} {incident.status}: {incident.title}"]
        if self.session.proposals.hold is not None:
            lines.append("Its verifying check is still being held: RESOLVED is proposed then.")
        self.app.push_screen(ProposalDialog(f"Resolve {incident.id}?", lines), answered)

    def join(self, incident: Incident) -> None:
        self.submit(self.session.join, incident)

    def tick(self) -> None:
        """Every 30 s: the age in the header, and the reminders that have come due."""
        self.app.show_header()
        self.submit(self.session.remind)

    def polled(self, polled: Polled) -> None:
        if polled.breaches is not None:
            self.submit(self.session.breaches_changed, polled.breaches)

    def runbook_started(self, runbook: str) -> None:
        self.session.runbook_started(runbook)

    def run_ended(self, end: RunEnd) -> None:
        self.submit(self.session.run_ended, end)

    # -- proposals and the hold -----------------------------------------------------------

    def _propose(self, proposal: Proposal) -> None:
        def answered(accepted: bool | None) -> None:
            self.submit(self.session.proposals.answer, proposal, bool(accepted))

        self.app.push_screen(ProposalDialog(proposal.question, proposal.lines), answered)

    def _arm_hold(self) -> None:
        """The next check once this one is back: checks never overlap."""
        self._stop_hold_timer()
        hold = self.session.proposals.hold
        if hold is not None:
            seconds = self.session.config.incidents.recheck_seconds
            self._hold_timer = self.app.set_timer(seconds, lambda: self._recheck(hold))

    def _stop_hold_timer(self) -> None:
        if self._hold_timer is not None:
            self._hold_timer.stop()
            self._hold_timer = None

    def _recheck(self, hold: Hold) -> None:
        if self.session.proposals.hold is hold:
            self.app.run_worker(self._run_check(hold), group="hold", exit_on_error=False)

    async def _run_check(self, hold: Hold) -> None:
        try:
            result = await hold.check.run()
        except Exception as error:  # the check's own breakage is a failed check, shown
            result = CheckResult(False, datetime.now(UTC), f"could not run: {error}")
        self.submit(self.session.proposals.check_done, hold, result)

    # -- other consoles ----------------------------------------------------------------------

    async def _follow(self) -> None:
        """Other consoles' events, as the store tells of them; a store that fails is
        retried, less and less often, and said once."""
        delay = 1.0
        while True:
            try:
                async for incident in self.session.store.changes():
                    delay = 1.0
                    self._following_failed = False
                    if incident == LISTENING:
                        self.submit(self.session.catch_up)
                        continue
                    self.changed.publish(incident)
                    self.submit(self.session.incident_changed, incident)
            except (OSError, StoreError) as error:
                if not self._following_failed:
                    self._following_failed = True
                    self.app.notify(
                        f"Other consoles' events cannot be followed: {error}. Retrying.",
                        severity="warning",
                        timeout=30,
                    )
            await asyncio.sleep(delay)
            delay = min(delay * 2, FOLLOW_RETRY_MAX_SECONDS)
