"""Runs a runbook: step by step, asking the operator where a person must decide,
confirm or write, and emitting an event for everything that happens. No Textual here:
the wizard screen and `opsconsole run` are two operators of the same engine."""

from __future__ import annotations

import contextlib
import getpass
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Concatenate, Literal, ParamSpec, TypeVar

from opsconsole.common.redact import MASK, Redactor
from opsconsole.config.model import HostSection
from opsconsole.engine.checks import CheckSteps
from opsconsole.engine.commands import CommandSteps, host_of
from opsconsole.engine.control import Aborted, RunControl, RunOptions
from opsconsole.engine.decisions import propose
from opsconsole.engine.events import (
    Checklist,
    Decided,
    Event,
    Note,
    RollbackStarted,
    RunFinished,
    RunStarted,
    StepFinished,
    StepSkipped,
    StepStarted,
)
from opsconsole.engine.operator import Operator, Probes
from opsconsole.engine.render import ParamError, holds, render, resolve_params
from opsconsole.runbooks.model import (
    MAX_RUNBOOK_DEPTH,
    CheckStep,
    CommandStep,
    DecisionStep,
    Goto,
    Library,
    ManualStep,
    NoteStep,
    Runbook,
    RunbookStep,
    Step,
)

Outcome = Literal["completed", "failed", "aborted"]
# A decision that sends the run back round a loop is fine; this many steps is a runaway.
MAX_STEPS_RUN = 1000

P = ParamSpec("P")
E = TypeVar("E", bound=Event)


@dataclass
class RunResult:
    outcome: Outcome
    reason: str
    values: dict[str, str] = field(default_factory=dict)


