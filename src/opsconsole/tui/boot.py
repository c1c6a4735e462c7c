"""The console's first frame, drawn before anything but Textual is loaded: the dashboard's
frame (its header, the services table's columns, the backend panes) and what is being
loaded. The engineer sees the console at once; the rows fill in a moment later."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Header, Static

from opsconsole.tui.widgets.footer import KeysFooter

# As the dashboard names its columns and panes; a test holds the two together.
COLUMNS = " SERVICE    HEALTH  FOR  P95    ERR  DETAIL"
PANE_TITLES = ("PostgreSQL", "Redis", "Docker", "Alerts")


class StartingScreen(Screen[None]):
    DEFAULT_CSS = """
    StartingScreen #starting-services {
        height: 1fr;
        border: round $primary;
        border-title-style: bold;
    }

    StartingScreen #starting-panes {
        height: 4;
    }

    StartingScreen .starting-pane {
        width: 1fr;
        height: 4;
        border: round $panel-lighten-2;
        border-title-style: bold;
        padding: 0 1;
    }

    StartingScreen #starting-columns {
        text-style: bold;
    }
    """

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="starting-services") as services:
            services.border_title = "Services"
            yield Static(COLUMNS, id="starting-columns", markup=False)
            yield Static(f" … loading {self.what}", id="starting-what", markup=False)
        with Horizontal(id="starting-panes"):
            for title in PANE_TITLES:
                pane = Static("…", classes="starting-pane")
                pane.border_title = title
                yield pane
        yield KeysFooter()
