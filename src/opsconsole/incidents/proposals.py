"""The statuses a run's evidence calls for: MONITORING when a runbook's verifying check
passed, then RESOLVED once that check, run again on its own clock, has held. Each
proposal and its evidence (before, after) go on record with the operator's answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsconsole.common.readable import age
from opsconsole.engine.probes import ConfiguredProbes
from opsconsole.incidents.export import describe as describe_event
from opsconsole.incidents.holding import CheckResult, Hold, VerifyingCheck
from opsconsole.incidents.model import Kind, Status
from opsconsole.incidents.outcomes import Done, Proposal, RunEnd, Said
from opsconsole.monitoring.offers import describe

if TYPE_CHECKING:
    from opsconsole.incidents.session import IncidentSession


class Proposals:
    """On the session's thread, as everything that writes the incident."""

    def __init__(self, session: IncidentSession) -> None:
        self.session = session
        self.hold: Hold | None = None
        """The verifying check being held while MONITORING, if any."""

    def after_run(self, end: RunEnd) -> Done:
        """MONITORING is proposed when the run's verifying check passed."""
        incident = self.session.incident
        if incident is None or incident.status not in (Status.INVESTIGATING, Status.IDENTIFIED):
            return Done()
        if not end.verified:
            return Done()
        verified = end.verified[-1]
        title = verified.step.title
        before = [f"{title}: {verified.failed_before}"] if verified.failed_before else []
        before += [describe_event(e) for e in incident.events if e.kind == Kind.BREACH][-3:]
        after = [f"{title}: {verified.passed.summary}", self.dashboard_now()]
        settings = self.session.config.incidents
        lines = [f"before: {line}" for line in before] + [f"after: {line}" for line in after]
        lines.append(
            f"It is then run every {settings.recheck_seconds:g} s; RESOLVED is proposed "
            f"once it has held {settings.hold_minutes:g} min."
        )
        check = VerifyingCheck(
            end.runbook,
            verified.step,
            end.result.values,
            self.session.config.console.environment,
            ConfiguredProbes(self.session.config),
            hosts=self.session.config.hosts_by_name(),
        )
        data = {
            "to": str(Status.MONITORING),
            "check": title,
            "runbook": end.runbook.id,
            "step": verified.step.id,
            "before": before,
            "after": after,
        }
        question = f"'{title}' passed. Move {incident.id} to MONITORING?"
        return Done(
            proposal=Proposal(Status.MONITORING, question, lines, data, check, verified.passed)
        )

    def answer(self, proposal: Proposal, accepted: bool) -> Done:
        """Records the answer, and what it starts or ends."""
        done = Done()
        check = str(proposal.data["check"])
        if (
            self.session.record(Kind.PROPOSAL, {**proposal.data, "accepted": accepted}, done)
            is None
        ):
            done.hold_started = proposal.hold is not None and self.hold is proposal.hold
            return done
        if proposal.to is Status.MONITORING:
            if accepted and proposal.check is not None and proposal.first is not None:
                self._record_status(Status.MONITORING, f"verifying check '{check}' passed", done)
                minutes = self.session.config.incidents.hold_minutes
                self.hold = Hold(proposal.check, minutes * 60, proposal.first)
                done.hold_started = True
            return done
        hold = proposal.hold
        if accepted:
            held = age(hold.held_seconds(hold.last.at)) if hold and hold.last else "?"
            self._record_status(Status.RESOLVED, f"'{check}' held for {held}", done)
            self.hold = None
        elif hold is not None and self.hold is hold:
            hold.restart(self.session.clock())
            done.hold_started = True
        return done

    def check_done(self, hold: Hold, result: CheckResult) -> Done:
        """A verifying check run again while MONITORING came back."""
        done = Done()
        if self.hold is not hold or self.session.incident is None:
            return done  # the hold ended while this check ran
        if self.session.incident.status is not Status.MONITORING:
            self.hold = None
            return done
        held = hold.held_seconds(result.at)
        outcome = hold.observe(result)
        title = hold.check.step.title
        if outcome == "broken":
            data = {"check": title, "summary": result.summary, "held": age(held)}
            self.session.record(Kind.CHECK, data, done, announce=False)
            done.said.append(
                Said(
                    f"'{title}' failed while MONITORING: {result.summary}. "
                    "The hold starts again when it passes.",
                    "warning",
                    timeout=60,
                )
            )
        if outcome == "held":
            done.proposal = self._resolved_proposal(hold)
        else:
            done.hold_started = True
        return done

    def _resolved_proposal(self, hold: Hold) -> Proposal:
        assert self.session.incident is not None
        assert hold.last is not None
        title = hold.check.step.title
        held = age(hold.held_seconds(hold.last.at))
        before = [f"{title}: {hold.first.summary} (when MONITORING began)"]
        after = [
            f"{title}: passed every time for {held} ({hold.passes} runs; "
            f"{hold.failures} failed before that)",
            f"last: {hold.last.summary}",
            self.dashboard_now(),
        ]
        data = {"to": str(Status.RESOLVED), "check": title, "before": before, "after": after}
        lines = [*(f"before: {line}" for line in before), *(f"after: {line}" for line in after)]
        question = f"'{title}' has held for {held}. Resolve {self.session.incident.id}?"
        return Proposal(Status.RESOLVED, question, lines, data, hold=hold)

    def _record_status(self, to: Status, reason: str, done: Done) -> None:
        assert self.session.incident is not None
        data = {"from": str(self.session.incident.status), "to": str(to), "reason": reason}
        self.session.record(Kind.STATUS, data, done)

    def dashboard_now(self) -> str:
        if not self.session.breaching:
            return "dashboard: nothing breaches"
        return "dashboard: " + "; ".join(describe(b) for b in self.session.breaching.values())
