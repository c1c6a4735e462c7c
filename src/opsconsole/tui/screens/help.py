"""What the dashboard shows and which keys do what."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

LEGEND = """\
- **✔ UP**: the health endpoint answered 2xx in time.
- **▲ DEGRADED**: it answered, but slowly or reporting `degraded`.
- **✖ DOWN**: no answer, a timeout, an HTTP error, or it reports `down`.

**FOR**: how long in that state (`≥2m`: it already was when the console started, 2 min ago).
**P95 / ERR / REQ/S**: latency, share of 5xx, requests a second over the window;
`▲` over its threshold, `?` last known while the metrics source is unreachable.
**P95 ~ / ERR ~**: one bar per 30 s, full height at the threshold.
Checks repeat every refresh interval and never overlap; a failing backend is
asked less often, and its pane says since when and what it last knew.
"""


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }

    #help {
        width: 76;
        max-width: 100%;
        height: auto;
        max-height: 90%;
        border: round $accent;
        background: $surface;
        padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
    ]

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        keys = " · ".join(f"`{key}` {description}" for key, description in self.keys)
        with VerticalScroll(id="help"):
            yield Markdown(f"{keys}\n\n{LEGEND}")
