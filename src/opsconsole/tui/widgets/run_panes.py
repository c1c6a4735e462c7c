"""The panes of a runbook run, drawn from its RunProgress: the steps with their states,
the current step, and the status line. They read what they are given and never run it."""

from __future__ import annotations

import time
from collections.abc import Iterable

from rich.text import Text
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from opsconsole.engine.progress import SYMBOLS, RunProgress, State
from opsconsole.engine.runner import RunResult
from opsconsole.tui.widgets import formats


def look(state: State) -> str:
    styles = formats.LOOK
    return {
        "pending": styles.quiet,
        "running": styles.active,
        "ok": styles.good,
        "failed": styles.bad,
        "skipped": styles.quiet,
    }[state]


class StepList(OptionList):
    """Every step down the side, the rollback's after a rule, each with its state."""

    DEFAULT_CSS = """
    StepList {
        width: 30;
        max-width: 40%;
        height: 1fr;
        border: round $primary;
        border-title-style: bold;
        &:focus {
            border: round $primary;
        }
    }
    """

    def __init__(self, progress: RunProgress, *, id: str | None = None) -> None:
        self.progress = progress
        book = progress.runbook
        options: list[Option | None] = [Option(self._prompt(s.id), id=s.id) for s in book.steps]
        if book.rollback:
            options.append(None)
            options.extend(Option(self._prompt(s.id), id=s.id) for s in book.rollback)
        super().__init__(*options, id=id)
        self.border_title = "Steps"

    def redraw(self, step_ids: Iterable[str]) -> None:
        """The steps whose state moved: one that has just started is highlighted."""
        moved = list(step_ids)
        for step_id in moved:
            self.replace_option_prompt(step_id, self._prompt(step_id))
        current = self.progress.current
        if current in moved and current is not None and self.progress.states[current] == "running":
            self.highlighted = self.get_option_index(current)

    def _prompt(self, step_id: str) -> Text:
        state = self.progress.states[step_id]
        title = self.progress.steps[step_id].title
        return Text(f"{SYMBOLS[state]} {title}", style=look(state))


class CurrentStep(Static):
    """The step running or waiting for the operator: its kind, state, description and
    rendered command; the runbook's summary before any step has started."""

    DEFAULT_CSS = """
    CurrentStep {
        height: auto;
        max-height: 7;
        border: round $panel-lighten-2;
        border-title-style: bold;
        padding: 0 1;
        overflow-y: auto;
    }
    """

    def __init__(self, progress: RunProgress, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.progress = progress
        self.border_title = progress.runbook.title

    def redraw(self) -> None:
        current = self.progress.current
        if current is None:
            self.update(Text(self.progress.runbook.summary))
            return
        step = self.progress.steps[current]
        state = self.progress.states[current]
        parts = [
            Text.assemble((f"{SYMBOLS[state]} {step.title}", "bold"), f"  ({step.kind}, {state})")
        ]
        if step.description:
            parts.append(Text(step.description))
        if current in self.progress.commands:
            parts.append(Text(self.progress.commands[current], style=formats.LOOK.quiet))
        if (waiting := self.progress.waiting.get(current)) is not None:
            parts.append(Text(waiting.said(time.monotonic()), style="bold"))
        self.update(Text("\n").join(parts))

    def on_mount(self) -> None:
        self.set_interval(1, self._count_down)

    def _count_down(self) -> None:
        """A step that waits for the truth has its time left redrawn each second."""
        current = self.progress.current
        if current is not None and current in self.progress.waiting:
            self.redraw()


class RunStatus(Static):
    """One line: how the run stands and which keys do something now; red when it went
    wrong, green when it completed."""

    DEFAULT_CSS = """
    RunStatus {
        height: 1;
        padding: 0 1;
        background: $panel;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        &.-bad {
            background: $error;
        }
        &.-good {
            background: $success-darken-2;
        }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)

    def show(
        self,
        environment: str,
        result: RunResult | None,
        problem: str | None = None,
        unrecorded: str | None = None,
    ) -> None:
        """`problem`: why the run could not start or broke; `unrecorded`: why its record
        could not be written, which stops it."""
        if problem is not None:
            text = f"{problem} · escape back"
        elif unrecorded is not None:
            ending = "escape back" if result is not None else "stopping after this step"
            text = f"{unrecorded} · {ending}"
        elif result is not None:
            text = f"{result.outcome}: {result.reason} · escape back · n note"
        else:
            text = f"running on {environment} · a abort · n note"
        self.update(text)
        outcome = result.outcome if result is not None else None
        bad = problem is not None or unrecorded is not None or outcome in ("failed", "aborted")
        self.set_class(bad, "-bad")
        self.set_class(outcome == "completed", "-good")
