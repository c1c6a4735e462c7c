"""Opening an incident: a title, a severity and the impact, filled in from what the
dashboard sees so that at 3 a.m. Enter is often all it takes."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.suggester import SuggestFromList
from textual.validation import ValidationResult, Validator
from textual.widgets import Input, Label, Static

from opsconsole.incidents.model import SEVERITIES, SEVERITY_MEANINGS
from opsconsole.tui.screens.dialogs import Dialog


class SeverityValidator(Validator):
    def validate(self, value: str) -> ValidationResult:
        if value.strip().upper() in SEVERITIES:
            return self.success()
        return self.failure("one of " + ", ".join(SEVERITIES))


class OpenIncidentDialog(Dialog[dict[str, str] | None]):
    """Dismisses with title, severity and impact, or None (Escape): nothing opened."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, severity: str) -> None:
        super().__init__()
        self.suggested_title = title
        self.suggested_severity = severity

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box") as box:
            box.border_title = "open an incident"
            yield Label("title", classes="param-label")
            yield Input(
                self.suggested_title,
                placeholder="what is wrong",
                id="incident-title",
                classes="param-value",
            )
            yield Label("severity  P0 … P4", classes="param-label")
            yield Input(
                self.suggested_severity,
                suggester=SuggestFromList(list(SEVERITIES)),
                validators=[SeverityValidator()],
                id="incident-severity",
                classes="param-value",
            )
            yield Static(
                SEVERITY_MEANINGS.get(self.suggested_severity, ""),  # type: ignore[call-overload]
                id="severity-meaning",
                markup=False,
            )
            yield Label("impact (who is affected, how)", classes="param-label")
            yield Input(placeholder="not known yet", id="incident-impact", classes="param-value")
            yield Static("", id="incident-problem", classes="dialog-problem", markup=False)
            yield Label("Enter opens it · Tab next field · Escape cancels", classes="dialog-keys")

    @on(Input.Changed, "#incident-severity")
    def _severity(self, event: Input.Changed) -> None:
        meaning = SEVERITY_MEANINGS.get(event.value.strip().upper(), "")  # type: ignore[call-overload]
        self.query_one("#severity-meaning", Static).update(meaning)

    @on(Input.Submitted)
    def _open(self, event: Input.Submitted) -> None:
        event.stop()
        title = self.query_one("#incident-title", Input).value.strip()
        severity = self.query_one("#incident-severity", Input).value.strip().upper()
        problem = self.query_one("#incident-problem", Static)
        if not title:
            problem.update("✖ the incident needs a title")
            return
        if severity not in SEVERITIES:
            problem.update("✖ severity: one of " + ", ".join(SEVERITIES))
            return
        impact = self.query_one("#incident-impact", Input).value.strip()
        self.dismiss({"title": title, "severity": severity, "impact": impact})

    def action_cancel(self) -> None:
        self.dismiss(None)


class ProposalDialog(Dialog[bool]):
    """The console proposes a status on evidence: y or Enter accepts, n or Escape declines.
    Either answer is recorded."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,enter", "answer(True)", "Accept"),
        Binding("n,escape", "answer(False)", "Decline"),
    ]

    def __init__(self, title: str, evidence: list[str]) -> None:
        super().__init__()
        self.proposal = title
        self.evidence = evidence

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box") as box:
            box.border_title = "proposal"
            yield Static(self.proposal, classes="dialog-question", markup=False)
            for line in self.evidence:
                yield Static(line, markup=False)
            yield Label(
                "y/Enter accepts · n/Escape declines (both are recorded)", classes="dialog-keys"
            )

    def action_answer(self, accepted: bool) -> None:
        self.dismiss(accepted)
