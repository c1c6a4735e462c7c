"""The services pane: one row a service, every signal of it on one line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType

from opsconsole.common.readable import age
from opsconsole.monitoring.board import TREND_POINTS, Board
from opsconsole.monitoring.service_state import FLAP_WINDOW, ServiceStatus
from opsconsole.sources.readings import UNKNOWN, ContainerStatus, HealthState
from opsconsole.tui.widgets import formats
from opsconsole.tui.widgets.quiet_table import Cell, QuietTable, width

# A symbol with every colour, so the table reads the same under NO_COLOR.
STATE_LABEL = {
    HealthState.UP: "✔ UP",
    HealthState.DEGRADED: "▲ DEGRADED",
    HealthState.DOWN: "✖ DOWN",
}
CHECKING = "… checking"
FLAPPING = "↯ FLAPPING"
ERRORS = "▲ ERRORS"
"""UP, but answering more errors than its threshold."""
SLOW = "▲ SLOW"
"""UP, but its P95 over its threshold."""


def state_look(state: HealthState) -> str:
    look = formats.LOOK
    return {HealthState.UP: look.good, HealthState.DEGRADED: look.warn}.get(state, look.bad)


NOT_SEEN = "not seen"  # no good check since the console started

LABELS = {
    "service": "SERVICE",
    "health": "HEALTH",
    "for": "FOR",
    "p95": "P95",
    "err": "ERR",
    "req": "REQ/S",
    "container": "CONTAINER",
    "p95_trend": "P95 ~",
    "err_trend": "ERR ~",
    "detail": "DETAIL",
}
# An 80-column terminal gets the signals that decide what to do first; wider ones all.
COMPACT = ("service", "health", "for", "p95", "err", "container", "detail")
FULL = tuple(LABELS)
FULL_FROM_WIDTH = 100
MIN_DETAIL_WIDTH = 12
LAST_GOOD_SLACK = timedelta(seconds=10)

# "configured": the order of opsconsole.toml, which its authors chose for a reason.
SORTS: dict[str, Callable[[Board, str], tuple[float, str]]] = {
    "configured": lambda board, name: (board.order[name], name),
    "name": lambda board, name: (0, name),
    "health": lambda board, name: (-_badness(board.statuses[name]), name),
    "p95": lambda board, name: (-_p95(board, name), name),
    "errors": lambda board, name: (-_error_rate(board, name), name),
}


@dataclass(frozen=True)
class TableView:
    names: list[str]
    """The services to show, in order: filtered and sorted."""
    rows: dict[str, dict[str, Cell]]
    unused: frozenset[str] = frozenset()
    """Columns no source of this configuration fills: they give their room to DETAIL."""


def table_view(
    board: Board,
    now: datetime,
    filter_text: str = "",
    sort: str = "configured",
    steady: formats.Steady | None = None,
) -> TableView:
    needle = filter_text.strip().lower()
    names = [name for name in board.services if needle in name.lower()]
    names.sort(key=lambda name: SORTS[sort](board, name))
    config = board.config
    unused = set()
    engines = config.docker or any(host.docker for host in config.hosts)
    if not (engines and any(s.container for s in config.services)):
        unused.add("container")
    if not (config.prometheus or any(s.metrics_url for s in config.services)):
        unused |= {"p95", "err", "req", "p95_trend", "err_trend"}
    rows = {name: service_row(board, name, now, steady) for name in names}
    return TableView(names, rows, frozenset(unused))


def for_text(status: ServiceStatus, now: datetime) -> str:
    """How long it has been in its state. A state seen to begin counts from then, by the
    second in its first minute. One that already held when the console started may have
    begun long before: `≥` and whole minutes since the start, so that a table of states
    nobody has seen change does not tick every second (on a slow SSH link, at 3 a.m.)."""
    assert status.since is not None
    seconds = (now - status.since).total_seconds()
    if status.began_before_since:
        return "≥" + (age(seconds) if seconds >= 60 else "0m")
    return age(seconds)


def clock_texts(board: Board, now: datetime) -> tuple[str, ...]:
    """What the table shows that moves with the clock alone: its ages. While these read
    the same, drawing the table again without a new reading would draw the same table."""
    texts = []
    for status in board.statuses.values():
        if status.since is not None:
            texts.append(for_text(status, now))
        if status.last_good is not None and _shows_last_good(status):
            texts.append(age((now - status.last_good.checked_at).total_seconds()))
    return tuple(texts)


class ServicesTable(QuietTable):
    """Shows a TableView; the screen that owns it decides when it changes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Details", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._view = TableView([], {})
        self._columns: tuple[str, ...] = ()

    @property
    def selected(self) -> str | None:
        if not self.row_count:
            return None
        return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)

    def show(self, view: TableView) -> None:
        self._view = view
        self._render_view()

    def on_resize(self) -> None:
        self._render_view()

    def _render_view(self) -> None:
        if not self.size.width:
            return
        wanted = FULL if self.size.width >= FULL_FROM_WIDTH else COMPACT
        columns = tuple(column for column in wanted if column not in self._view.unused)
        selected = self.selected
        room = self._detail_room(columns)
        if columns != self._columns or [str(key.value) for key in self.rows] != self._view.names:
            # Layout or order changed: rebuild, keeping the cursor on the same service.
            self.clear(columns=columns != self._columns)
            if columns != self._columns:
                self._columns = columns
                for column in columns:
                    self.add_column(LABELS[column], key=column)
            for name in self._view.names:
                self.add_row(*self._cells(name, room).values(), key=name)
            if selected in self._view.names:
                self.move_cursor(row=self._view.names.index(selected))
            return
        self.set_cells(
            (name, column, value)
            for name in self._view.names
            for column, value in self._cells(name, room).items()
        )

    def _detail_room(self, columns: tuple[str, ...]) -> int:
        """The detail column gets what the others leave: the table never scrolls sideways."""
        others = sum(
            max([len(LABELS[column]), *(width(r[column]) for r in self._view.rows.values())])
            + 2 * self.cell_padding
            for column in columns
            if column != "detail"
        )
        return max(MIN_DETAIL_WIDTH, self.scrollable_content_region.width - others - 2)

    def _cells(self, name: str, room: int) -> dict[str, Cell]:
        row = self._view.rows[name]
        cells = {column: row[column] for column in self._columns}
        detail = cells["detail"]
        if isinstance(detail, Text) and detail.cell_len > room:
            detail = detail.copy()
            detail.truncate(room, overflow="ellipsis")
            cells["detail"] = detail
        return cells


