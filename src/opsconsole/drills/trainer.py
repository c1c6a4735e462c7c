"""A trainee's drill, without a screen: the fault injected unseen, the clock running from
the recorded moment of injection, what the trainee does timed (it hears the incident
session as a `SessionListener`: the first breach seen, the incident opened, the runbook
started, the run ended), and at the end, whatever ends it, the fault undone and the report
written and recorded in the incident. The shell only starts it, shows its clock and its
report."""

from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from opsconsole.common.readable import duration
from opsconsole.config.model import Config
from opsconsole.drills.fault import Fault
from opsconsole.drills.faults import make_fault
from opsconsole.drills.model import Drill, DrillPlan
from opsconsole.drills.pending import done as record_done
from opsconsole.drills.pending import write_pending
from opsconsole.drills.scorecard import Run, Scorecard
from opsconsole.drills.steady import SteadyStateCheck
from opsconsole.incidents.model import Kind, Status
from opsconsole.incidents.outcomes import Done, RunEnd, Said
from opsconsole.incidents.session import IncidentSession
from opsconsole.incidents.store import StoreError
from opsconsole.monitoring.monitor import Monitor
from opsconsole.monitoring.snapshot import Breach

STEADY_CHECK_SECONDS = 2.0


@dataclass(frozen=True)
class DrillEnd:
    why: str
    report: str
    path: Path | None
    """Where the report was saved; None if it could not be (said why)."""
    said: list[Said]


