"""A live tail of a log: the last lines held, a filter, pause, and the view following the
end until the user scrolls up. It shows what it is given (`add_lines`); a worker elsewhere
reads the log."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable
from itertools import islice
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Input, Static

from opsconsole.tui.widgets.log_view import LogView

MAX_LINES = 5_000
"""Lines a tail holds unless told otherwise: the oldest go as new ones come."""

# Log.write_lines splits a line at each of these (str.splitlines), and drops an empty one:
# one line given must stay one line shown, or the counts go wrong.
_LINE_BREAKS = re.compile("[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")

Match = Callable[[str], bool]


def _one_line(line: str) -> str:
    return _LINE_BREAKS.sub("\ufffd", line) or " "


def _count(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def _is_regex(text: str) -> bool:
    return len(text) >= 2 and text.startswith("/") and text.endswith("/")


def parse_filter(text: str) -> Match | None:
    """What a filter lets through: None for no filter; a regular expression when written as
    /pattern/; else a substring, case-insensitive unless it has a capital letter.
    Raises re.error for a bad regular expression."""
    if _is_regex(text):
        pattern = text[1:-1]
        if not pattern:
            return None
        search = re.compile(pattern).search
        return lambda line: search(line) is not None
    if not text:
        return None
    if text == text.lower():
        needle = text.lower()
        return lambda line: needle in line.lower()
    return lambda line: text in line


class LogTail(Widget):
    """The last `max_lines` lines of a log, newest at the bottom.

    f focuses the filter (Enter applies it, back to the log); p pauses and resumes; Escape
    clears the filter and leaves it (with neither to do, Escape is the screen's). While
    paused, new lines are held and counted, and shown on resume. The view follows new lines
    while it is at the end; scrolled up, it stays put (End follows again). With `wrap`, a
    line wider than the view goes on in the rows below it (see `LogView`); else it
    scrolls sideways."""

    DEFAULT_CSS = """
    LogTail {
        height: 1fr;
        & > LogView { height: 1fr; }
        & > .log-tail--bar { height: 1; }
        & .log-tail--filter { width: 1fr; padding: 0 1; }
        & .log-tail--status {
            width: auto;
            max-width: 70%;
            padding: 0 1;
            color: $text-muted;
            text-wrap: nowrap;
            text-overflow: ellipsis;
            &.-paused { color: $warning; text-style: bold; }
            &.-error { color: $error; text-style: bold; }
        }
    }
    """

    # The pane's title names f and p: at 80 columns the footer has room for the screen's
    # keys only (`?` lists these too).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "focus_filter", "Filter", show=False),
        Binding("p", "toggle_pause", "Pause/resume", show=False),
        Binding("escape", "clear_filter", "Clear filter"),
    ]

    def __init__(
        self,
        max_lines: int = MAX_LINES,
        *,
        wrap: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        if max_lines < 1:
            raise ValueError(f"max_lines must be at least 1, not {max_lines}")
        super().__init__(name=name, id=id, classes=classes)
        self.max_lines = max_lines
        self._held: deque[str] = deque(maxlen=max_lines)
        self._unseen = 0
        """Lines come while paused: the last of them (up to all held) are not shown yet."""
        self._paused = False
        self._filter_label = ""
        """The filter as the status line shows it: /regex/ or "substring"."""
        self._match: Match | None = None
        self._error: str | None = None
        self._log = LogView(max_lines, wrap=wrap)
        self._input = Input(
            placeholder="f: filter (text, or /regex/)", compact=True, classes="log-tail--filter"
        )
        self._status = Static("", markup=False, classes="log-tail--status")

    def compose(self) -> ComposeResult:
        yield self._log
        with Horizontal(classes="log-tail--bar"):
            yield self._input
            yield self._status

    def on_mount(self) -> None:
        self.watch(self._log, "scroll_y", self._show_status, init=False)
        self._rebuild()

    # -- what the user sees ----------------------------------------------------------------

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def shown(self) -> list[str]:
        """The lines in view, oldest first, each whole (however many rows it takes)."""
        return list(self._log.in_view)

    @property
    def rows(self) -> list[str]:
        """The view's rows, oldest first, as they are drawn."""
        return list(self._log.lines)

    @property
    def status(self) -> str:
        """The status line, as the user reads it."""
        return str(self._status.render())

    @property
    def following(self) -> bool:
        """Whether new lines scroll into view: at the end, and not paused."""
        return not self._paused and self._log.is_vertical_scroll_end

    # -- fed by the screen ---------------------------------------------------------------------

    def add_lines(self, lines: Iterable[str]) -> None:
        """New lines of the log, oldest first, each without its line ending. On the app's
        thread: a worker passes them with a message, or `App.call_from_thread`; in batches,
        not a call per line, when they come fast."""
        new = list(lines)
        if not new:
            return
        self._held.extend(new)
        if self._paused:
            self._unseen += len(new)
        elif self.is_mounted:
            self._write(new[-self.max_lines :])
        self._show_status()

    def clear(self) -> None:
        """Forget every line: another log begins."""
        self._held.clear()
        self._unseen = 0
        if self.is_mounted:
            self._rebuild()

    def set_filter(self, text: str) -> bool:
        """Show only the lines `text` lets through (see `parse_filter`). A bad regular
        expression is said on the status line and leaves the filter as it was: False."""
        try:
            match = parse_filter(text)
        except re.error as error:
            self._error = f"bad regex: {error} · filter unchanged"
            self._input.set_class(True, "-invalid")
            self._show_status()
            return False
        self._error = None
        self._input.set_class(False, "-invalid")
        self._filter_label = "" if match is None else text if _is_regex(text) else f'"{text}"'
        self._match = match
        if self._input.value != text:
            self._input.value = text
        if self.is_mounted:
            self._rebuild()
        return True

    # -- actions -------------------------------------------------------------------------------

    def action_focus_filter(self) -> None:
        self._input.focus()

    def action_toggle_pause(self) -> None:
        if not self._paused:
            self._paused = True
            self._show_status()
            return
        self._paused = False
        unseen = min(self._unseen, len(self._held))
        self._unseen = 0
        if unseen:
            self._write(list(islice(self._held, len(self._held) - unseen, None)))
        self._show_status()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":
            # Nothing to clear nor to leave: Escape is left to the screen.
            return bool(self._match or self._input.value or self._error or self._input.has_focus)
        return True

    def action_clear_filter(self) -> None:
        self.set_filter("")
        self._log.focus()

    @on(Input.Submitted, ".log-tail--filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.set_filter(event.value):
            self._log.focus()

    # -- inside ----------------------------------------------------------------------------------

    def _write(self, lines: list[str]) -> None:
        """Append to the view what the filter lets through."""
        match = self._match
        shown = [_one_line(line) for line in lines if match is None or match(line)]
        if not shown:
            return
        self._log.add(shown)

    def follow(self) -> None:
        """Back to the newest line, following again: after a dialog that covered the
        view, the lines it missed (an abort, the rollback) are the ones to see."""
        if not self._paused:
            self._log.scroll_end(animate=False, immediate=True, x_axis=False)

    def _rebuild(self) -> None:
        """The view afresh from the lines held (less those held back by a pause)."""
        visible = len(self._held) - min(self._unseen, len(self._held))
        self._log.clear()
        self._write(list(islice(self._held, visible)))
        self._log.scroll_end(animate=False, immediate=True, x_axis=False)
        self._show_status()

    def _show_status(self) -> None:
        if not self.is_mounted:
            return
        parts = []
        if self._error is not None:
            parts.append(self._error)
        if self._paused:
            # The view stands still: counts of it would not say what is held.
            parts.append(f"paused · {_count(self._unseen, 'new line')}")
            if self._match is not None:
                parts.append(f"filter {self._filter_label}")
        else:
            if not self._log.is_vertical_scroll_end:
                parts.append("scrolled up · End follows")
            held = _count(len(self._held), "line")
            if self._match is not None:
                parts.append(f"{len(self._log.in_view):,} of {held} match {self._filter_label}")
            else:
                parts.append(held)
        self._status.update(" · ".join(parts))
        self._status.set_class(self._paused, "-paused")
        self._status.set_class(self._error is not None, "-error")
