"""Runs a runbook: step by step, asking the operator where a person must decide,
confirm or write, and emitting an event for everything that happens. No Textual here:
the wizard screen and `opsconsole run` are two operators of the same engine."""

from __future__ import annotations

import asyncio
import getpass
import os
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from opsconsole.common.redact import MASK, Redactor
from opsconsole.engine.events import Event, EventKind
from opsconsole.engine.process import CommandResult, OutputLine, run_command
from opsconsole.engine.render import (
    captured,
    command_argv,
    expectation_failure,
    holds,
    render,
    resolve_params,
)
from opsconsole.runbooks.model import (
    Answer,
    Capture,
    CheckStep,
    CommandStep,
    DecisionStep,
    Goto,
    ManualStep,
    NoteStep,
    Runbook,
    placeholders,
)

Outcome = Literal["completed", "failed", "aborted"]
# Output kept in memory for a step's expectations and captures; all of it is in the
# step's artifact file. A check on the 100,001st megabyte of a log is not a runbook's job.
KEPT_OUTPUT_CHARS = 1024 * 1024
# A decision that sends the run back round a loop is fine; this many steps is a runaway.
MAX_STEPS_RUN = 1000


@dataclass(frozen=True)
class Confirmation:
    """What the operator is shown before a destructive step, and must type to go on."""

    runbook: str
    step: CommandStep
    command: str
    """The fully rendered command, secrets redacted."""
    environment: str
    target: str
    """What the operator types to confirm: the value the command acts on."""


class Operator(Protocol):
    """The person at the keyboard, as the wizard or a terminal presents them."""

    name: str

    async def confirm(self, request: Confirmation) -> bool: ...

    async def decide(self, step: DecisionStep) -> Answer | None:
        """The chosen answer; None to abort the run."""
        ...

    async def checklist(self, step: ManualStep) -> bool:
        """True when the operator has done it; False to abort the run."""
        ...

    async def note(self, step: NoteStep) -> str | None:
        """What they write; None to abort the run."""
        ...


class Probes(Protocol):
    async def probe(self, kind: str, target: str) -> object:
        """The value a check step looks at: an HTTP status, a PromQL or SQL scalar..."""
        ...


@dataclass
class RunOptions:
    environment: str
    artifacts: Path
    dry_run: bool = False
    """Render and show every command; run none."""
    read_only: bool = False
    """Refuse every destructive step outright."""


@dataclass
class RunResult:
    outcome: Outcome
    reason: str
    values: dict[str, str] = field(default_factory=dict)


