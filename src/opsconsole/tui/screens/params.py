"""The form a runbook's parameters are filled in before it runs: what it will act on,
seen and changed before the first command, not after."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.suggester import SuggestFromList
from textual.validation import ValidationResult, Validator
from textual.widgets import Input, Label, Static

from opsconsole.engine.render import ParamError, as_text, resolve_params
from opsconsole.runbooks.model import Param, Runbook, param_problem
from opsconsole.tui.screens.dialogs import Dialog
from opsconsole.tui.widgets import formats

BOOLEANS = ["true", "false"]


class ParamValidator(Validator):
    """The runbook's own rules for a value (type, choices, pattern), so the field turns
    red as it is typed and says why."""

    def __init__(self, param: Param) -> None:
        super().__init__()
        self.param = param

    def validate(self, value: str) -> ValidationResult:
        if not value:
            return self.success() if may_be_empty(self.param) else self.failure("needs a value")
        why = param_problem(self.param, value)
        return self.failure(why) if why else self.success()


class ParamsDialog(Dialog[dict[str, str] | None]):
    """Every parameter in a field, filled with what was offered or its default. Enter in
    any field starts the run once every value is valid; Escape runs nothing."""

    DEFAULT_CSS = """
    #params-fields {
        height: auto;
        max-height: 16;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, book: Runbook, given: dict[str, str], environment: str) -> None:
        super().__init__()
        self.book = book
        self.given = given
        self.environment = environment

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box") as box:
            box.border_title = f"run: {self.book.title}"
            yield Static(
                Text.assemble("environment ", (self.environment, "bold")),
                classes="dialog-environment",
            )
            with VerticalScroll(id="params-fields"):
                for param in self.book.params:
                    yield Label(_label(param), classes="param-label")
                    yield Input(
                        value=self._initial(param),
                        placeholder=param.description,
                        password=param.secret,
                        suggester=_suggester(param),
                        validators=[ParamValidator(param)],
                        id=f"param-{param.name}",
                        classes="param-value",
                    )
            yield Static("", id="params-problem", classes="dialog-problem", markup=False)
            yield Label(
                "Enter starts · Tab next field · → completes · Escape cancels",
                classes="dialog-keys",
            )

    def _initial(self, param: Param) -> str:
        if param.name in self.given:
            return self.given[param.name]
        return as_text(param.default) if param.default is not None else ""

    def on_mount(self) -> None:
        # The first field with nothing in it that needs something, else the first: where
        # typing is needed.
        optional = {f"param-{param.name}" for param in self.book.params if may_be_empty(param)}
        fields = list(self.query(Input))
        if fields:
            needs = (field for field in fields if not field.value and field.id not in optional)
            next(needs, fields[0]).focus()

    @property
    def values(self) -> dict[str, str]:
        return {
            param.name: self.query_one(f"#param-{param.name}", Input).value
            for param in self.book.params
        }

    @on(Input.Changed, ".param-value")
    def _changed(self, event: Input.Changed) -> None:
        problem = self.query_one("#params-problem", Static)
        result = event.validation_result
        if result is not None and not result.is_valid:
            name = (event.input.id or "").removeprefix("param-")
            problem.update(f"✖ {name}: {'; '.join(result.failure_descriptions)}")
        else:
            problem.update("")

    @on(Input.Submitted, ".param-value")
    def _start(self, event: Input.Submitted) -> None:
        event.stop()
        values = self.values
        optional = {param.name for param in self.book.params if may_be_empty(param)}
        empty = [name for name, value in values.items() if not value and name not in optional]
        try:
            if empty:
                raise ParamError("; ".join(f"parameter '{name}' needs a value" for name in empty))
            resolved = resolve_params(self.book.params, values)
        except ParamError as error:
            self.query_one("#params-problem", Static).update(f"✖ {error}")
            return
        self.dismiss(resolved)

    def action_cancel(self) -> None:
        self.dismiss(None)


def may_be_empty(param: Param) -> bool:
    """A parameter whose default is empty takes empty as a value of its own (`service_host`:
    this machine; `key_pattern`: the runbook finds it); any other must be filled."""
    return param.default == ""


def _label(param: Param) -> Text:
    label = Text.assemble((param.name, "bold"), "  ", param.description)
    if param.choices:
        label.append(f"  (one of {', '.join(param.choices)})", style=formats.LOOK.quiet)
    elif param.type != "string":
        label.append(f"  ({param.type})", style=formats.LOOK.quiet)
    return label


def _suggester(param: Param) -> SuggestFromList | None:
    if param.choices:
        return SuggestFromList(param.choices)
    if param.type == "boolean":
        return SuggestFromList(BOOLEANS)
    return None
