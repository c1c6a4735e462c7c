"""The app in drill mode: the fault is injected unseen, the clock runs from the recorded
moment of injection, and what the trainee does is timed: the first breach seen, the
incident opened (marked DRILL), the right runbook started, the steady state held again.
At the end, whatever ends it, the fault is undone and the report is shown, saved and
recorded in the incident."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from textual import on
from textual.app import SystemCommand
from textual.message import Message
from textual.worker import Worker

from opsconsole.common.readable import duration
from opsconsole.drills.auto import SteadyStateCheck
from opsconsole.drills.faults import Fault, make_fault
from opsconsole.drills.model import Drill, DrillBook, target_problem
from opsconsole.drills.pending import default_directory as drills_directory
from opsconsole.drills.pending import done, write_pending
from opsconsole.drills.session import DrillSession
from opsconsole.incidents.model import Kind, Mode, Status
from opsconsole.incidents.store import StoreError
from opsconsole.monitoring.monitor import Monitor
from opsconsole.monitoring.snapshot import Breach
from opsconsole.tui.incident_desk import IncidentDesk
from opsconsole.tui.screens.drill_report import DrillReportScreen
from opsconsole.tui.screens.incident import ProposalDialog
from opsconsole.tui.screens.wizard import RunEnded

STEADY_CHECK_SECONDS = 2.0


@dataclass(frozen=True)
class DrillPlan:
    drill: Drill
    pending: Path
    """Where the record of how to undo the fault is written before it is injected."""
    reports: Path


class DrillStarted(Message):
    def __init__(self, at: datetime, said: str) -> None:
        super().__init__()
        self.at = at
        self.said = said


class DrillNotStarted(Message):
    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class SteadyChecked(Message):
    def __init__(self, why: str | None) -> None:
        super().__init__()
        self.why = why
        """Why the steady state does not hold; None when it does."""


class DrillDesk(IncidentDesk):
    def offer_drills(self, book: DrillBook | None) -> None:
        """The scenarios Ctrl+P offers, those this configuration allows."""
        self.drill_book = book

    def drill_commands(self) -> Iterable[SystemCommand]:
        if self.session is not None or self.drill_book is None:
            return
        for drill in self.drill_book.drills:
            if target_problem(self.config, drill) is None:
                yield SystemCommand(
                    f"Drill: {drill.title}",
                    f"Train on it: a real {drill.fault.kind} fault into {drill.target} (sandbox)",
                    partial(self._offer_drill, drill),
                )

    def _offer_drill(self, drill: Drill) -> None:
        def answered(start: bool | None) -> None:
            if start and self.session is None:
                pending = drills_directory()
                self.setup_drill(DrillPlan(drill, pending, pending / "reports"))
                self.start_drill()

        self.push_screen(
            ProposalDialog(
                f"Start the drill '{drill.title}'? A real {drill.fault.kind} fault goes into "
                f"{drill.target} now, unseen; the clock runs from then.",
                [drill.description, f"time limit {duration(drill.time_limit_seconds)}"],
            ),
            callback=answered,
        )

    def setup_drill(self, plan: DrillPlan | None) -> None:
        self.plan = plan
        self.session = DrillSession(plan.drill) if plan else None
        self._fault: Fault | None = None
        self._injection_over = threading.Event()
        """Set once inject() has returned or raised: an undo must not race it."""
        self._steady_broke = False
        self._record_path: Path | None = None
        self._watch: Worker[None] | None = None
        self.report_path: Path | None = None
        self._outside_drill = getattr(self, "_outside_drill", self.place)
        if plan is not None:
            self.add_class("-drill")
            self.place = f"DRILL {plan.drill.title} · {self._outside_drill}"
            self.sub_title = self.place

    def start_drill(self) -> None:
        if self.plan is not None:
            self.bind("h", "hint", description="Hint")
            self._watch = self.run_worker(self._inject_and_watch(self.plan), group="drill")
            self.set_interval(1.0, self._show_drill_clock)

    # -- the fault, off the screen ----------------------------------------------------------

    async def _inject_and_watch(self, plan: DrillPlan) -> None:
        monitor = Monitor(self.config)
        try:
            steady = SteadyStateCheck(plan.drill, self.config, monitor)
            if (why := await steady.check()) is not None:
                self.post_message(DrillNotStarted(f"the steady state does not hold: {why}"))
                return
            run = f"{plan.drill.id}-{datetime.now(UTC):%H%M%S}-{os.urandom(2).hex()}"
            try:
                fault = make_fault(plan.drill.fault, self.config, plan.drill.target, run)
                self._record_path = write_pending(
                    plan.pending, run, {**fault.record(), "drill": plan.drill.id}
                )
                self._fault = fault
                said = await asyncio.to_thread(self._inject, fault)
            except Exception as error:  # the sandbox refused it, or a server went away
                await self.undo_fault()  # whatever part of it went in
                self.post_message(DrillNotStarted(f"the fault could not be injected: {error}"))
                return
            self.post_message(DrillStarted(datetime.now(UTC), said))
            while True:
                self.post_message(SteadyChecked(await steady.check()))
                await asyncio.sleep(STEADY_CHECK_SECONDS)
        finally:
            await monitor.aclose()

    def _inject(self, fault: Fault) -> str:
        try:
            return fault.inject()
        finally:
            self._injection_over.set()

    @on(DrillNotStarted)
    def _not_started(self, message: DrillNotStarted) -> None:
        self.notify(f"The drill did not start: {message.reason}", severity="error", timeout=60)

    @on(DrillStarted)
    def _started(self, message: DrillStarted) -> None:
        if self.session is not None:
            self.session.injected_at = message.at  # the clock starts here, not at launch

    @on(SteadyChecked)
    def _steady_checked(self, message: SteadyChecked) -> None:
        session = self.session
        if session is None or session.ended is not None or session.injected_at is None:
            return
        now = datetime.now(UTC)
        # Broken as this check saw it, or as the dashboard did: a quick fix may come
        # between two of these checks.
        self._steady_broke |= message.why is not None or session.breach_seen is not None
        if message.why is None and self._steady_broke:
            session.first("recovered", now)
            self.run_worker(self.end_drill("the steady state holds again"), group="drill-end")
        elif session.since(now) > session.drill.time_limit_seconds:
            limit = duration(session.drill.time_limit_seconds)
            self.run_worker(self.end_drill(f"time is up ({limit})"), group="drill-end")

    def _show_drill_clock(self) -> None:
        if self.session is None or self.session.injected_at is None or self.session.ended:
            return
        clock = duration(self.session.since(datetime.now(UTC)))
        self.place = f"DRILL {self.session.drill.title} {clock} · {self._outside_drill}"
        self._show_incident()

    # -- what the trainee does ---------------------------------------------------------------

    def incident_mode(self) -> Mode:
        return "drill" if self.session is not None else "real"

    def incident_opened(self) -> None:
        session = self.session
        if session is None or self.incident is None:
            return
        session.first("incident_opened", datetime.now(UTC))
        session.incident = self.incident.id
        if session.injected_at is not None:
            self._record(Kind.DRILL, self._marker("fault injected"), announce=False)

    def breaches_seen(self, breaches: list[Breach]) -> None:
        if self.session is not None and any(
            b.subject == self.session.drill.target for b in breaches
        ):
            self.session.first("breach_seen", datetime.now(UTC))

    def runbook_started(self, runbook: str) -> None:
        if self.session is not None:
            self.session.runbook_started(runbook, datetime.now(UTC))

    def run_ended(self, message: RunEnded) -> None:
        if self.session is not None:
            self.session.steps_skipped += message.left_undone

    def action_hint(self) -> None:
        if self.session is not None and self.session.ended is None:
            self.notify(self.session.hint(), title="drill", timeout=20)

    def _marker(self, what: str) -> dict[str, object]:
        assert self.session is not None
        session = self.session
        injected = session.injected_at.isoformat() if session.injected_at else None
        return {
            "text": f"{what}: {session.drill.id} ({session.drill.fault.kind} on "
            f"{session.drill.target})",
            "scenario": session.drill.id,
            "injected_at": injected,
        }

    # -- the end -------------------------------------------------------------------------

    async def end_drill(self, why: str) -> None:
        """Undoes the fault, then reports: in the incident, on screen, in a file."""
        session, plan = self.session, self.plan
        if session is None or plan is None or session.ended is not None:
            return
        session.ended = session.since(datetime.now(UTC))
        if self._watch is not None:
            self._watch.cancel()
        said = await self.undo_fault()
        score, _ = session.score()
        opened_here = self.incident is None or self.incident.id != session.incident
        if opened_here:
            try:  # none opened by the trainee: the drill is on record all the same
                self.incident = self.incidents.open(
                    f"Drill: {session.drill.title}", "P3", self.who, mode="drill"
                )
            except (OSError, StoreError) as error:
                self.notify(f"The drill could not be recorded: {error}", severity="error")
            else:
                session.incident = self.incident.id
                self._record(Kind.DRILL, self._marker("fault injected"), announce=False)
        report = session.report()
        self._record(
            Kind.DRILL,
            {**self._marker(f"drill ended, {why}; score {score}/100"), "undone": said,
             "report": report},
            announce=False,
        )  # fmt: skip
        if opened_here and self.incident is not None and session.incident == self.incident.id:
            self._record_status(Status.RESOLVED, "the drill is over")
        self.place = f"DRILL over · {self._outside_drill}"
        self._show_incident()
        path = plan.reports / f"{session.incident or plan.drill.id}.md"
        try:
            plan.reports.mkdir(parents=True, exist_ok=True)
            path.write_text(report)
            self.report_path = path
        except OSError as error:
            self.notify(f"The report could not be saved: {error}", severity="error")
        self.push_screen(DrillReportScreen(report, self.report_path, why))

    async def undo_fault(self) -> str:
        """Undoes the fault, once its injection is over. One that cannot be undone now
        (its server is down) keeps its record: the next start undoes it."""
        if self._fault is None:
            return "nothing was injected"
        fault, self._fault = self._fault, None
        # An injection still under way (the app quit at that moment) finishes first.
        await asyncio.to_thread(self._injection_over.wait, 60)
        try:
            said = await asyncio.to_thread(fault.undo)
        except Exception as error:  # the world's failure: said, and kept on record
            said = f"NOT undone ({error}); the next start of opsconsole undoes it"
            self.notify(f"The drill's fault is still in place: {said}", severity="error")
            return said
        if self._record_path is not None:
            done(self._record_path)
        return said