class Runner:
    def __init__(
        self,
        book: Runbook,
        params: Mapping[str, str],
        operator: Operator,
        emit: Callable[[Event], None],
        options: RunOptions,
        redactor: Redactor | None = None,
        probes: Probes | None = None,
        library: Library | None = None,
        depth: int = 0,
    ) -> None:
        """`library`: where a runbook step finds the runbook it runs; `depth`, how many
        runs this one is called from."""
        self.book = book
        self.library = library
        self.depth = depth
        self._called: Runner | None = None
        """The run a runbook step has going, to abort with this one."""
        self.values = resolve_params(book.params, params)
        hosts_known(book, self.values, options.hosts)
        self.operator = operator
        self.emit_to = emit
        self.options = options
        secrets = [self.values[p.name] for p in book.params if p.secret]
        self.redact = (redactor or Redactor()).with_secrets(*secrets)
        self.probes = probes
        self.control = RunControl()
        self.commands = CommandSteps(
            book.id, self.values, operator, options, self.redact, self.emit, self.control
        )
        self.checks = CheckSteps(self.values, probes, options, self.redact, self.emit, self.control)

    def emit(
        self,
        kind: Callable[Concatenate[str, str | None, str, P], E],
        step: str | None,
        /,
        *args: P.args,
        **fields: P.kwargs,
    ) -> E:
        """Emits an event of `kind` about `step` (None: the whole run), by this run's
        operator; the event, for a caller that wants to see what it said."""
        event = kind(self.book.id, step, self.operator.name, *args, **fields)
        self.emit_to(event)
        return event

    def abort(self) -> None:
        """Stops the run: the command running now is ended (its process group killed),
        then rollback runs as the runbook's strategy says."""
        self.control.abort()
        if self._called is not None:
            self._called.abort()  # it rolls back first, then this run does

    def stop(self, reason: str) -> None:
        """Ends the run at the next step, letting the command running now finish (see
        RunControl.stop)."""
        self.control.stop(reason)
        if self._called is not None:
            self._called.stop(reason)

    async def run(self) -> RunResult:
        # A value not marked secret can still hold one: a DSN with its password.
        params = {
            p.name: MASK if p.secret else self.redact(self.values[p.name]) for p in self.book.params
        }
        self.emit(
            RunStarted, None, params=params, dry_run=self.options.dry_run,
            read_only=self.options.read_only, environment=self.options.environment,
        )  # fmt: skip
        if self.options.dry_run:
            await self._dry_run()
            self.emit(RunFinished, None, outcome="completed", reason="dry run")
            return RunResult("completed", "dry run", dict(self.values))
        try:
            outcome, reason = await self._steps()
        except Aborted as stopped:
            outcome, reason = "aborted", str(stopped)
        strategy = self.book.rollback_strategy
        if self.book.rollback and (
            strategy == "always" or (strategy == "on_failure" and outcome != "completed")
        ):
            await self._rollback()
        self.emit(RunFinished, None, outcome=outcome, reason=reason)
        return RunResult(outcome, reason, dict(self.values))

    async def _dry_run(self) -> None:
        """Every step in order, every branch and the rollback: each command rendered as it
        would run, none executed; what needs a person is listed, not asked."""
        for step in [*self.book.steps, *self.book.rollback]:
            if isinstance(step, CommandStep | CheckStep):
                for capture in step.capture:
                    self.values.setdefault(capture.name, f"<{capture.name}>")
        for step in [*self.book.steps, *self.book.rollback]:
            if self.book.rollback and step is self.book.rollback[0]:
                self.emit(RollbackStarted, None, strategy=self.book.rollback_strategy, dry_run=True)
            if isinstance(step, CommandStep):
                await self.commands.run(step, confirm=False)
            elif isinstance(step, CheckStep):
                await self.checks.run(step)
            elif isinstance(step, DecisionStep):
                branches = "; ".join(f"{a.label} → {a.goto}" for a in step.answers)
                reason = f"dry run: a decision, {step.question!r}: {branches}"
                self.emit(StepSkipped, step.id, reason=reason)
            elif isinstance(step, RunbookStep):
                await self._dry_call(step)
            else:
                self.emit(StepSkipped, step.id, reason=f"dry run: a {step.kind} step")

    async def _dry_call(self, step: RunbookStep) -> None:
        """The called runbook's own dry run, its steps listed under its id
        (`service-down/start-container`), with the values this run gives it."""
        callee = self.library.get(step.runbook) if self.library is not None else None
        if callee is None or self.depth >= MAX_RUNBOOK_DEPTH:
            self.emit(StepSkipped, step.id, reason=f"dry run: runs runbook '{step.runbook}'")
            return
        params = {name: render(value, self.values) for name, value in step.params.items()}
        shown = ", ".join(f"{name}={self.redact(value)}" for name, value in params.items())
        target = f"{callee.id} ({shown})"
        self.emit(StepStarted, step.id, probe="runbook", target=target, dry_run=True)
        try:
            called = Runner(
                callee, params, self.operator, self.emit_to, self.options, self.redact,
                self.probes, self.library, self.depth + 1,
            )  # fmt: skip
        except ParamError as unfit:  # a value this run captures, not known before it runs
            reason = (
                f"dry run: runs runbook '{callee.id}' with values known only when this run "
                f"captures them ({unfit})"
            )
            self.emit(StepSkipped, step.id, reason=reason)
            return
        await called.run()
        self.emit(StepFinished, step.id, dry_run=True)

    async def _steps(self) -> tuple[Outcome, str]:
        position = {step.id: n for n, step in enumerate(self.book.steps)}
        index, run = 0, 0
        while index < len(self.book.steps):
            self.control.raise_if_stopping()
            run += 1
            if run > MAX_STEPS_RUN:
                return "failed", f"stopped after {MAX_STEPS_RUN} steps: a loop of gotos?"
            step = self.book.steps[index]
            if not all(holds(condition, self.values) for condition in step.when):
                self.emit(StepSkipped, step.id, reason="its conditions do not hold")
                index += 1
                continue
            goto = await self._step(step)
            if isinstance(goto, tuple):
                return goto
            target = goto or step.next
            index = position[target] if target else index + 1
        return "completed", "every step done"

    async def _step(self, step: Step) -> str | tuple[Outcome, str] | None:
        """The id of the step to go to next (None: the following one), or how the run ends."""
        if isinstance(step, DecisionStep):
            proposal = propose(step, self.values)
            if proposal is not None:  # as every screen and log shows a value: redacted
                proposal = replace(proposal, evidence=tuple(map(self.redact, proposal.evidence)))
            decision = await self.control.ask(self.operator.decide(step, proposal))
            if decision is None:
                raise Aborted(f"no answer to '{step.title}'")
            self.emit(
                Decided, step.id, question=step.question, answer=decision.answer.label,
                proposed=proposal.answer.label if proposal else None,
                evidence=proposal.evidence if proposal else None,
                reason=self.redact(decision.reason) if decision.reason else None,
            )  # fmt: skip
            return decision.answer.goto
        if isinstance(step, ManualStep):
            done = await self.control.ask(self.operator.checklist(step))
            self.emit(Checklist, step.id, items=tuple(step.checklist), done=done)
            if not done:
                raise Aborted(f"'{step.title}' was not done")
            return None
        if isinstance(step, NoteStep):
            text = await self.control.ask(self.operator.note(step))
            if text is None:
                raise Aborted(f"no note for '{step.title}'")
            self.emit(Note, step.id, prompt=step.prompt, text=self.redact(text))
            return None
        if isinstance(step, RunbookStep):
            failure = await self._call(step)
        elif isinstance(step, CommandStep):
            failure = await self.commands.run(step)
        else:
            failure = await self.checks.run(step)
        if failure is None:
            return None
        if isinstance(step.on_failure, Goto):
            return step.on_failure.goto
        if step.on_failure == "continue":
            return None
        return "failed", f"step '{step.id}' failed: {failure}"

    async def _call(self, step: RunbookStep) -> str | None:
        """Runs the runbook `step` names, as one step: its events are its own (its id on
        each), its rollback its own; why it failed, or None when it completed."""
        callee = self.library.get(step.runbook) if self.library is not None else None
        if callee is None:
            return f"no runbook '{step.runbook}' to run"
        if self.depth >= MAX_RUNBOOK_DEPTH:
            return f"runbooks called {self.depth} deep: '{step.runbook}' is one too many"
        try:
            params = {name: render(value, self.values) for name, value in step.params.items()}
        except KeyError as missing:
            return f"needs {{{missing.args[0]}}}, which no step before it captured"
        shown = ", ".join(f"{name}={self.redact(value)}" for name, value in params.items())
        self.emit(StepStarted, step.id, probe="runbook", target=f"{callee.id} ({shown})")
        try:
            called = Runner(
                callee, params, self.operator, self.emit_to, self.options, self.redact,
                self.probes, self.library, self.depth + 1,
            )  # fmt: skip
        except ParamError as unfit:
            failure = f"runbook '{callee.id}': {unfit}"
            self.emit(StepFinished, step.id, error=failure)
            return failure
        self._called = called
        try:
            result = await called.run()
        finally:
            self._called = None
        if called.control.fixed_at is not None:
            self.control.fixed()  # its fix is this run's: {since_fix} counts from it
        if result.outcome == "aborted":
            self.emit(StepFinished, step.id, error=f"runbook '{callee.id}' aborted")
            raise Aborted(result.reason)
        if result.outcome == "completed":
            self.emit(StepFinished, step.id, value=result.outcome)
            return None
        self.emit(StepFinished, step.id, error=f"runbook '{callee.id}' failed: {result.reason}")
        return f"runbook '{callee.id}' failed: {result.reason}"

    async def _rollback(self) -> None:
        self.control.rolling_back()
        self.emit(RollbackStarted, None, strategy=self.book.rollback_strategy)
        for step in self.book.rollback:
            if not all(holds(condition, self.values) for condition in step.when):
                self.emit(StepSkipped, step.id, reason="its conditions do not hold")
                continue
            try:
                await self.commands.run(step)
            except Aborted as stopped:
                self.emit(StepSkipped, step.id, reason=str(stopped))


def operator_name() -> str:
    """Who runs the commands, for the record: the login, or the uid where there is none
    (containers often have no user name for it)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def hosts_known(book: Runbook, values: Mapping[str, str], hosts: Mapping[str, HostSection]) -> None:
    """Raises ParamError, before anything runs, for a step host its parameters name and
    [[hosts]] lacks (a typo, a host since removed); one named by a value a step captures
    is known only when that step has run."""
    for step in [*book.steps, *book.rollback]:
        if isinstance(step, CommandStep):
            with contextlib.suppress(KeyError):
                host_of(step, values, hosts)