class Trainer:
    def __init__(
        self, plan: DrillPlan, config: Config, session: IncidentSession, *, monitor: Monitor
    ) -> None:
        """`monitor` is the drill's own, for its steady-state checks: never the app's,
        whose polls the trainee watches."""
        self.plan = plan
        self.config = config
        self.session = session
        self.monitor = monitor
        fixing = session.library.get(plan.drill.runbook) if session.library else None
        self.card = Scorecard(plan.drill, fixing.title if fixing else "")
        self._fault: Fault | None = None
        self._injection_over = threading.Event()
        """Set once inject() has returned or raised: an undo must not race it."""
        self._record_path: Path | None = None
        self._running = 0
        """Runs started and not yet ended."""
        session.mode = "drill"
        session.listeners.append(self)

    @property
    def drill(self) -> Drill:
        return self.plan.drill

    def place(self, outside: str, now: datetime) -> str:
        """The header's start: DRILL, its clock, then where the console is."""
        card = self.card
        if card.ended is not None:
            return f"DRILL over · {outside}"
        clock = f" {duration(card.since(now))}" if card.injected_at is not None else ""
        return f"DRILL {self.drill.title}{clock} · {outside}"

    def hint(self) -> str | None:
        return self.card.hint() if self.card.ended is None else None

    # -- the fault, off the screen ---------------------------------------------------------

    async def start(self) -> str | None:
        """Checks the steady state, then injects the fault; why it did not start, if not."""
        steady = SteadyStateCheck(self.drill, self.config, self.monitor)
        if (why := await steady.check()) is not None:
            return f"the steady state does not hold: {why}"
        run = f"{self.drill.id}-{datetime.now(UTC):%H%M%S}-{os.urandom(2).hex()}"
        try:
            fault = make_fault(self.drill.fault, self.config, self.drill.target, run)
            self._record_path = write_pending(
                self.plan.pending, run, {**fault.record(), "drill": self.drill.id}
            )
            self._fault = fault
            await asyncio.to_thread(self._inject, fault)
        except Exception as error:  # the sandbox refused it, or a server went away
            await self.undo_fault()  # whatever part of it went in
            return f"the fault could not be injected: {error}"
        self.card.injected_at = datetime.now(UTC)  # the clock starts here, not at launch
        return None

    def _inject(self, fault: Fault) -> str:
        try:
            return fault.inject()
        finally:
            self._injection_over.set()

    async def watch(self) -> str:
        """Until the steady state holds again after it broke, or time is up: why it ended."""
        steady = SteadyStateCheck(self.drill, self.config, self.monitor)
        broke = False
        limit = self.drill.time_limit_seconds
        while True:
            why = await steady.check()
            # Broken as this check saw it, or as the dashboard did: a quick fix may come
            # between two of these checks.
            broke |= why is not None or self.card.breach_seen is not None
            now = datetime.now(UTC)
            if why is None and broke:
                self.card.first("recovered", now)
                # A run that brought it back has steps left (its verifying check, a note):
                # it ends first, or it would be scored as a run that did not complete.
                if self._running == 0 or self.card.since(now) > limit:
                    return "the steady state holds again"
            elif self.card.since(now) > limit:
                return f"time is up ({duration(limit)})"
            await asyncio.sleep(STEADY_CHECK_SECONDS)

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
            return f"NOT undone ({error}); the next start of opsconsole undoes it"
        if self._record_path is not None:
            record_done(self._record_path)
        return said

    async def end(self, why: str) -> DrillEnd:
        """Undoes the fault, then reports: in the incident, in a file."""
        card = self.card
        card.ended = card.since(datetime.now(UTC))
        undone = await self.undo_fault()
        said = []
        if undone.startswith("NOT undone"):
            said.append(Said(f"The drill's fault is still in place: {undone}", "error"))
        recorded = await self.session.submit(self._record_end, why, undone)
        said.extend(recorded.said)
        report = card.report()
        path: Path | None = self.plan.reports / f"{card.incident or self.drill.id}.md"
        assert path is not None
        try:
            await asyncio.to_thread(_write, path, report)
        except OSError as error:
            said.append(Said(f"The report could not be saved: {error}", "error"))
            path = None
        await self.monitor.aclose()
        return DrillEnd(why, report, path, said)

    def _record_end(self, why: str, undone: str) -> Done:
        """On the session's thread: the drill on record, in the trainee's incident or, if
        they opened none, in one of its own, resolved at once."""
        session, card = self.session, self.card
        done = Done()
        opened_here = session.incident is None or session.incident.id != card.incident
        if opened_here:
            try:
                session.incident = session.store.open(
                    f"Drill: {self.drill.title}", "P3", session.who, mode="drill"
                )
            except (OSError, StoreError) as error:
                done.said.append(Said(f"The drill could not be recorded: {error}", "error"))
            else:
                card.incident = session.incident.id
                session.record(Kind.DRILL, self._marker("fault injected"), done, announce=False)
        score, _ = card.score()
        data = {
            **self._marker(f"drill ended, {why}; score {score}/100"),
            "undone": undone,
            "report": card.report(),
        }
        session.record(Kind.DRILL, data, done, announce=False)
        incident = session.incident
        if opened_here and incident is not None and card.incident == incident.id:
            reason = {"from": str(incident.status), "to": str(Status.RESOLVED)}
            session.record(Kind.STATUS, {**reason, "reason": "the drill is over"}, done)
        return done

    def _marker(self, what: str) -> dict[str, object]:
        card = self.card
        injected = card.injected_at.isoformat() if card.injected_at else None
        return {
            "text": f"{what}: {self.drill.id} ({self.drill.fault.kind} on {self.drill.target})",
            "scenario": self.drill.id,
            "injected_at": injected,
        }

    # -- what the trainee does (SessionListener) --------------------------------------------

    def incident_opened(self, session: IncidentSession) -> Done | None:
        incident = session.incident
        if incident is None or self.card.ended is not None:
            return None
        self.card.first("incident_opened", datetime.now(UTC))
        self.card.incident = incident.id
        if self.card.injected_at is None:
            return None
        done = Done()
        session.record(Kind.DRILL, self._marker("fault injected"), done, announce=False)
        return done

    def breaches_seen(self, breaches: list[Breach]) -> None:
        if any(b.subject == self.drill.target for b in breaches):
            self.card.first("breach_seen", datetime.now(UTC))

    def runbook_started(self, runbook: str) -> None:
        self._running += 1
        self.card.runbook_started(runbook, datetime.now(UTC))

    def run_ended(self, end: RunEnd) -> None:
        self._running = max(0, self._running - 1)
        self.card.steps_skipped += end.left_undone
        run = Run(end.runbook.id, end.result.outcome, tuple(end.failed))
        self.card.run_ended(run, datetime.now(UTC))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
