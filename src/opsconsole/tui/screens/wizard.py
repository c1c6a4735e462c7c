"""The runbook wizard: one run of a runbook, step by step, in front of the operator.

The engine (`opsconsole.engine.runner`) runs in a worker on the app's loop; this screen
is its Operator (each question a modal dialog, answered when the dialog is dismissed)
and shows what it emits: step states down the left, the current step on the right, the
output below it. The run starts as soon as the screen opens."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import ClassVar, Literal, TypeVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from opsconsole.engine.events import Event, EventKind
from opsconsole.engine.process import OutputLine
from opsconsole.engine.render import ParamError
from opsconsole.engine.runner import Confirmation, Probes, Runner, RunOptions, RunResult
from opsconsole.incidents.holding import CheckResult, Verified, summarize
from opsconsole.incidents.session import RunEnd
from opsconsole.runbooks.model import (
    Answer,
    CheckStep,
    CommandStep,
    DecisionStep,
    ManualStep,
    NoteStep,
    Runbook,
)
from opsconsole.tui.messages import RunEnded
from opsconsole.tui.screens.dialogs import (
    ChecklistDialog,
    ConfirmDialog,
    DecisionDialog,
    NoteDialog,
)
from opsconsole.tui.widgets.log_tail import MAX_LINES, LogTail

State = Literal["pending", "running", "ok", "failed", "skipped"]
SYMBOLS: dict[State, str] = {
    "pending": "…",
    "running": "▶",
    "ok": "✔",
    "failed": "✖",
    "skipped": "↷",
}
STYLES: dict[State, str] = {
    "pending": "dim",
    "running": "bold",
    "ok": "green",
    "failed": "bold red",
    "skipped": "dim",
}

T = TypeVar("T")


class EventsArrived(Message):
    """Events are waiting in the screen's queue: one message however many came."""


