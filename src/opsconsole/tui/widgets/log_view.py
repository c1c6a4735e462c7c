"""A log's view: whole lines, each wrapped into the rows it needs, and pruned whole."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from rich.cells import cell_len, chop_cells
from textual import events
from textual.widgets import Log

CONTINUED = "↪ "
"""Starts each row a wrapped line goes on in: told apart from a line of its own."""


def wrapped(line: str, width: int) -> list[str]:
    """The rows `line` takes in `width` cells: its continuations marked `CONTINUED`."""
    if width <= len(CONTINUED) or (len(line) <= width and line.isascii()):
        return [line]
    if cell_len(line) <= width:
        return [line]
    first, *rest = chop_cells(line, width)
    return [first, *(CONTINUED + row for row in chop_cells("".join(rest), width - 2))]


class LogView(Log):
    """The last `max_lines` lines given, newest at the bottom. With `wrap`, a line wider
    than the view goes on in the rows below it, and is wrapped again when the view's width
    changes; else it scrolls sideways. Either way a line leaves the view whole."""

    DEFAULT_CSS = """
    LogView.-wrap { overflow-x: hidden; }
    """

    def __init__(self, max_lines: int, *, wrap: bool = False) -> None:
        super().__init__(max_lines=max_lines)
        self.wrap = wrap
        self.set_class(wrap, "-wrap")
        self.in_view: deque[str] = deque(maxlen=max_lines)
        """The lines in view, oldest first, each whole."""
        self._rows: deque[int] = deque(maxlen=max_lines)
        """How many rows each of `in_view` takes. Log's own `max_lines` is kept at their
        sum: it drops from the top exactly the rows of the lines `in_view` dropped."""
        self._wrapped_at = 0
        """The width the rows were wrapped at (0: not laid out yet)."""

    def add(self, lines: Iterable[str]) -> None:
        """Lines at the end, each one line (no line breaks in it). Scrolled up, the lines
        the user reads stay in place while the oldest go."""
        new = list(lines)
        if not new:
            return
        width = self._row_width()
        rows = [wrapped(line, width) for line in new] if self.wrap else [[line] for line in new]
        self._wrapped_at = width
        self.in_view.extend(new)
        self._rows.extend(len(each) for each in rows)
        following = self.is_vertical_scroll_end
        before = len(self.lines)
        written = [row for each in rows for row in each]
        self.max_lines = sum(self._rows)
        self.write_lines(written)
        pruned = before + len(written) - len(self.lines)
        if pruned and not following:
            self.scroll_to(y=max(0, self.scroll_y - pruned), animate=False, immediate=True)

    def clear(self) -> LogView:
        super().clear()
        self.in_view.clear()
        self._rows.clear()
        return self

    def _row_width(self) -> int:
        """The cells a row has: the view's, less its scroll bar (kept free whether it
        shows or not, so that it appearing does not call for another wrap)."""
        return max(0, self.size.width - self.styles.scrollbar_size_vertical)

    def on_resize(self, event: events.Resize) -> None:
        if not self.wrap or self._row_width() == self._wrapped_at:
            return
        # Wrapped again at the new width, the user's place kept as a share of the whole.
        following = self.is_vertical_scroll_end
        share = self.scroll_y / max(1, self.max_scroll_y)
        lines = list(self.in_view)
        self.clear()
        self.add(lines)
        if following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        else:
            self.scroll_to(y=round(share * self.max_scroll_y), animate=False, immediate=True)