# -- one row ----------------------------------------------------------------------------


def service_row(
    board: Board, name: str, now: datetime, steady: formats.Steady | None = None
) -> dict[str, Cell]:
    """One row; with `steady`, figures hold until they move by more than its tolerance."""
    status = board.statuses[name]
    service = board.services[name]
    check = status.latest
    metrics = board.service_metrics(name)
    # The source failing, or the target the figures come from: old figures, marked so.
    stale = board.metrics.failures > 0 or (metrics is not None and metrics.stale is not None)
    p95_limit = board.config.p95_threshold(service)
    err_limit = board.config.error_rate_threshold(service)
    history = board.history[name]

    cells: dict[str, Cell] = dict.fromkeys(LABELS, "")
    cells["service"] = name
    if check is None:
        cells["health"] = Text(CHECKING, formats.LOOK.quiet)
        cells["detail"] = Text(NOT_SEEN)
    elif (flapping_since := status.flapping_since) is not None:
        # Up and down again and again: the table says so in one word that stays put,
        # not UP 0s and DOWN 0s by turns.
        cells["health"] = Text(FLAPPING, formats.LOOK.bad)
        cells["for"] = age((now - flapping_since).total_seconds())
        now_state = f"{check.state} now" + (f": {check.reason}" if check.reason else "")
        changes = f"{len(status.changes)} changes in {age(FLAP_WINDOW.total_seconds())}"
        cells["detail"] = Text(f"{changes}; {now_state}", formats.LOOK.said)
    else:
        cells["health"] = Text(STATE_LABEL[check.state], state_look(check.state))
        if status.since is not None:
            cells["for"] = for_text(status, now)
        cells["detail"] = _detail(status, now)

    if board.metrics.latest is not None:
        if metrics is None:
            cells["p95"] = cells["err"] = cells["req"] = formats.NONE
        else:
            p95, errors = metrics.p95_seconds, metrics.error_rate
            request_rate = metrics.request_rate
            if steady is not None:
                p95 = steady((name, "p95"), p95, p95_limit) if p95 is not None else None
                errors = steady((name, "err"), errors, err_limit) if errors is not None else None
                request_rate = steady((name, "req"), request_rate)
            cells["p95"] = (
                formats.judged(formats.seconds(p95), p95 > p95_limit, stale)
                if p95 is not None
                else formats.NONE
            )
            cells["err"] = (
                formats.judged(formats.percent(errors), errors > err_limit, stale)
                if errors is not None
                else formats.NONE
            )
            cells["req"] = formats.judged(formats.rate(request_rate), False, stale)
        cells["p95_trend"] = formats.sparkline(history.p95.buckets, TREND_POINTS, p95_limit)
        cells["err_trend"] = formats.sparkline(history.error_rate.buckets, TREND_POINTS, err_limit)
        # Answering its health check is not being well: a breach of P95 or errors is in
        # the row's state, and DETAIL says which, with the figure the ERR column shows.
        if check is not None and check.state is HealthState.UP and not status.flapping:
            judged = metrics is not None and metrics.stale is None
            breached = _breached(p95, p95_limit, errors, err_limit) if judged else None
            if breached is not None and isinstance(cells["detail"], Text):
                word, said = breached
                cells["health"] = Text(word, formats.LOOK.warn)
                cells["detail"] = _joined(cells["detail"], said)
        # A service that is down cannot be scraped either: its health reason says why.
        healthy = check is None or check.state is HealthState.UP
        if healthy and metrics and metrics.stale and isinstance(cells["detail"], Text):
            cells["detail"] = _joined(cells["detail"], metrics.stale)
        elif healthy and (why := board.metrics_error(name)) and isinstance(cells["detail"], Text):
            cells["detail"] = _joined(cells["detail"], f"metrics: {why}")
        elif healthy and metrics and metrics.note and isinstance(cells["detail"], Text):
            cells["detail"] = _joined(cells["detail"], metrics.note)  # dashes, with why

    if service.container and board.containers.latest is not None:
        container = board.container(name)
        host_down = container is not None and container.unreachable is not None
        cells["container"] = _container(container, board.containers.failures > 0 or host_down)
        if container is not None and container.unreachable and isinstance(cells["detail"], Text):
            # Why its container reads as it did: its host, in ssh's words, since when.
            cells["detail"] = _joined(cells["detail"], f"{container.host}: {container.unreachable}")
    return cells


