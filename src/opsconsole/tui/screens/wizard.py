"""The runbook wizard: one run of a runbook, step by step, in front of the operator.

The engine (`opsconsole.engine.runner`) runs in a worker on the app's loop; this screen
is its Operator (each question a modal dialog, answered when the dialog is dismissed)
and draws what it emits, as RunProgress folds it: step states down the left, the current
step on the right, the output below it. The run starts as soon as the screen opens."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import ClassVar, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header
from textual.worker import Worker, WorkerState

from opsconsole.config.model import HostSection
from opsconsole.engine.control import RunOptions
from opsconsole.engine.decisions import Decision, Proposal
from opsconsole.engine.events import Event, Note
from opsconsole.engine.operator import Confirmation, Probes
from opsconsole.engine.progress import NOTE_PROMPT, Change, RunProgress, State
from opsconsole.engine.render import ParamError
from opsconsole.engine.runner import Runner, RunResult
from opsconsole.incidents.session import RunEnd
from opsconsole.runbooks.model import (
    DecisionStep,
    Library,
    ManualStep,
    NoteStep,
    Runbook,
    Step,
)
from opsconsole.tui.messages import RunbookRequested, RunEnded, RunShown
from opsconsole.tui.screens.dialogs import (
    ChecklistDialog,
    ConfirmDialog,
    DecisionDialog,
    NoteDialog,
)
from opsconsole.tui.screens.incident import ProposalDialog
from opsconsole.tui.widgets.footer import KeysFooter
from opsconsole.tui.widgets.log_tail import MAX_LINES, LogTail
from opsconsole.tui.widgets.run_panes import CurrentStep, RunStatus, StepList

T = TypeVar("T")


class EventsArrived(Message):
    """Events are waiting in the screen's queue: one message however many came."""


class WizardScreen(Screen[None]):
    DEFAULT_CSS = """
    #wizard-body {
        height: 1fr;
    }

    #wizard-main {
        width: 1fr;
        height: 1fr;
    }

    #wizard-output {
        height: 1fr;
        border: round $panel-lighten-2;
        border-title-style: bold;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "abort", "Abort"),
        Binding("n", "note", "Note"),
        Binding("g", "again", "Run again"),
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
        library: Library | None = None,
        hosts: Mapping[str, HostSection] | None = None,
    ) -> None:
        """`record` sees every event as it is emitted, before the screen shows it (the
        place for an incident log); `artifacts` defaults to a fresh temporary folder;
        `library`, where a runbook step finds the runbook it runs."""
        super().__init__()
        self.runbook = runbook
        self.params = dict(params)
        """What it was started with: `g` starts it again from these."""
        self.environment = environment
        self.record = record
        self.progress = RunProgress(runbook)
        self.result: RunResult | None = None
        self.problem: str | None = None
        """Why the run could not start, or why it broke."""
        self.unrecorded: str | None = None
        """Why the run's record could not be written, which stopped it."""
        self._pending: list[Event] = []
        self.runner: Runner | None = None
        where = artifacts or Path(tempfile.mkdtemp(prefix=f"opsconsole-{runbook.id}-"))
        try:
            self.runner = Runner(
                runbook,
                params,
                _ScreenOperator(self, operator_name),
                self._emitted,
                RunOptions(environment=environment, artifacts=where, hosts=dict(hosts or {})),
                probes=probes,
                library=library,
            )
        except ParamError as error:
            self.problem = f"cannot start: {error}"

    @property
    def states(self) -> dict[str, State]:
        return self.progress.states

    @property
    def running(self) -> bool:
        return self.runner is not None and self.result is None and self.problem is None

    # -- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="wizard-body"):
            yield StepList(self.progress, id="wizard-steps")
            with Vertical(id="wizard-main"):
                yield CurrentStep(self.progress, id="wizard-step")
                output = LogTail(MAX_LINES, wrap=True, id="wizard-output")
                output.border_title = "output · f filter · p pause"
                yield output
        yield RunStatus(id="wizard-status")
        yield KeysFooter()

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
        self._draw(self.progress.apply(events))

    def _draw(self, change: Change) -> None:
        if change.lines:
            # The tail holds MAX_LINES at most: a flood's older lines would only be dropped.
            self.query_one(LogTail).add_lines(change.lines[-MAX_LINES:])
        if change.steps:
            self.query_one(StepList).redraw(change.steps)
        if change.more_than_output:
            self._show_current()
            self._show_status()

    def _show_current(self) -> None:
        self.query_one(CurrentStep).redraw()

    def _show_status(self) -> None:
        status = self.query_one(RunStatus)
        status.show(self.environment, self.result, self.problem, self.unrecorded)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "runbook":
            return
        if event.state is WorkerState.SUCCESS and isinstance(event.worker.result, RunResult):
            self.result = event.worker.result
            self._take_events()
            left = self.progress.left() if self.result.outcome == "aborted" else 0
            verified = list(self.progress.verified)
            failed = [
                step.title
                for step in [*self.runbook.steps, *self.runbook.rollback]
                if self.progress.states[step.id] == "failed"
            ]
            end = RunEnd(self.runbook, self.result, verified, left, failed)
            self.post_message(RunEnded(end))
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
        if action == "again":
            return not self.running
        return True

    def action_abort(self) -> None:
        """Asks first: an abort ends the command under way and runs the rollback."""
        if not self.running:
            return

        def answered(abort: bool | None) -> None:
            if abort:
                self.abort()

        lines = ["The command under way is ended (its process group killed), then the "
                 "rollback runs, as the runbook says."]  # fmt: skip
        self.app.push_screen(ProposalDialog(f"Abort '{self.runbook.title}'?", lines), answered)

    def abort(self) -> None:
        """Aborts the run, unasked (the app quitting, once it has asked)."""
        if self.running and self.runner is not None:
            self.runner.abort()
            self.query_one(RunStatus).update("aborting… (rollback runs if any)")

    def action_again(self) -> None:
        """The same runbook again, its form filled with what this run was given."""
        if self.running:
            return
        self.app.pop_screen()
        self.app.post_message(RunbookRequested(self.runbook, self.params))

    def action_back(self) -> None:
        """Back to the screen below; a run goes on behind it (installed by the app, the
        wizard is kept), shown in the header, and `w` brings it back."""
        if self.running:
            if not self.app.is_screen_installed(self):  # popped, it would end with its run
                self.notify("The run is still going: a aborts it.", severity="warning")
                return
            self.notify("The run goes on: w brings it back.", timeout=5)
        self.app.pop_screen()

    def on_screen_resume(self) -> None:
        self.post_message(RunShown(self, True))

    def on_screen_suspend(self) -> None:
        self.post_message(RunShown(self, False))

    def action_note(self) -> None:
        runner = self.runner
        if runner is None:
            return

        def noted(text: str | None) -> None:
            if text:
                step = self.progress.current
                runner.emit(Note, step, prompt=NOTE_PROMPT, text=runner.redact(text))

        self.app.push_screen(
            NoteDialog("Note", "A note for the record of this run:", "cancels"), noted
        )

    # -- asking the operator -------------------------------------------------------------------

    def asking(self, step: Step) -> None:
        """A step waits for the operator: it is the current one, if it is this runbook's
        (a runbook it runs asks too: its step of the same id is another step)."""
        self._take_events()  # what came before the question shows before it
        if any(step is own for own in self.progress.steps.values()):
            self._draw(self.progress.asking(step.id))


