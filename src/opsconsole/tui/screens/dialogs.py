"""The questions a runbook run asks the person at the keyboard, one modal dialog each.

Each dismisses with the answer the engine's Operator protocol wants: True/False for a
confirmation or a checklist, the chosen Answer, the note's text, or None to stop."""

from __future__ import annotations

from typing import ClassVar, TypeVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.geometry import Size
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from opsconsole.engine.decisions import Proposal
from opsconsole.engine.operator import Confirmation
from opsconsole.runbooks.model import Answer, DecisionStep, ManualStep

ResultT = TypeVar("ResultT")


class Dialog(ModalScreen[ResultT]):
    """A question in a box over the screen: how every dialog of the console looks."""

    DEFAULT_CSS = """
    Dialog {
        align: center middle;
    }

    .dialog-box {
        width: 72;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $accent;
        border-title-style: bold;
        background: $surface;
        padding: 0 1;
    }

    .dialog-box.-danger {
        border: heavy $error;
    }

    .dialog-command {
        background: $panel;
        padding: 0 1;
        margin: 1 0;
    }

    .dialog-environment {
        color: $warning;
    }

    .dialog-question {
        text-style: bold;
        margin-bottom: 1;
    }

    #decision-answers {
        height: auto;
        max-height: 10;
    }

    .dialog-items {
        height: auto;
        max-height: 12;
    }

    .dialog-buttons {
        height: auto;
        align-horizontal: right;
    }

    .dialog-keys {
        color: $text-muted;
    }

    .dialog-problem {
        color: $error;
    }

    .param-label {
        width: 100%;
        margin-top: 1;
    }

    /* One line a field, as in the rest of the console: five fit at 80x24. */
    .param-value {
        width: 100%;
        height: 1;
        border: none;
        padding: 0 1;
        background: $boost;
    }

    /* As specific as Input's own :focus, which would put its tall border back. */
    .param-value:focus {
        border: none;
        background: $accent 30%;
    }

    .param-value.-invalid {
        background: $error 30%;
    }
    """


class ConfirmDialog(Dialog[bool]):
    """A destructive step: the rendered command and the environment, and the target's
    name typed in full to go on. Enter with anything else asks again (one slip must not
    end a run at 3 a.m.); only Escape refuses it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "refuse", "Refuse")]

    def __init__(self, request: Confirmation) -> None:
        super().__init__()
        self.request = request

    def compose(self) -> ComposeResult:
        request = self.request
        with Vertical(classes="dialog-box -danger") as box:
            box.border_title = f"destructive: {request.step.title}"
            if request.step.description:
                yield Static(request.step.description, markup=False)
            yield Static(
                Text.assemble("environment ", (request.environment, "bold")),
                classes="dialog-environment",
            )
            yield Static(Text(request.where), classes="dialog-command", markup=False)
            yield Static(
                Text.assemble("Type ", (request.target, "bold"), " to run it; Escape refuses."),
            )
            # No placeholder: the target's name greyed in the field read as filled in.
            yield Input(id="confirm-target")
            yield Static("", id="confirm-match", markup=False)

    @on(Input.Changed, "#confirm-target")
    def _typed(self, event: Input.Changed) -> None:
        if not event.value:
            return  # emptied after a wrong name: what was wrong stays said
        matches = event.value == self.request.target
        hint = "✔ matches: Enter runs it" if matches else ""
        self.query_one("#confirm-match", Static).update(hint)

    @on(Input.Submitted, "#confirm-target")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value == self.request.target:
            self.dismiss(True)
            return
        typed = event.value.strip()
        said = "nothing typed" if not typed else f"{typed!r} is not {self.request.target!r}"
        self.query_one("#confirm-match", Static).update(
            f"✖ {said}: type {self.request.target} to run it, Escape refuses"
        )
        event.input.clear()

    def action_refuse(self) -> None:
        self.dismiss(False)


class DecisionDialog(Dialog[Answer | None]):
    """The question and its answers: Enter on one, or its number. Escape stops the run.
    The answer the evidence proposes is marked, with that evidence, and under the cursor:
    Enter takes it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "abort", "Abort run")]

    def __init__(self, step: DecisionStep, proposal: Proposal | None = None) -> None:
        super().__init__()
        self.step = step
        self.proposal = proposal

    def compose(self) -> ComposeResult:
        proposed = self.proposal.answer if self.proposal else None
        with Vertical(classes="dialog-box") as box:
            box.border_title = self.step.title
            yield Static(self.step.question, classes="dialog-question", markup=False)
            if self.proposal is not None:
                yield Static(
                    f"Proposed from {self.proposal.said()}",
                    classes="dialog-question", id="decision-evidence", markup=False,
                )  # fmt: skip
            yield OptionList(
                *(
                    Option(
                        Text.assemble(
                            f"{number}. {answer.label}",
                            ("  ◀ proposed", "bold") if answer == proposed else "",
                        ),
                        id=str(number - 1),
                    )
                    for number, answer in enumerate(self.step.answers, 1)
                ),
                id="decision-answers",
            )
            keys = "Enter takes the proposed · 1-9 another" if proposed else "Enter or 1-9 chooses"
            yield Label(f"{keys} · Escape aborts the run", classes="dialog-keys")

    def on_mount(self) -> None:
        answers = self.query_one("#decision-answers", OptionList)
        proposed = self.proposal.answer if self.proposal else None
        answers.highlighted = self.step.answers.index(proposed) if proposed else 0
        answers.focus()

    @on(OptionList.OptionSelected, "#decision-answers")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.step.answers[event.option_index])

    def on_key(self, event: events.Key) -> None:
        if event.key.isdigit() and 1 <= int(event.key) <= len(self.step.answers):
            event.stop()
            self.dismiss(self.step.answers[int(event.key) - 1])

    def action_abort(self) -> None:
        self.dismiss(None)


