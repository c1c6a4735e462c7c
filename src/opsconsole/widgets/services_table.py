"""The services pane: one row a service, its health and how long it has been so."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from rich.text import Text
from textual.widgets import DataTable

from opsconsole.sources.health import HealthState
from opsconsole.status import ServiceStatus
from opsconsole.timefmt import duration, latency

# A symbol with every colour, so the table reads the same under NO_COLOR.
STATE_LOOK = {
    HealthState.UP: ("✔ UP", "green"),
    HealthState.DEGRADED: ("▲ DEGRADED", "yellow"),
    HealthState.DOWN: ("✖ DOWN", "bold red"),
}
CHECKING = ("… checking", "dim")
NOT_SEEN = "not seen"  # no good check since the console started

COLUMNS = ("service", "health", "for", "detail", "latency", "last good")
DETAIL = COLUMNS.index("detail")
MIN_DETAIL_WIDTH = 12


class ServicesTable(DataTable[Text | str]):
    """Shows ServiceStatus values; the screen that owns it decides when they change."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._statuses: dict[str, ServiceStatus] = {}
        self._now: datetime | None = None

    def on_mount(self) -> None:
        for column in COLUMNS:
            self.add_column(column.upper(), key=column)

    def show(self, statuses: Iterable[ServiceStatus], now: datetime) -> None:
        self._statuses = {status.name: status for status in statuses}
        self._now = now
        self._render_rows()

    def tick(self, now: datetime) -> None:
        """Ages move on between checks."""
        self._now = now
        self._render_rows()

    def on_resize(self) -> None:
        self._render_rows()

    def _render_rows(self) -> None:
        if self._now is None:
            return
        now = self._now
        rows = {name: row_cells(status, now) for name, status in self._statuses.items()}
        # The detail column gets what the others leave, so the table never scrolls sideways.
        others = sum(
            max(len(column), *(Text(str(cells[n])).cell_len for cells in rows.values()))
            + 2 * self.cell_padding
            for n, column in enumerate(COLUMNS)
            if n != DETAIL
        )
        detail_width = max(
            MIN_DETAIL_WIDTH, self.scrollable_content_region.width - others - 2 * self.cell_padding
        )
        for name, row in rows.items():
            detail = row[DETAIL]
            if isinstance(detail, Text):
                detail.truncate(detail_width, overflow="ellipsis")
            cells = dict(zip(COLUMNS, row, strict=True))
            if name in self.rows:
                for column, value in cells.items():
                    self.update_cell(name, column, value, update_width=True)
            else:
                self.add_row(*cells.values(), key=name)


def row_cells(status: ServiceStatus, now: datetime) -> list[Text | str]:
    check = status.latest
    if check is None:
        label, style = CHECKING
        return [status.name, Text(label, style), "", Text(""), "", NOT_SEEN]
    label, style = STATE_LOOK[check.state]
    detail = check.reason or (f"HTTP {check.status_code}" if check.status_code else "")
    since = ""
    if status.since is not None:
        # Down when the console started: it may have been down for much longer.
        at_least = "≥" if status.began_before_since and check.state is not HealthState.UP else ""
        since = at_least + duration((now - status.since).total_seconds())
    last_good = (
        duration((now - status.last_good.checked_at).total_seconds()) + " ago"
        if status.last_good
        else NOT_SEEN
    )
    return [
        status.name,
        Text(label, style),
        since,
        Text(detail, style="" if check.state is HealthState.UP else style),
        latency(check.latency) if check.latency is not None else "—",
        last_good,
    ]
