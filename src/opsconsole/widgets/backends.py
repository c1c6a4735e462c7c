"""One line per optional backend: what it watches, or how to configure it."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static


@dataclass(frozen=True)
class BackendLine:
    name: str
    target: str | None
    """Where it points, secrets redacted; None when its section is absent."""
    how_to_configure: str


class BackendsPane(Static):
    def __init__(self, lines: list[BackendLine], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._lines = lines

    def on_mount(self) -> None:
        self.update(render_backends(self._lines))


def render_backends(lines: list[BackendLine]) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    for number, line in enumerate(lines):
        if number:
            text.append("\n")
        text.append(f"{line.name:<11}", style="bold")
        if line.target is None:
            text.append("not configured", style="dim")
            text.append(f": {line.how_to_configure}", style="dim italic")
        else:
            text.append(line.target)
    return text
