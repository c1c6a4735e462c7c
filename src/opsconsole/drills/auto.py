"""`opsconsole drill run --auto`: a scenario proven without a person. The steady state must
hold, break once the fault is in, and hold again after the linked runbook has run; the
fault is undone whatever happens."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from opsconsole.config.model import Config
from opsconsole.drills.faults import make_fault
from opsconsole.drills.model import Drill, sandbox_values, target_problem
from opsconsole.drills.pending import done, write_pending
from opsconsole.drills.rehearsal import rehearse
from opsconsole.drills.steady import DrillOutcome, SteadyStateCheck, until
from opsconsole.engine.control import RunOptions
from opsconsole.engine.decisions import Decision, Proposal
from opsconsole.engine.events import Event
from opsconsole.engine.operator import Confirmation
from opsconsole.engine.probes import ConfiguredProbes
from opsconsole.engine.render import ParamError, render
from opsconsole.engine.runner import Runner
from opsconsole.monitoring.monitor import Monitor
from opsconsole.runbooks.model import DecisionStep, Library, ManualStep, NoteStep, Runbook

BREAK_WAIT_SECONDS = 60.0
"""How long the steady state has to break once the fault is in: a dashboard poll or two."""


class AutoOperator:
    """The person at the keyboard, played from the scenario: confirms (a sandbox), ticks
    checklists, takes the answer the evidence proposes at each decision (what the drill
    proves is that the runbook leads to the right branch by itself), gives the scenario's
    scripted answer only where nothing is proposed, and notes that it was a drill. A
    decision with neither stops the run: guessing proves nothing."""

    def __init__(
        self, drill: Drill, overrule: Mapping[str, int] | None = None,
        library: Library | None = None,
    ) -> None:  # fmt: skip
        self.drill = drill
        self.overrule = dict(overrule or {})
        self.library = library
        self.name = f"drill {drill.id} (--auto)"

    def _overruled(self, step: DecisionStep) -> int | None:
        """`STEP` names a decision of the drill's runbook, `RUNBOOK/STEP` one of a runbook
        it calls: the step is known by the runbook that holds it (the same object)."""
        holder = self.drill.runbook
        if self.library is not None:
            holder = next(
                (b.id for b in self.library.runbooks if any(s is step for s in b.steps)), holder
            )
        if holder == self.drill.runbook:  # its own: STEP, or written in full
            return self.overrule.get(step.id, self.overrule.get(f"{holder}/{step.id}"))
        return self.overrule.get(f"{holder}/{step.id}")

    async def confirm(self, request: Confirmation) -> bool:
        return True

    async def decide(self, step: DecisionStep, proposal: Proposal | None) -> Decision | None:
        if (number := self._overruled(step)) is not None:
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
        values = sandbox_values(config, drill.target, drill.fault)
        params = {name: render(v, values) for name, v in drill.params.items()}
        if "service_host" in {p.name for p in runbook.params} and "service_host" not in params:
            # Its docker steps go where the target runs, as the dashboard's offer sends them.
            params["service_host"] = values.get("service_host", "")
        runner = Runner(
            runbook,
            params,
            AutoOperator(drill, overrule, library),
            emit,
            RunOptions(
                environment=config.console.environment,
                artifacts=artifacts,
                hosts=config.hosts_by_name(),
            ),
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
    if drill.fault.kind == "none":
        return await rehearse(drill, runbook, runner, steady, outcome, say, fail)
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
        why = await until(steady, holds=False, seconds=BREAK_WAIT_SECONDS)
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
        still = await until(steady, holds=True, seconds=max(1.0, remaining))
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