class Tick(Checkbox):
    """A checklist item that says by its mark whether it is done (✔, or nothing), not by
    its shade alone: without colour the two shades are one grey. Its text is wrapped, not
    cut: an item is read whole at 80 columns before it is ticked."""

    DEFAULT_CSS = """
    Tick {
        width: 1fr;
        height: auto;
        text-wrap: wrap;
    }
    """

    def __init__(self, label: str, *, id: str | None = None) -> None:
        super().__init__(label, id=id)
        self.BUTTON_INNER = " "

    def watch_value(self) -> None:
        super().watch_value()
        self.BUTTON_INNER = "✔" if self.value else " "
        self.refresh()

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        # A toggle button is one line tall, whatever its label. Its styles stand for the
        # rules, as in Textual's own Widget.get_content_height.
        return self.render().get_height(self.styles, width)  # type: ignore[arg-type]


class ChecklistDialog(Dialog[bool]):
    """A manual step: every item ticked, then Done. Abort (or Escape) stops the run."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "abort", "Abort run")]

    def __init__(self, step: ManualStep) -> None:
        super().__init__()
        self.step = step

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box") as box:
            box.border_title = self.step.title
            if self.step.description:
                yield Static(self.step.description, markup=False)
            with VerticalScroll(classes="dialog-items"):
                for number, item in enumerate(self.step.checklist):
                    yield Tick(item, id=f"item-{number}")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Done", id="checklist-done", variant="success")
                yield Button("Abort run", id="checklist-abort", variant="error")

    def on_mount(self) -> None:
        self._update_done()
        boxes = self.query(Checkbox)
        (boxes.first() if boxes else self.query_one("#checklist-done", Button)).focus()

    @on(Checkbox.Changed)
    def _ticked(self) -> None:
        self._update_done()

    def _update_done(self) -> None:
        self.query_one("#checklist-done", Button).disabled = not all(
            box.value for box in self.query(Checkbox)
        )

    @on(Button.Pressed, "#checklist-done")
    def _done(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(True)

    @on(Button.Pressed, "#checklist-abort")
    def _aborted(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(False)

    def action_abort(self) -> None:
        self.dismiss(False)


class NoteDialog(Dialog[str | None]):
    """A line of free text: Enter submits it, Escape gives None (a note step: abort)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, prompt: str, escape_says: str = "aborts the run") -> None:
        super().__init__()
        self.title_text = title
        self.prompt = prompt
        self.escape_says = escape_says

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box") as box:
            box.border_title = self.title_text
            yield Static(self.prompt, classes="dialog-question", markup=False)
            yield Input(id="note-text")
            yield Label(f"Enter submits · Escape {self.escape_says}", classes="dialog-keys")

    @on(Input.Submitted, "#note-text")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
