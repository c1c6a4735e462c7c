"""Every incident the store holds, newest first, and the timeline of the one under the
cursor. `j` makes it this console's incident: several engineers can work one. What any
console records shows here as it happens; the cursors stay where the operator put them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from opsconsole.common.readable import age
from opsconsole.incidents.export import describe
from opsconsole.incidents.model import Incident
from opsconsole.incidents.store import StoreError
from opsconsole.tui.messages import JoinIncident
from opsconsole.tui.widgets.footer import KeysFooter

if TYPE_CHECKING:
    from opsconsole.tui.incident_mode import IncidentMode


AGES_EVERY_SECONDS = 30.0
"""Ages count minutes after their first one."""


class IncidentsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("j", "join", "Join"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self, incidents: IncidentMode, current: str | None = None) -> None:
        super().__init__()
        self.incidents = incidents
        self.current = current
        self.shown: dict[str, Incident] = {}
        self._timeline_of: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        listing: DataTable[str] = DataTable(id="incidents-list", cursor_type="row")
        listing.border_title = "Incidents"
        yield listing
        timeline: DataTable[str] = DataTable(id="incident-timeline", cursor_type="row")
        timeline.border_title = "Timeline"
        yield timeline
        yield Static(id="incidents-problem", markup=False)
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#incidents-list", DataTable).add_columns(
            "id", "sev", "status", "age", "mode", "title"
        )
        self.query_one("#incident-timeline", DataTable).add_columns("time", "who", "what")
        self.action_reload()
        self.query_one("#incidents-list", DataTable).focus()
        self.set_interval(AGES_EVERY_SECONDS, self.action_reload)
        self.incidents.changed.subscribe(self, lambda _: self.action_reload())

    def action_reload(self) -> None:
        """Reads the store again, off the screen's loop: every 30 s, on `r`, and whenever
        any console appends to an incident."""
        self.run_worker(self._read, thread=True, group="incidents-read", exit_on_error=False)

    def _read(self) -> None:
        try:
            incidents = sorted(
                self.incidents.session.store.incidents(), key=lambda i: i.started, reverse=True
            )
        except (OSError, StoreError) as error:
            self.app.call_from_thread(self._show_problem, error)
            return
        self.app.call_from_thread(self._show, incidents)

    def _show_problem(self, error: Exception) -> None:
        self.query_one("#incidents-problem", Static).update(
            f"✖ the incident store cannot be read: {error}"
        )

    def _show(self, incidents: list[Incident]) -> None:
        problem = self.query_one("#incidents-problem", Static)
        problem.update("" if incidents else "No incidents yet: i on the dashboard opens one.")
        now = datetime.now(UTC)
        listing = self.query_one("#incidents-list", DataTable)
        rows = {incident.id: self._row(incident, now) for incident in incidents}
        self.shown = {incident.id: incident for incident in incidents}
        if [str(key.value) for key in listing.rows] == list(rows):
            # The same incidents: their cells change in place and the cursor stays put.
            for incident_id, cells in rows.items():
                for column, value in zip(listing.ordered_columns, cells, strict=True):
                    if listing.get_cell(incident_id, column.key) != value:
                        listing.update_cell(incident_id, column.key, value, update_width=True)
            if self._timeline_of is not None:
                self._show_timeline(self._timeline_of)
            return
        highlighted = self.highlighted_id()
        keep = highlighted if highlighted in rows else self.current
        listing.clear()
        for incident_id, cells in rows.items():
            listing.add_row(*cells, key=incident_id)
        if keep in rows:
            listing.move_cursor(row=listing.get_row_index(keep))

    def _row(self, incident: Incident, now: datetime) -> tuple[str, ...]:
        mark = "▶ " if incident.id == self.current else ""
        ended = incident.resolved or now
        return (
            mark + incident.id,
            incident.severity,
            str(incident.status),
            age((ended - incident.started).total_seconds()),
            incident.mode,
            incident.title,
        )

    @on(DataTable.RowHighlighted, "#incidents-list")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_timeline(str(event.row_key.value))

    def _show_timeline(self, incident_id: str) -> None:
        """Its events; shown again for the same incident, the cursor stays on the event it
        was on, unless it was on the newest: then it follows what is recorded."""
        timeline = self.query_one("#incident-timeline", DataTable)
        at_end = timeline.cursor_row >= timeline.row_count - 1
        row = None if at_end or self._timeline_of != incident_id else timeline.cursor_row
        timeline.clear()
        self._timeline_of = incident_id
        incident = self.shown.get(incident_id)
        if incident is None:
            return
        for event in incident.events:
            timeline.add_row(f"{event.at:%H:%M:%S}", event.who.name, describe(event))
        timeline.border_subtitle = f"{len(incident.events)} events · {incident.id}"
        timeline.move_cursor(row=len(incident.events) - 1 if row is None else row)

    def highlighted_id(self) -> str | None:
        listing = self.query_one("#incidents-list", DataTable)
        if not listing.row_count:
            return None
        return str(listing.coordinate_to_cell_key(listing.cursor_coordinate).row_key.value)

    def highlighted(self) -> Incident | None:
        highlighted = self.highlighted_id()
        return self.shown.get(highlighted) if highlighted is not None else None

    def action_join(self) -> None:
        incident = self.highlighted()
        if incident is None:
            return
        if not incident.is_open:
            self.notify(f"{incident.id} is resolved: there is nothing to join.", severity="warning")
            return
        self.post_message(JoinIncident(incident))
        self.current = incident.id
        self.action_reload()
