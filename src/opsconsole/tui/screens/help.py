"""What the dashboard shows and which keys do what."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import ActiveBinding, Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

LEGEND = """\
- **✔ UP**: the health endpoint answered 2xx in time.
- **▲ DEGRADED**: it answered, but slowly or reporting `degraded`.
- **✖ DOWN**: no answer, a timeout, an HTTP error, or it reports `down`.
- **↯ FLAPPING**: up and down 3 times or more in 5 minutes.
- **▲ ERRORS / ▲ SLOW**: it answers, but its error rate / P95 is over its threshold.

**FOR**: how long in that state (`≥2m`: it already was when the console started, 2 min ago).
**P95 / ERR / REQ/S**: latency, share of 5xx, requests a second over the window;
`▲` over its threshold, `?` last known while the metrics source is unreachable, or
from old samples of a scrape target that is down (DETAIL says which, since when).
**P95 ~ / ERR ~**: one bar per 30 s, full height at the threshold.
Checks repeat every refresh interval and never overlap; a failing backend is
asked less often, and its pane says since when and what it last knew.
"""


def keys_of(app: App[Any], active: Iterable[ActiveBinding]) -> list[tuple[str, str]]:
    """Every key the screen answers to, not only the footer's (Enter on a row, Escape),
    and only the console's own: Textual's widgets add cursor keys everyone knows."""
    keys, seen = [], set()
    for node, binding, enabled, _ in active:
        ours = any(
            binding.action in _actions(cls)
            for cls in type(node).__mro__
            if cls.__module__.startswith("opsconsole")
        )
        shown = app.get_key_display(binding)
        if ours and enabled and binding.description and shown not in seen:
            seen.add(shown)
            keys.append((shown, binding.description))
    return keys


def _actions(cls: type) -> set[str]:
    """The actions of the bindings `cls` itself declares."""
    declared = cls.__dict__.get("BINDINGS", [])
    return {b.action for b in declared if isinstance(b, Binding)}


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
