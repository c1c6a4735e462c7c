"""The dashboard: every service and backend, as the poller files them on the board. The
screen only draws: it redraws what a poll changed, and the clock's ages once a second."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.signal import Signal
from textual.timer import Timer
from textual.widgets import DataTable, Header, Input, Static

from opsconsole.monitoring.offers import Offer, offers
from opsconsole.monitoring.poller import HEALTH, Polled, Poller
from opsconsole.monitoring.snapshot import Breach
from opsconsole.runbooks.model import Library
from opsconsole.tui.messages import RefreshRequested, RunbookRequested
from opsconsole.tui.screens.service import ServiceScreen
from opsconsole.tui.widgets import formats
from opsconsole.tui.widgets.footer import KeysFooter
from opsconsole.tui.widgets.services_table import SORTS, ServicesTable, clock_texts, table_view
from opsconsole.tui.widgets.source_panes import SourcePane, pane_lines

PANES = {
    "postgres": "PostgreSQL",
    "redis": "Redis",
    "containers": "Docker",
    "metrics": "Alerts",
}
SHOWN_IN = {"disk": "postgres"}
"""Sources with no pane of their own: the pane that shows them."""
TABLE_SOURCES = frozenset({HEALTH, "metrics", "containers"})
"""The sources whose readings show in the services table."""
TABLE_DRAW_WAIT = 0.25
"""How long a reading for the table may wait for the others of its beat, to be drawn with
them: long enough for a Prometheus query, too short for anyone to see it."""
BEAT_SKEW = 0.05
"""Timers of one beat fire a few milliseconds apart: a poll due within this is of it."""
SORT_ORDER = tuple(SORTS)


class DashboardScreen(Screen[None]):
    DEFAULT_CSS = """
    #services-pane {
        height: 1fr;
        border: round $primary;
        border-title-style: bold;
    }

    #services {
        height: 1fr;
    }

    #filter {
        display: none;
        dock: bottom;
        border: none;
        height: 1;
        padding: 0 1;
    }

    #filter.-shown {
        display: block;
    }

    #filter:focus {
        border: none;
    }

    #suggestion {
        display: none;
        height: 1;
        padding: 0 1;
        background: $warning 30%;
        text-style: bold;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }

    #suggestion.-shown {
        display: block;
    }

    #panes {
        height: auto;
        max-height: 9;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh", "Refresh"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("s", "sort", "Sort"),
        Binding("R", "suggested_runbook", "Runbook", key_display="R"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(
        self, poller: Poller, changes: Signal[Polled], library: Library | None = None
    ) -> None:
        super().__init__()
        self.poller = poller
        self.changes = changes
        self.board = poller.board
        self.library = library
        self.config = poller.board.config
        self.offer: Offer | None = None
        self.filter_text = ""
        self.sort = SORT_ORDER[0]
        self.steady = formats.Steady()
        self._clock_texts_drawn: tuple[str, ...] | None = None
        self._table_draw: Timer | None = None

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
        yield KeysFooter()

    def on_mount(self) -> None:
        self._redraw()
        self.set_interval(1.0, self._redraw)
        self.changes.subscribe(self, self._polled)

    def _polled(self, polled: Polled) -> None:
        now = datetime.now(UTC)
        if (pane := SHOWN_IN.get(polled.source, polled.source)) in PANES:
            self._redraw_pane(pane, now)
        if polled.source in TABLE_SOURCES:
            self._draw_table_soon(polled.source)  # the offer follows, with the table's figures
        else:
            self._redraw_suggestion()

    def _draw_table_soon(self, arrived: str) -> None:
        """Draws the table now, unless another of its sources of this beat is still to come
        back: then when it is, or after TABLE_DRAW_WAIT at most. Health and metrics come
        back within milliseconds of each other: one build and one draw of the 50 rows
        shows both, where one for each did the same work twice."""
        others = TABLE_SOURCES - {arrived}
        if any(self.poller.pending(source, BEAT_SKEW) for source in others):
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
        breaches = [self._as_shown(breach) for breach in self.poller.breaches]
        found = (
            offers(self.library, breaches, self.board.services, self.board.config)
            if self.library
            else []
        )
        # The row under the cursor first: R acts on the service the engineer looks at.
        selected = self.query_one(ServicesTable).selected
        offer = next((o for o in found if o.breach.subject == selected), None)
        offer = offer or (found[0] if found else None)
        if offer == self.offer:
            return
        offered_before, self.offer = self.offer is not None, offer
        line = self.query_one("#suggestion", Static)
        line.update(f"▲ {offer.text}" if offer else "")
        line.set_class(offer is not None, "-shown")
        if offered_before != (offer is not None):
            self.refresh_bindings()  # R appears in the footer only with an offer

    def _as_shown(self, breach: Breach) -> Breach:
        """The breach with the figure the table shows for it: one figure, one value on the
        screen (the table holds a figure until it moves by a tenth)."""
        column = {"p95_seconds": "p95", "error_rate": "err"}.get(breach.signal)
        held = self.steady.shown((breach.subject, column)) if column else None
        return replace(breach, value=held) if held is not None else breach

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
        self._redraw_suggestion()  # with the figures this draw holds

    def _redraw_pane(self, source: str, now: datetime) -> None:
        self.query_one(f"#{source}", SourcePane).show(
            pane_lines(self.config, source, getattr(self.board, source), now, self.board.disk)
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
        self.post_message(RefreshRequested())  # the app may rebuild this screen on a new file

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

    @on(DataTable.RowHighlighted, "#services")
    def _cursor_moved(self) -> None:
        self._redraw_suggestion()

    @on(DataTable.RowSelected, "#services")
    def _open(self, event: DataTable.RowSelected) -> None:
        self.app.push_screen(
            ServiceScreen(self.poller.monitor, self.board, str(event.row_key.value))
        )

    @property
    def selected_service(self) -> str | None:
        """The service whose row the cursor is on: what the palette's runbooks are for."""
        return self.query_one(ServicesTable).selected

    def focus_pane(self, source: str) -> None:
        self.query_one(f"#{source}", SourcePane).focus()
