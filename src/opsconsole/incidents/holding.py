"""A runbook's verifying check, run again while an incident is MONITORING, and whether it
has held long enough to propose RESOLVED. No Textual: the app runs the check on its own
clock and asks the operator."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from opsconsole.config.model import HostSection
from opsconsole.engine.control import RunOptions
from opsconsole.engine.decisions import Decision, Proposal
from opsconsole.engine.events import Event, StepFinished
from opsconsole.engine.operator import Confirmation, Probes

# Made by a run's progress; the incident code has always found them here.
from opsconsole.engine.progress import CheckResult as CheckResult
from opsconsole.engine.progress import Verified as Verified
from opsconsole.engine.runner import Runner
from opsconsole.runbooks.model import (
    CheckStep,
    CommandStep,
    DecisionStep,
    ManualStep,
    NoteStep,
    Runbook,
)


class _Nobody:
    """The operator of a re-run check: a verifying step never asks anything (it may not
    be destructive), so any question is answered no."""

    name = "opsconsole (verifying check)"

    async def confirm(self, request: Confirmation) -> bool:
        return False

    async def decide(self, step: DecisionStep, proposal: Proposal | None) -> Decision | None:
        return None

    async def checklist(self, step: ManualStep) -> bool:
        return False

    async def note(self, step: NoteStep) -> str | None:
        return None


class VerifyingCheck:
    """The step, with the values of the run that passed it (its parameters and what that
    run captured), run once per call and without its retries: a hold asks "does it pass
    now", not "does it come back within a minute"."""

    def __init__(
        self,
        runbook: Runbook,
        step: CommandStep | CheckStep,
        values: Mapping[str, str],
        environment: str,
        probes: Probes | None,
        artifacts: Path | None = None,
        hosts: Mapping[str, HostSection] | None = None,
    ) -> None:
        self.runbook = runbook
        self.hosts = dict(hosts or {})
        self.step = step
        self.values = dict(values)
        self.environment = environment
        self.probes = probes
        self.artifacts = artifacts or Path(tempfile.mkdtemp(prefix=f"opsconsole-hold-{step.id}-"))

    async def run(self) -> CheckResult:
        # Once, now: a recheck is every recheck_seconds already, and must not wait for
        # the truth the way the run's own try right after the fix does.
        waits = (
            {"within_seconds": None, "pause_seconds": 0} if isinstance(self.step, CheckStep) else {}
        )
        once = self.step.model_copy(
            update={"retry": None, "when": [], "on_failure": "stop", **waits}
        )
        book = self.runbook.model_copy(update={"steps": [once], "rollback": []})
        finished: list[StepFinished] = []

        def keep(event: Event) -> None:
            if isinstance(event, StepFinished):
                finished.append(event)

        declared = {param.name for param in book.params}
        runner = Runner(
            book,
            {name: value for name, value in self.values.items() if name in declared},
            _Nobody(),
            keep,
            RunOptions(environment=self.environment, artifacts=self.artifacts, hosts=self.hosts),
            probes=self.probes,
        )
        runner.values.update(self.values)  # what the run captured, for its placeholders
        result = await runner.run()
        summary = finished[-1].describe() if finished else result.reason
        return CheckResult(result.outcome == "completed", datetime.now(UTC), summary)


@dataclass
class Hold:
    """How long the check has passed without a break. RESOLVED is proposed once it has
    held `hold_seconds`; a failure starts the count again."""

    check: VerifyingCheck
    hold_seconds: float
    first: CheckResult
    """The pass that moved the incident to MONITORING: the evidence it starts from."""
    since: datetime | None = None
    passes: int = 0
    failures: int = 0
    last: CheckResult | None = None

    def __post_init__(self) -> None:
        self.since = self.first.at

    def observe(self, result: CheckResult) -> Literal["holding", "held", "broken", "failing"]:
        """ "broken" the first time it fails after passing; "failing" while it goes on."""
        self.last = result
        if not result.passed:
            self.failures += 1
            was_holding, self.since = self.since is not None, None
            return "broken" if was_holding else "failing"
        self.passes += 1
        if self.since is None:
            self.since = result.at
        return "held" if self.held_seconds(result.at) >= self.hold_seconds else "holding"

    def held_seconds(self, now: datetime) -> float:
        return 0.0 if self.since is None else (now - self.since).total_seconds()

    def restart(self, now: datetime) -> None:
        """RESOLVED was declined: hold again for as long before asking again."""
        self.since = now
