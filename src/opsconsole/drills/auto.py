"""`opsconsole drill run --auto`: a scenario proven without a person. The steady state must
hold, break once the fault is in, and hold again after the linked runbook has run; the
fault is undone whatever happens."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from opsconsole.config.model import Config
from opsconsole.drills.faults import make_fault
from opsconsole.drills.model import Drill, sandbox_values, target_problem
from opsconsole.drills.pending import done, write_pending
from opsconsole.engine.control import RunOptions
from opsconsole.engine.decisions import Decision, Proposal
from opsconsole.engine.events import Event
from opsconsole.engine.operator import Confirmation
from opsconsole.engine.probes import ConfiguredProbes
from opsconsole.engine.render import ParamError, check_target, expectation_failure, render
from opsconsole.engine.runner import Runner
from opsconsole.monitoring.monitor import Monitor
from opsconsole.monitoring.offers import describe
from opsconsole.runbooks.model import DecisionStep, Library, ManualStep, NoteStep, Runbook

BREAK_WAIT_SECONDS = 60.0
"""How long the steady state has to break once the fault is in: a dashboard poll or two."""
POLL_SECONDS = 1.0


@dataclass
class DrillOutcome:
    drill: str
    passed: bool = False
    reason: str = ""
    broke_after: float | None = None
    """Seconds from the injection to the steady state seen broken."""
    recovered_after: float | None = None
    """Seconds from the injection to the steady state seen holding again."""
    runbook_outcome: str | None = None
    said: list[str] = field(default_factory=list)


class AutoOperator:
    """The person at the keyboard, played from the scenario: confirms (a sandbox), ticks
    checklists, takes the answer the evidence proposes at each decision (what the drill
    proves is that the runbook leads to the right branch by itself), gives the scenario's
    scripted answer only where nothing is proposed, and notes that it was a drill. A
    decision with neither stops the run: guessing proves nothing."""

    def __init__(self, drill: Drill, overrule: Mapping[str, int] | None = None) -> None:
        self.drill = drill
        self.overrule = dict(overrule or {})
        self.name = f"drill {drill.id} (--auto)"

    async def confirm(self, request: Confirmation) -> bool:
        return True

    async def decide(self, step: DecisionStep, proposal: Proposal | None) -> Decision | None:
        if (number := self.overrule.get(step.id)) is not None:
            if not 1 <= number <= len(step.answers):
                return None  # no such answer: the run stops, as at a wrong keypress
            return Decision(step.answers[number - 1], "--overrule: a rehearsal of this branch")
        if proposal is not None:  # what the drill proves: the evidence leads the way
            return Decision(proposal.answer)
        label = self.drill.answers.get(step.id)
        answer = next((a for a in step.answers if a.label == label), None)
        return None if answer is None else Decision(answer)

    async def checklist(self, step: ManualStep) -> bool:
        return True

    async def note(self, step: NoteStep) -> str | None:
        return f"drill {self.drill.id}, run with --auto"


class SteadyStateCheck:
    """One look at whether the steady state holds, and if not, why."""

    def __init__(self, drill: Drill, config: Config, monitor: Monitor) -> None:
        self.drill = drill
        self.monitor = monitor
        self.probes = ConfiguredProbes(config)
        self.values = sandbox_values(config, drill.target, drill.fault)

    async def check(self) -> str | None:
        """Why it does not hold; None when it does."""
        # Each look reads the certificates anew, as `opsconsole status` does: the
        # dashboard's hour between reads would hide a certificate a drill replaced.
        self.monitor.health.forget_certificates()
        snapshot = await self.monitor.snapshot()
        breaching = [b for b in snapshot.breaches if b.subject == self.drill.target]
        if breaching:
            return "; ".join(describe(b) for b in breaching)
        probe = self.drill.steady_state
        if probe.probe is None or probe.target is None:
            return None
        try:
            value = await self.probes.probe(
                probe.probe, check_target(probe.probe, probe.target, self.values)
            )
        except Exception as error:  # the world's failure is the steady state's failure
            return f"{probe.probe} probe failed: {error}"
        return expectation_failure(probe.expect, 0, str(value))


async def run_drill(
    drill: Drill,
    config: Config,
    library: Library,
    *,
    pending: Path,
    artifacts: Path,
    say: Callable[[str], None],
    emit: Callable[[Event], None],
    overrule: Mapping[str, int] | None = None,
) -> DrillOutcome:
    """`overrule`: the answer (its number, from 1) to take at these decisions instead of
    the proposed one, to rehearse a wrong branch."""
    outcome = DrillOutcome(drill.id)

    def fail(reason: str) -> DrillOutcome:
        outcome.reason = reason
        say(f"✖ {drill.id}: {reason}")
        return outcome

    if problem := target_problem(config, drill):
        return fail(f"refused: {problem}")
    runbook = next((b for b in library.runbooks if b.id == drill.runbook), None)
    if runbook is None:
        return fail(f"no runbook '{drill.runbook}' in the library")
    try:
        params = {
            name: render(v, sandbox_values(config, drill.target, drill.fault))
            for name, v in drill.params.items()
        }
        runner = Runner(
            runbook,
            params,
            AutoOperator(drill, overrule),
            emit,
            RunOptions(environment=config.console.environment, artifacts=artifacts),
            probes=ConfiguredProbes(config),
            library=library,
        )
    except (ParamError, KeyError) as error:
        return fail(f"the runbook cannot start: {error}")
    monitor = Monitor(config)
    try:
        return await _inject_and_prove(
            drill, config, runbook, runner, monitor, pending, outcome, say, fail
        )
    finally:
        await monitor.aclose()


async def _inject_and_prove(
    drill: Drill,
    config: Config,
    runbook: Runbook,
    runner: Runner,
    monitor: Monitor,
    pending: Path,
    outcome: DrillOutcome,
    say: Callable[[str], None],
    fail: Callable[[str], DrillOutcome],
) -> DrillOutcome:
    steady = SteadyStateCheck(drill, config, monitor)
    if (why := await steady.check()) is not None:
        return fail(f"the steady state does not hold before the fault ({why}): nothing to prove")
    say(f"· steady state holds on {drill.target}")
    run = f"{drill.id}-{os.urandom(3).hex()}"
    fault = make_fault(drill.fault, config, drill.target, run)
    record = write_pending(pending, run, {**fault.record(), "drill": drill.id})
    try:
        injected = time.monotonic()
        try:
            said = await asyncio.to_thread(fault.inject)
        except Exception as error:  # refused by the sandbox, or a server gone: undone below
            return fail(f"the fault could not be injected: {error}")
        say(f"· fault injected: {said}")
        why = await _until(steady, holds=False, seconds=BREAK_WAIT_SECONDS)
        if why is None:
            return fail(f"the fault did not break the steady state within {BREAK_WAIT_SECONDS:g} s")
        outcome.broke_after = time.monotonic() - injected
        say(f"· steady state broken after {outcome.broke_after:.1f} s: {why}")

        remaining = drill.time_limit_seconds - (time.monotonic() - injected)
        say(f"· running runbook {runbook.id}")
        running = asyncio.ensure_future(runner.run())
        finished, _ = await asyncio.wait({running}, timeout=max(1.0, remaining))
        if not finished:
            # Aborted as a person would, so that its command ends and its rollback runs.
            runner.abort()
            await running
            return fail(f"runbook {runbook.id} did not finish within the time limit")
        result = running.result()
        outcome.runbook_outcome = result.outcome
        if result.outcome != "completed":
            return fail(f"runbook {runbook.id} {result.outcome}: {result.reason}")
        remaining = drill.time_limit_seconds - (time.monotonic() - injected)
        still = await _until(steady, holds=True, seconds=max(1.0, remaining))
        if still is not None:
            return fail(f"the steady state does not hold again after the runbook: {still}")
        outcome.recovered_after = time.monotonic() - injected
        say(f"· steady state holds again after {outcome.recovered_after:.1f} s")
        outcome.passed = True
        outcome.reason = "the runbook brought it back"
        return outcome
    finally:
        try:
            said = await asyncio.to_thread(fault.undo)
        except Exception as error:  # kept on record: `opsconsole drill recover` retries
            outcome.passed = False
            outcome.reason = f"the fault could not be undone: {error}"
            say(f"✖ {drill.id}: {outcome.reason}; `opsconsole drill recover` tries again")
        else:
            say(f"· fault undone: {said}")
            done(record)  # only once undone: one that could not be is retried at next start
        if drill.rollback:
            await _extra_rollback(drill, config, runner)


async def _extra_rollback(drill: Drill, config: Config, runner: Runner) -> None:
    """The scenario's own rollback commands, after the fault's undo, whatever happened."""
    steps = Runbook(
        id=f"{drill.id}-rollback",
        title=f"Roll back drill {drill.id}",
        summary="What the fault's own undo cannot know.",
        steps=list(drill.rollback),
    )
    rollback = Runner(
        steps, {}, AutoOperator(drill), runner.emit_to, runner.options, probes=runner.probes
    )
    rollback.values.update(sandbox_values(config, drill.target, drill.fault))
    await rollback.run()


async def _until(steady: SteadyStateCheck, *, holds: bool, seconds: float) -> str | None:
    """Waits for the steady state to hold (holds=True: returns None, or the last reason
    it did not) or to break (holds=False: returns why it broke, or None if it never did)."""
    deadline = time.monotonic() + seconds
    last: str | None = None
    while True:
        last = await steady.check()
        if holds and last is None:
            return None
        if not holds and last is not None:
            return last
        if time.monotonic() >= deadline:
            return last
        await asyncio.sleep(POLL_SECONDS)
