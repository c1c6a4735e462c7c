"""The drill report: the timings and the score, as saved in Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Header, Markdown, Static

from opsconsole.tui.widgets.footer import KeysFooter


class DrillReportScreen(Screen[None]):
    DEFAULT_CSS = """
    #drill-ended {
        padding: 0 1;
        background: $boost;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, report: str, saved: Path | None, why: str) -> None:
        super().__init__()
        self.report = report
        self.saved = saved
        self.why = why

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(
            f"The drill is over: {self.why}. Saved in {self.saved}", id="drill-ended", markup=False
        )
        yield Markdown(self.report, id="drill-report")
        yield KeysFooter()
