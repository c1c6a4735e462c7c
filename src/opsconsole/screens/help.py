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

**FOR**: how long it has been in that state (`≥` when it already was at start-up).
**LAST GOOD**: when it was last UP (`not seen`: not since the console started).
Checks repeat every refresh interval and never overlap.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
    ]

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        rows = "\n".join(f"| `{key}` | {description} |" for key, description in self.keys)
        with VerticalScroll(id="help"):
            yield Markdown(f"| Key | Does |\n|---|---|\n{rows}\n\n{LEGEND}")