class Aborted(Exception):
    """The operator stopped the run."""


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
    ) -> None:
        self.book = book
        self.values = resolve_params(book.params, params)
        self.operator = operator
        self.emit_to = emit
        self.options = options
        secrets = [self.values[p.name] for p in book.params if p.secret]
        self.redact = (redactor or Redactor()).with_secrets(*secrets)
        self.probes = probes
        self._current: asyncio.Task[CommandResult] | None = None
        self._aborting = False
        self._stop_reason: str | None = None
        self._rolling_back = False

    def emit(self, kind: EventKind, step: str | None = None, **detail: object) -> None:
        self.emit_to(Event(kind, self.book.id, step, self.operator.name, dict(detail)))

    def abort(self) -> None:
        """Stops the run: the command running now is ended (its process group killed),
        then rollback runs as the runbook's strategy says."""
        self._aborting = True
        if self._current is not None:
            self._current.cancel()

    def stop(self, reason: str) -> None:
        """Ends the run at the next step, as an abort does, but lets the command running
        now finish: for when the run must not go on (its record cannot be written) and
        killing a half-done `docker restart` would only make things worse. A rollback
        under way runs to its end."""
        if not self._rolling_back and self._stop_reason is None:
            self._stop_reason = reason

    async def run(self) -> RunResult:
        self.emit(
            EventKind.RUN_STARTED,
            # A value not marked secret can still hold one: a DSN with its password.
            params={
                p.name: MASK if p.secret else self.redact(self.values[p.name])
                for p in self.book.params
            },
            dry_run=self.options.dry_run,
            read_only=self.options.read_only,
            environment=self.options.environment,
        )
        if self.options.dry_run:
            await self._dry_run()
            self.emit(EventKind.RUN_FINISHED, outcome="completed", reason="dry run")
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
        self.emit(EventKind.RUN_FINISHED, outcome=outcome, reason=reason)
        return RunResult(outcome, reason, dict(self.values))

    async def _dry_run(self) -> None:
        """Every step in order, every branch and the rollback: each command rendered as it
        would run, none executed; what needs a person is listed, not asked."""
        for step in [*self.book.steps, *self.book.rollback]:
            if isinstance(step, CommandStep | CheckStep):
                for capture in step.capture:
                    self.values.setdefault(capture.name, f"<{capture.name}>")
        for step in [*self.book.steps, *self.book.rollback]:
            if isinstance(step, CommandStep):
                await self._command(step, confirm=False)
            elif isinstance(step, CheckStep):
                await self._check(step)
            else:
                self.emit(EventKind.STEP_SKIPPED, step.id, reason=f"dry run: a {step.kind} step")

    async def _steps(self) -> tuple[Outcome, str]:
        position = {step.id: n for n, step in enumerate(self.book.steps)}
        index, run = 0, 0
        while index < len(self.book.steps):
            self._stop_if_aborting()
            run += 1
            if run > MAX_STEPS_RUN:
                return "failed", f"stopped after {MAX_STEPS_RUN} steps: a loop of gotos?"
            step = self.book.steps[index]
            if not all(holds(condition, self.values) for condition in step.when):
                self.emit(EventKind.STEP_SKIPPED, step.id, reason="its conditions do not hold")
                index += 1
                continue
            goto = await self._step(step)
            if isinstance(goto, tuple):
                return goto
            target = goto or step.next
            index = position[target] if target else index + 1
        return "completed", "every step done"

    async def _step(
        self, step: CommandStep | CheckStep | ManualStep | DecisionStep | NoteStep
    ) -> str | tuple[Outcome, str] | None:
        """The id of the step to go to next (None: the following one), or how the run ends."""
        if isinstance(step, DecisionStep):
            answer = await self.operator.decide(step)
            if answer is None:
                raise Aborted(f"no answer to '{step.title}'")
            self.emit(EventKind.DECIDED, step.id, question=step.question, answer=answer.label)
            return answer.goto
        if isinstance(step, ManualStep):
            done = await self.operator.checklist(step)
            self.emit(EventKind.CHECKLIST, step.id, items=step.checklist, done=done)
            if not done:
                raise Aborted(f"'{step.title}' was not done")
            return None
        if isinstance(step, NoteStep):
            text = await self.operator.note(step)
            if text is None:
                raise Aborted(f"no note for '{step.title}'")
            self.emit(EventKind.NOTE, step.id, prompt=step.prompt, text=self.redact(text))
            return None
        failure = await (
            self._command(step) if isinstance(step, CommandStep) else self._check(step)
        )
        if failure is None:
            return None
        if isinstance(step.on_failure, Goto):
            return step.on_failure.goto
        if step.on_failure == "continue":
            return None
        return "failed", f"step '{step.id}' failed: {failure}"

    # -- commands ----------------------------------------------------------------------------

    async def _command(self, step: CommandStep, confirm: bool = True) -> str | None:
        """Why the step failed; None when it did what it expects."""
        try:
            argv = command_argv(step, self.values)
        except KeyError as missing:
            return f"needs {{{missing.args[0]}}}, which no step before it captured"
        shown = self.redact(shlex.join(argv))
        if step.destructive and confirm:
            if self.options.read_only:
                self.emit(EventKind.REFUSED, step.id, command=shown, reason="read-only mode")
                return "refused: destructive, and the run is read-only"
            request = Confirmation(
                self.book.id, step, shown, self.options.environment, self._target_of(step)
            )
            if not await self.operator.confirm(request):
                self.emit(EventKind.REFUSED, step.id, command=shown, reason="not confirmed")
                raise Aborted(f"'{step.title}' was not confirmed")
            self.emit(EventKind.CONFIRMED, step.id, command=shown, target=request.target)
        if self.options.dry_run:
            shown_argv = [self.redact(element) for element in argv]
            self.emit(EventKind.STEP_STARTED, step.id, command=shown, argv=shown_argv, dry_run=True)
            self.emit(EventKind.STEP_FINISHED, step.id, dry_run=True, exit_code=None)
            return None
        attempts = 1 + (step.retry.count if step.retry else 0)
        failure: str | None = None
        for attempt in range(1, attempts + 1):
            failure = await self._attempt(step, argv, shown, attempt)
            if failure is None or attempt == attempts:
                break
            assert step.retry is not None
            await asyncio.sleep(step.retry.delay_seconds)
        return failure

    async def _attempt(
        self, step: CommandStep, argv: list[str], shown: str, attempt: int
    ) -> str | None:
        self.emit(
            EventKind.STEP_STARTED,
            step.id,
            command=shown,
            argv=[self.redact(a) for a in argv],
            attempt=attempt,
        )
        if self._aborting or self._stop_reason is not None:
            # Stopped while its start was being recorded: the command never runs.
            self.emit(EventKind.STEP_FINISHED, step.id, exit_code=None, error="not started")
            self._stop_if_aborting()
        kept: list[str] = []
        kept_chars = 0

        def arrived(lines: list[OutputLine]) -> None:
            nonlocal kept_chars
            for line in lines:
                if kept_chars < KEPT_OUTPUT_CHARS:
                    kept.append(line.text)
                    kept_chars += len(line.text) + 1
            self.emit(EventKind.OUTPUT, step.id, lines=lines)

        artifact = self.options.artifacts / f"{self.book.id}-{step.id}-{attempt}.log"
        artifact.parent.mkdir(parents=True, exist_ok=True)
        self._current = asyncio.create_task(
            run_command(
                argv,
                timeout=step.timeout_seconds,
                on_lines=arrived,
                artifact=artifact,
                redact=self.redact,
            )
        )
        try:
            result = await self._current
        except asyncio.CancelledError:
            if not self._aborting:
                raise
            self.emit(
                EventKind.STEP_FINISHED,
                step.id,
                exit_code=None,
                error="aborted",
                artifact=str(artifact),
            )
            raise Aborted(f"aborted during '{step.title}'") from None
        finally:
            self._current = None
        output = "\n".join(kept)
        if result.timed_out:
            failure: str | None = f"timed out after {step.timeout_seconds:g} s"
        else:
            failure = expectation_failure(step.expect, result.exit_code, output)
        values = self._capture(step.capture, output) if failure is None else {}
        self.emit(
            EventKind.STEP_FINISHED,
            step.id,
            exit_code=result.exit_code,
            signal=result.signal,
            duration=result.duration,
            lines=result.line_count,
            artifact=str(result.artifact),
            error=failure,
            captured=values,
            attempt=attempt,
        )
        return failure

    def _capture(self, captures: list[Capture], output: str) -> dict[str, str]:
        found = {}
        for capture in captures:
            value = captured(capture, output)
            if value is not None:
                found[capture.name] = value
        self.values.update(found)
        return found

    def _target_of(self, step: CommandStep) -> str:
        """What the command acts on: the value of the last parameter in it, as a person
        would name the thing ("nl-fhir-production"), else the step's own id."""
        names = [name for element in step.argv for name in placeholders(element)]
        for name in reversed(names):
            if self.values.get(name):
                return self.values[name]
        return step.id

    # -- checks ------------------------------------------------------------------------------

    async def _check(self, step: CheckStep) -> str | None:
        target = render(step.target, self.values)
        self.emit(EventKind.STEP_STARTED, step.id, probe=step.probe, target=self.redact(target))
        if self.options.dry_run:
            self.emit(EventKind.STEP_FINISHED, step.id, dry_run=True)
            return None
        if self.probes is None:
            failure: str | None = f"no {step.probe} probe here"
            value: object = None
        else:
            try:
                value = await self.probes.probe(step.probe, target)
            except Exception as error:  # the world's failures are the step's failure
                value, failure = None, f"{step.probe} probe failed: {error}"
            else:
                failure = expectation_failure(step.expect, 0, str(value))
        values = self._capture(step.capture, str(value)) if failure is None else {}
        self.emit(
            EventKind.STEP_FINISHED,
            step.id,
            value=self.redact(str(value)),
            error=failure,
            captured=values,
        )
        return failure

    # -- rollback ----------------------------------------------------------------------------

    async def _rollback(self) -> None:
        self._aborting = False  # rollback runs even after an abort
        self._stop_reason = None
        self._rolling_back = True
        self.emit(EventKind.ROLLBACK_STARTED, strategy=self.book.rollback_strategy)
        for step in self.book.rollback:
            if not all(holds(condition, self.values) for condition in step.when):
                self.emit(EventKind.STEP_SKIPPED, step.id, reason="its conditions do not hold")
                continue
            try:
                await self._command(step)
            except Aborted as stopped:
                self.emit(EventKind.STEP_SKIPPED, step.id, reason=str(stopped))

    def _stop_if_aborting(self) -> None:
        if self._aborting:
            raise Aborted("aborted by the operator")
        if self._stop_reason is not None:
            raise Aborted(self._stop_reason)


def operator_name() -> str:
    """Who runs the commands, for the record: the login, or the uid where there is none
    (containers often have no user name for it)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"