class WizardScreen(Screen[None]):
    DEFAULT_CSS = """
    #wizard-body {
        height: 1fr;
    }

    #wizard-steps {
        width: 30;
        max-width: 40%;
        height: 1fr;
        border: round $primary;
        border-title-style: bold;
    }

    #wizard-main {
        width: 1fr;
        height: 1fr;
    }

    #wizard-step {
        height: auto;
        max-height: 7;
        border: round $panel-lighten-2;
        border-title-style: bold;
        padding: 0 1;
        overflow-y: auto;
    }

    #wizard-output {
        height: 1fr;
        border: round $panel-lighten-2;
        border-title-style: bold;
    }

    #wizard-status {
        height: 1;
        padding: 0 1;
        background: $panel;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }

    #wizard-status.-bad {
        background: $error;
    }

    #wizard-status.-good {
        background: $success-darken-2;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "abort", "Abort"),
        Binding("n", "note", "Note"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(
        self,
        runbook: Runbook,
        params: Mapping[str, str],
        environment: str,
        *,
        operator_name: str = "operator",
        artifacts: Path | None = None,
        probes: Probes | None = None,
        record: Callable[[Event], None] | None = None,
    ) -> None:
        """`record` sees every event as it is emitted, before the screen shows it (the
        place for an incident log); `artifacts` defaults to a fresh temporary folder."""
        super().__init__()
        self.runbook = runbook
        self.environment = environment
        self.record = record
        self.states: dict[str, State] = {
            step.id: "pending" for step in [*runbook.steps, *runbook.rollback]
        }
        self.steps = {step.id: step for step in [*runbook.steps, *runbook.rollback]}
        self.current: str | None = None
        self.commands: dict[str, str] = {}
        """The rendered command of each step that ran one."""
        self.result: RunResult | None = None
        self.problem: str | None = None
        """Why the run could not start, or why it broke."""
        self.unrecorded: str | None = None
        """Why the run's record could not be written, which stopped it."""
        self._pending: list[Event] = []
        self.verified: list[Verified] = []
        self._failed_first: dict[str, str] = {}
        """How each verifying step failed before it passed (its retries): the "before"."""
        self.runner: Runner | None = None
        where = artifacts or Path(tempfile.mkdtemp(prefix=f"opsconsole-{runbook.id}-"))
        try:
            self.runner = Runner(
                runbook,
                params,
                _ScreenOperator(self, operator_name),
                self._emitted,
                RunOptions(environment=environment, artifacts=where),
                probes=probes,
            )
        except ParamError as error:
            self.problem = f"cannot start: {error}"

    @property
    def running(self) -> bool:
        return self.runner is not None and self.result is None and self.problem is None

    # -- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="wizard-body"):
            steps = OptionList(*self._step_options(), id="wizard-steps")
            steps.border_title = "Steps"
            yield steps
            with Vertical(id="wizard-main"):
                current = Static(id="wizard-step")
                current.border_title = self.runbook.title
                yield current
                output = LogTail(MAX_LINES, id="wizard-output")
                output.border_title = "output · f filter · p pause"
                yield output
        yield Static(id="wizard-status", markup=False)
        yield Footer()

    def _step_options(self) -> list[Option | None]:
        options: list[Option | None] = [
            Option(self._prompt(step.id), id=step.id) for step in self.runbook.steps
        ]
        if self.runbook.rollback:
            options.append(None)
            options.extend(
                Option(self._prompt(step.id), id=step.id) for step in self.runbook.rollback
            )
        return options

    def _prompt(self, step_id: str) -> Text:
        state = self.states[step_id]
        return Text(f"{SYMBOLS[state]} {self.steps[step_id].title}", style=STYLES[state])

    def on_mount(self) -> None:
        self.sub_title = f"{self.runbook.id} on {self.environment}"
        self.query_one("#wizard-output Log").focus()
        self._show_current()
        self._show_status()
        if self.runner is not None and self.problem is None:
            self.run_worker(
                self._run(self.runner),
                group="runbook",
                description=f"run {self.runbook.id}",
                exit_on_error=False,
            )

    async def _run(self, runner: Runner) -> RunResult:
        return await runner.run()

    # -- what the engine says ------------------------------------------------------------------

    def _emitted(self, event: Event) -> None:
        """The engine's emit: on the loop, from the worker. Queued, never drawn here; one
        message fetches whatever has queued up by the time the screen gets to it."""
        if self.record is not None:
            self.record(event)
        if not self._pending:
            self.post_message(EventsArrived())
        self._pending.append(event)

    @on(EventsArrived)
    def _take_events(self) -> None:
        events, self._pending = self._pending, []
        lines: list[str] = []
        changed = False
        for event in events:
            changed |= self._apply(event, lines)
        if lines:
            # The tail holds MAX_LINES at most: a flood's older lines would only be dropped.
            self.query_one(LogTail).add_lines(lines[-MAX_LINES:])
        if changed:
            self._show_current()
            self._show_status()

    def _apply(self, event: Event, lines: list[str]) -> bool:
        """Folds one event into the states and the output; True if more than output."""
        kind, step, detail = event.kind, event.step, event.detail
        if kind is EventKind.OUTPUT:
            output: list[OutputLine] = detail["lines"]
            lines.extend(
                line.text if line.stream == "stdout" else f"! {line.text}" for line in output
            )
            return False
        if kind is EventKind.STEP_STARTED and step is not None:
            self._set(step, "running")
            if detail.get("command"):
                self.commands[step] = detail["command"]
                what = f"$ {detail['command']}"
            else:
                what = f"{detail.get('probe')} {detail.get('target')}"
            attempt = detail.get("attempt", 1)
            again = f" (attempt {attempt})" if attempt > 1 else ""
            lines.append(f"▶ {step}{again}: {what}")
        elif kind is EventKind.STEP_FINISHED and step is not None:
            error = detail.get("error")
            self._set(step, "failed" if error else "ok")
            self._note_verifying(step, event)
            took = f" in {detail['duration']:.1f} s" if detail.get("duration") is not None else ""
            code = f"exit {detail['exit_code']}" if detail.get("exit_code") is not None else ""
            lines.append(f"{'✖' if error else '✔'} {step}: {code}{took} {error or 'ok'}".strip())
        elif kind is EventKind.STEP_SKIPPED and step is not None:
            self._set(step, "skipped")
            lines.append(f"↷ {step}: skipped, {detail.get('reason')}")
        elif kind is EventKind.REFUSED and step is not None:
            self._set(step, "failed")
            lines.append(f"✖ {step}: refused ({detail.get('reason')})")
        elif kind is EventKind.CONFIRMED and step is not None:
            lines.append(f"✔ {step}: confirmed by {event.operator} ({detail.get('target')})")
        elif kind is EventKind.DECIDED and step is not None:
            self._set(step, "ok")
            lines.append(f"✔ {step}: {detail.get('question')} → {detail.get('answer')}")
        elif kind is EventKind.CHECKLIST and step is not None:
            self._set(step, "ok" if detail.get("done") else "failed")
        elif kind is EventKind.NOTE:
            if step is not None and step in self.steps and detail.get("prompt") != NOTE_PROMPT:
                self._set(step, "ok")
            lines.append(f"✎ {event.operator}: {detail.get('text')}")
        elif kind is EventKind.ROLLBACK_STARTED:
            lines.append(f"↺ rolling back ({detail.get('strategy')})")
        elif kind is EventKind.RUN_FINISHED:
            for step_id, state in self.states.items():
                if state == "running":  # stopped in a dialog, or by an abort
                    self._set(step_id, "failed")
            lines.append(f"■ {detail.get('outcome')}: {detail.get('reason')}")
        return True

    def _note_verifying(self, step_id: str, event: Event) -> None:
        step = self.steps.get(step_id)
        if not isinstance(step, CommandStep | CheckStep) or not step.verifies:
            return
        if event.detail.get("error"):
            self._failed_first.setdefault(step_id, summarize(event.detail))
            return
        passed = CheckResult(True, event.at, summarize(event.detail))
        self.verified.append(Verified(step, passed, self._failed_first.get(step_id)))

    def _set(self, step_id: str, state: State) -> None:
        if step_id not in self.states:
            return
        self.states[step_id] = state
        if state == "running":
            self.current = step_id
        steps = self.query_one("#wizard-steps", OptionList)
        steps.replace_option_prompt(step_id, self._prompt(step_id))
        if state == "running":
            steps.highlighted = steps.get_option_index(step_id)

    def _show_current(self) -> None:
        panel = self.query_one("#wizard-step", Static)
        if self.current is None:
            panel.update(Text(self.runbook.summary))
            return
        step = self.steps[self.current]
        state = self.states[self.current]
        parts = [
            Text.assemble((f"{SYMBOLS[state]} {step.title}", "bold"), f"  ({step.kind}, {state})")
        ]
        if step.description:
            parts.append(Text(step.description))
        if self.current in self.commands:
            parts.append(Text(f"$ {self.commands[self.current]}", style="dim"))
        panel.update(Text("\n").join(parts))

    def _show_status(self) -> None:
        if self.problem is not None:
            text = f"{self.problem} · escape back"
        elif self.unrecorded is not None:
            ending = "escape back" if self.result is not None else "stopping after this step"
            text = f"{self.unrecorded} · {ending}"
        elif self.result is not None:
            text = f"{self.result.outcome}: {self.result.reason} · escape back · n note"
        else:
            text = f"running on {self.environment} · a abort · n note"
        status = self.query_one("#wizard-status", Static)
        status.update(text)
        outcome = self.result.outcome if self.result is not None else None
        status.set_class(
            self.problem is not None
            or self.unrecorded is not None
            or outcome in ("failed", "aborted"),
            "-bad",
        )
        status.set_class(outcome == "completed", "-good")

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "runbook":
            return
        if event.state is WorkerState.SUCCESS and isinstance(event.worker.result, RunResult):
            self.result = event.worker.result
            self._take_events()
            left = 0
            if self.result.outcome == "aborted":
                main = [step.id for step in self.runbook.steps]
                left = sum(1 for step_id in main if self.states[step_id] == "pending")
            self.post_message(
                RunEnded(RunEnd(self.runbook, self.result, list(self.verified), left))
            )
        elif event.state is WorkerState.ERROR:
            self.problem = f"the run broke: {event.worker.error}"
        elif event.state is WorkerState.CANCELLED:
            self.problem = "the run was cancelled"
        else:
            return
        self._take_events()
        self._show_current()
        self._show_status()
        self.refresh_bindings()

    def stop_unrecorded(self, reason: str) -> None:
        """The incident log cannot be written: the run stops after the step under way,
        and the screen says why for as long as it is open."""
        self.unrecorded = reason
        if self.runner is not None:
            self.runner.stop(reason)
        self.notify(f"{reason}. The run stops after this step.", severity="error", timeout=60)
        self._show_status()

    # -- keys ----------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "abort":
            return self.running  # nothing to abort once it is over: hidden
        return True

    def action_abort(self) -> None:
        if self.running and self.runner is not None:
            self.runner.abort()
            self.query_one("#wizard-status", Static).update("aborting… (rollback runs if any)")

    def action_back(self) -> None:
        if self.running:
            self.notify("The run is still going: a aborts it.", severity="warning")
            return
        self.app.pop_screen()

    def action_note(self) -> None:
        runner = self.runner
        if runner is None:
            return

        def noted(text: str | None) -> None:
            if text:
                runner.emit(
                    EventKind.NOTE, self.current, prompt=NOTE_PROMPT, text=runner.redact(text)
                )

        self.app.push_screen(
            NoteDialog("Note", "A note for the record of this run:", "cancels"), noted
        )

    # -- asking the operator -------------------------------------------------------------------

    async def ask(self, dialog: Screen[T]) -> T | None:
        """The dialog's result, once the operator dismisses it."""
        answered: asyncio.Future[T | None] = asyncio.get_running_loop().create_future()

        def dismissed(result: T | None) -> None:
            if not answered.done():
                answered.set_result(result)

        self.app.push_screen(dialog, dismissed)
        return await answered

    def asking(self, step_id: str) -> None:
        """A step waits for the operator: it is the current one."""
        self._take_events()  # what came before the question shows before it
        self._set(step_id, "running")
        self._show_current()


NOTE_PROMPT = "operator note"
"""The prompt of a note the operator adds with `n`, outside any note step."""


class _ScreenOperator:
    """The engine's Operator, played by the wizard's dialogs."""

    def __init__(self, screen: WizardScreen, name: str) -> None:
        self.screen = screen
        self.name = name

    async def confirm(self, request: Confirmation) -> bool:
        self.screen.asking(request.step.id)
        confirmed = await self.screen.ask(ConfirmDialog(request))
        return confirmed is True

    async def decide(self, step: DecisionStep) -> Answer | None:
        self.screen.asking(step.id)
        return await self.screen.ask(DecisionDialog(step))

    async def checklist(self, step: ManualStep) -> bool:
        self.screen.asking(step.id)
        done = await self.screen.ask(ChecklistDialog(step))
        return done is True

    async def note(self, step: NoteStep) -> str | None:
        self.screen.asking(step.id)
        return await self.screen.ask(NoteDialog(step.title, step.prompt))