def _detail(status: ServiceStatus, now: datetime) -> Text:
    check = status.latest
    assert check is not None
    if check.state is HealthState.UP:
        return Text(f"HTTP {check.status_code}" if check.status_code else "")
    style = formats.LOOK.said if check.state is HealthState.DOWN else state_look(check.state)
    parts = [check.reason]
    if status.last_good is not None and _shows_last_good(status):
        parts.append(f"last good {age((now - status.last_good.checked_at).total_seconds())} ago")
    return Text(" · ".join(parts), style=style)


def _shows_last_good(status: ServiceStatus) -> bool:
    """Up, then degraded, now down: FOR tells when this state began, not when the service
    was last well, so DETAIL says that. When the two are the same moment, FOR says it all;
    never seen up needs no words either: FOR's "≥" says the state predates the console.
    Up, the last good check is the latest, and its age is not shown anywhere."""
    check = status.latest
    return (
        check is not None
        and check.state is not HealthState.UP
        and status.last_good is not None
        and status.since is not None
        and (status.since - status.last_good.checked_at) > LAST_GOOD_SLACK
    )


def _breached(
    p95: float | None, p95_limit: float, errors: float | None, err_limit: float
) -> tuple[str, str] | None:
    """The state word and the reason of a service that answers but breaches its SLA."""
    if errors is not None and errors > err_limit:
        return ERRORS, f"errors {formats.percent(errors)} > {formats.percent(err_limit)}"
    if p95 is not None and p95 > p95_limit:
        return SLOW, f"P95 {formats.seconds(p95)} > {formats.seconds(p95_limit)}"
    return None


def _joined(detail: Text, more: str) -> Text:
    if not detail.plain:
        return Text(more, style=formats.LOOK.warn)
    return Text.assemble(detail, " · ", (more, formats.LOOK.warn))


def _container(container: ContainerStatus | None, stale: bool) -> Text:
    if container is None:
        return Text(formats.NONE)
    restarts = f" ↻{container.restart_count}" if container.restart_count else ""
    if container.oom_killed and container.state != "running":
        text, bad = f"{formats.BAD} OOM", True
    elif container.state == "running" and container.health == "unhealthy":
        text, bad = f"{formats.BREACH} unhealthy", True
    elif container.state == "running":
        text, bad = "running", False
    elif container.state == UNKNOWN:  # never seen: its engine has not answered yet
        text, bad = UNKNOWN, False
    else:
        text, bad = f"{formats.BAD} {container.state}", True
    text += restarts
    if container.host:  # which host: a name may run on several
        text = f"{container.host}: {text}"
    if stale:
        mark = "" if container.state == UNKNOWN else formats.STALE  # nothing known: no last
        return Text(text + mark, style=formats.LOOK.stale)
    return Text(text, style=formats.LOOK.bad if bad else "")


# -- sorting ------------------------------------------------------------------------------


def _badness(status: ServiceStatus) -> int:
    if status.latest is None:
        return 0
    return {HealthState.UP: 1, HealthState.DEGRADED: 2, HealthState.DOWN: 3}[status.latest.state]


def _p95(board: Board, name: str) -> float:
    metrics = board.service_metrics(name)
    return metrics.p95_seconds or 0.0 if metrics else 0.0


def _error_rate(board: Board, name: str) -> float:
    metrics = board.service_metrics(name)
    return metrics.error_rate or 0.0 if metrics else 0.0
