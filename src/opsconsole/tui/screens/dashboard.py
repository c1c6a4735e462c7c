"""The dashboard: every service and backend, each source polled on its own clock."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, Static

from opsconsole.monitoring.board import Board
from opsconsole.monitoring.monitor import Monitor
from opsconsole.monitoring.offers import Offer, offers
from opsconsole.monitoring.snapshot import Breach
from opsconsole.runbooks.model import Library, Runbook
from opsconsole.sources.base import Reading, read
from opsconsole.tui.screens.service import ServiceScreen
from opsconsole.tui.widgets import formats
from opsconsole.tui.widgets.services_table import SORTS, ServicesTable, clock_texts, table_view
from opsconsole.tui.widgets.source_panes import SourcePane, pane_lines

HEALTH = "health"
PANES = {
    "postgres": "PostgreSQL",
    "redis": "Redis",
    "containers": "Docker",
    "metrics": "Alerts",
}
TABLE_SOURCES = frozenset({HEALTH, "metrics", "containers"})
"""The sources whose readings show in the services table."""
TABLE_DRAW_WAIT = 0.25
"""How long a reading for the table may wait for the others of its beat, to be drawn with
them: long enough for a Prometheus query, too short for anyone to see it."""
BEAT_SKEW = 0.05
"""Timers of one beat fire a few milliseconds apart: a poll due within this is of it."""
SORT_ORDER = tuple(SORTS)


class SourceRead(Message):
    """One poll of one source came back."""

    def __init__(self, source: str, reading: Reading[Any]) -> None:
        super().__init__()
        self.source = source
        self.reading = reading


class RunbookRequested(Message):
    """The operator took the dashboard's offer: the app opens the wizard."""

    def __init__(self, runbook: Runbook, params: dict[str, str]) -> None:
        super().__init__()
        self.runbook = runbook
        self.params = params


class BreachesChanged(Message):
    """What breaches now, whenever it is not the same set of (subject, signal) as before:
    the app records it into an open incident."""

    def __init__(self, breaches: list[Breach]) -> None:
        super().__init__()
        self.breaches = breaches


@dataclass
class Poll:
    """One source's clock: its next poll is armed only when the last one is back, so
    polls of a source never overlap, and a failing source is asked less and less often.

    Polls keep a beat: the next is due one interval after the last was due, not after it
    ended, and not after its timer happened to fire. Sources started together stay
    together instead of drifting apart by their durations, and the table draws their
    readings once."""

    run: Callable[[], Awaitable[Any]]
    timeout: float
    busy: bool = False
    timer: Timer | None = None
    due: float = 0.0
    """time.monotonic() when the poll in flight, or the next one, is meant to start."""

    def next_wait(self, delay: float, interval: float, now: float) -> float:
        """Seconds from `now` to the next start, `delay` after the last was due; never less
        than half an interval, so a slow source is not asked again straight away (it then
        takes a new beat)."""
        wait = max(self.due + delay - now, interval / 2)
        self.due = now + wait
        return wait

    def pending(self, now: float, within: float) -> bool:
        """In flight, or due to start within `within` seconds."""
        return self.busy or (self.timer is not None and self.due - now < within)


class DashboardScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh", "Refresh"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("s", "sort", "Sort"),
        Binding("R", "suggested_runbook", "Runbook", key_display="R"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self, monitor: Monitor, board: Board, library: Library | None = None) -> None:
        super().__init__()
        self.monitor = monitor
        self.board = board
        self.library = library
        self.offer: Offer | None = None
        self.breaching: frozenset[tuple[str, str]] = frozenset()
        self.config = monitor.config
        self.filter_text = ""
        self.sort = SORT_ORDER[0]
        self.steady = formats.Steady()
        self.polls = self._polls()
        self._clock_texts_drawn: tuple[str, ...] | None = None
        self._table_draw: Timer | None = None

    def _polls(self) -> dict[str, Poll]:
        monitor, thresholds = self.monitor, self.config.thresholds
        health_timeout = max(
            [self.config.health_timeout(s) for s in self.config.services], default=2.0
        )
        # Looked up at each poll, not bound once: a test may wrap a source's method.
        polls = {HEALTH: Poll(lambda: monitor.health.check_all(), health_timeout + 1)}
        if monitor.metrics is not None:
            timeout = self.config.prometheus.timeout_seconds if self.config.prometheus else 5.0
            polls["metrics"] = Poll(monitor.metrics.poll, timeout + 1)
        if monitor.postgres is not None:
            polls["postgres"] = Poll(monitor.postgres.poll, thresholds.health_timeout_seconds + 4)
        if monitor.redis is not None:
            polls["redis"] = Poll(monitor.redis.poll, thresholds.health_timeout_seconds + 4)
        if monitor.docker is not None:
            # Stats come at the daemon's next once-a-second round: give it room for two.
            polls["containers"] = Poll(monitor.docker.poll, 10.0)
        return polls

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="services-pane") as pane:
            pane.border_title = "Services"
            yield ServicesTable(id="services")
            yield Input(placeholder="filter services by name", id="filter")
        yield Static(id="suggestion", markup=False)
        with Horizontal(id="panes"):
            for source, title in PANES.items():
                yield SourcePane(title, id=source)
        yield Footer()

    def on_mount(self) -> None:
        self._redraw()
        self.set_interval(1.0, self._redraw)
        self.poll_all_now()

    # -- polling -------------------------------------------------------------------------

    def poll_all_now(self) -> None:
        """Starts every source's poll at once: a new beat for all of them."""
        now = time.monotonic()
        for source, poll in self.polls.items():
            if not poll.busy:  # the poll in flight is as fresh as a new one would be
                poll.due = now
                self._start(source)

    def _start(self, source: str) -> None:
        poll = self.polls[source]
        if poll.timer is not None:
            poll.timer.stop()
            poll.timer = None
        poll.busy = True
        self.run_worker(
            self._read(source, poll), group=f"poll-{source}", description=f"poll {source}"
        )

    async def _read(self, source: str, poll: Poll) -> None:
        self.post_message(SourceRead(source, await read(poll.run, poll.timeout)))

    @on(SourceRead)
    def _file_reading(self, message: SourceRead) -> None:
        poll = self.polls[message.source]
        poll.busy = False
        interval = self.config.console.refresh_seconds
        if message.source == HEALTH:
            if message.reading.value is not None:
                self.board.observe_health(message.reading.value)
                delay = interval
            else:
                # Each check turns the world's failures into DOWN: this is a bug of ours.
                self.notify(
                    f"Health checks failed: {message.reading.error}; retrying.",
                    severity="error",
                    timeout=10,
                )
                delay = interval * 2
        else:
            tracked = self.board.observe(message.source, message.reading)
            delay = tracked.next_delay(interval)
        wait = poll.next_wait(delay, interval, time.monotonic())
        poll.timer = self.set_timer(wait, lambda: self._start(message.source))
        if message.source in PANES:
            self._redraw_pane(message.source, datetime.now(UTC))
        if message.source in TABLE_SOURCES:
            self._draw_table_soon(message.source)
        self._redraw_suggestion()

    def _draw_table_soon(self, arrived: str) -> None:
        """Draws the table now, unless another of its sources of this beat is still to come
        back: then when it is, or after TABLE_DRAW_WAIT at most. Health and metrics come
        back within milliseconds of each other: one build and one draw of the 50 rows
        shows both, where one for each did the same work twice."""
        now = time.monotonic()
        others = (TABLE_SOURCES & self.polls.keys()) - {arrived}
        if any(self.polls[source].pending(now, BEAT_SKEW) for source in others):
            if self._table_draw is None:
                self._table_draw = self.set_timer(
                    TABLE_DRAW_WAIT, lambda: self._redraw_table(datetime.now(UTC))
                )
            return
        self._redraw_table(datetime.now(UTC))

    # -- drawing -------------------------------------------------------------------------

    def _redraw(self) -> None:
        now = datetime.now(UTC)
        # The tick is for the ages; readings draw the table themselves. Drawing 50 rows
        # every second for nothing was a third of the CPU of a console left open.
        if clock_texts(self.board, now) != self._clock_texts_drawn:
            self._redraw_table(now)
        for source in PANES:
            self._redraw_pane(source, now)
        # No suggestion here: what breaches changes with readings, not with the clock.

    def _redraw_suggestion(self) -> None:
        breaches = self.board.breaches()
        breaching = frozenset((b.subject, b.signal) for b in breaches)
        if breaching != self.breaching:
            self.breaching = breaching
            self.post_message(BreachesChanged(breaches))
        found = offers(self.library, breaches, self.board.services) if self.library else []
        offer = found[0] if found else None
        if offer == self.offer:
            return
        offered_before, self.offer = self.offer is not None, offer
        line = self.query_one("#suggestion", Static)
        line.update(f"▲ {offer.text}" if offer else "")
        line.set_class(offer is not None, "-shown")
        if offered_before != (offer is not None):
            self.refresh_bindings()  # R appears in the footer only with an offer

    def _redraw_table(self, now: datetime) -> None:
        if self._table_draw is not None:  # this draw shows what it was waiting to show
            self._table_draw.stop()
            self._table_draw = None
        self._clock_texts_drawn = clock_texts(self.board, now)
        self.query_one(ServicesTable).show(
            table_view(self.board, now, self.filter_text, self.sort, self.steady)
        )
        pane = self.query_one("#services-pane")
        notes = [f"sort: {self.sort}"] if self.sort != SORT_ORDER[0] else []
        if self.filter_text:
            notes.append(f"filter: {self.filter_text}")
        subtitle = " · ".join(notes)
        if pane.border_subtitle != subtitle:  # setting it repaints the whole pane
            pane.border_subtitle = subtitle

    def _redraw_pane(self, source: str, now: datetime) -> None:
        self.query_one(f"#{source}", SourcePane).show(
            pane_lines(self.config, source, getattr(self.board, source), now)
        )

    # -- keys ----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "suggested_runbook":
            return self.offer is not None  # the key shows only when there is an offer
        return True

    def action_suggested_runbook(self) -> None:
        if self.offer is not None:
            self.post_message(RunbookRequested(self.offer.runbook, self.offer.params))

    def action_refresh(self) -> None:
        self.poll_all_now()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("-shown")
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.remove_class("-shown")
        self.query_one(ServicesTable).focus()

    def action_sort(self) -> None:
        self.sort = SORT_ORDER[(SORT_ORDER.index(self.sort) + 1) % len(SORT_ORDER)]
        self._redraw_table(datetime.now(UTC))

    @on(Input.Changed, "#filter")
    def _filter(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self._redraw_table(datetime.now(UTC))

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one(ServicesTable).focus()

    @on(DataTable.RowSelected, "#services")
    def _open(self, event: DataTable.RowSelected) -> None:
        self.open_service(str(event.row_key.value))

    def open_service(self, name: str) -> None:
        self.app.push_screen(ServiceScreen(self.monitor, self.board, name))

    def focus_pane(self, source: str) -> None:
        self.query_one(f"#{source}", SourcePane).focus()