class _ScreenOperator:
    """The engine's Operator, played by the wizard's dialogs."""

    def __init__(self, screen: WizardScreen, name: str) -> None:
        self.screen = screen
        self.name = name

    async def confirm(self, request: Confirmation) -> bool:
        self.screen.asking(request.step)
        confirmed = await self._ask(ConfirmDialog(request))
        return confirmed is True

    async def decide(self, step: DecisionStep, proposal: Proposal | None) -> Decision | None:
        self.screen.asking(step)
        while True:
            answer = await self._ask(DecisionDialog(step, proposal))
            if answer is None:
                return None
            if proposal is None or answer == proposal.answer:
                return Decision(answer)
            reason = await self._ask(
                NoteDialog(
                    f"Not {proposal.answer.label!r}?",
                    f"The evidence proposed it ({proposal.said()}). Why {answer.label!r}? "
                    "The incident log keeps your reason.",
                    escape_says="goes back to the question",
                )
            )
            if reason and reason.strip():
                return Decision(answer, reason.strip())

    async def checklist(self, step: ManualStep) -> bool:
        self.screen.asking(step)
        done = await self._ask(ChecklistDialog(step))
        return done is True

    async def note(self, step: NoteStep) -> str | None:
        self.screen.asking(step)
        return await self._ask(NoteDialog(step.title, step.prompt))

    async def _ask(self, dialog: Screen[T]) -> T | None:
        """The dialog's result, once the operator dismisses it."""
        answered: asyncio.Future[T | None] = asyncio.get_running_loop().create_future()

        def dismissed(result: T | None) -> None:
            if not answered.done():
                answered.set_result(result)

        app = self.screen.app
        if app.screen is not self.screen and self.screen not in app.screen_stack:
            # A run behind the dashboard that needs its engineer: the wizard comes back
            # first, so that the question is asked where its step and output are.
            await app.push_screen(self.screen)
        app.push_screen(dialog, dismissed)
        try:
            return await answered
        finally:
            self.screen.query_one(LogTail).follow()
