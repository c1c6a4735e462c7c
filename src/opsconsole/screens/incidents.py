"""Every incident the store holds, newest first, and the timeline of the one under the
cursor. `j` makes it this console's incident: several engineers can work one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from opsconsole.incidents.export import describe
from opsconsole.incidents.model import Incident
from opsconsole.incidents.store import IncidentStore, StoreError
from opsconsole.timefmt import age


class JoinIncident(Message):
    def __init__(self, incident: Incident) -> None:
        super().__init__()
        self.incident = incident


class IncidentsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("j", "join", "Join"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self, store: IncidentStore, current: str | None = None) -> None:
        super().__init__()
        self.store = store
        self.current = current
        self.shown: dict[str, Incident] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        listing: DataTable[str] = DataTable(id="incidents-list", cursor_type="row")
        listing.border_title = "Incidents"
        yield listing
        timeline: DataTable[str] = DataTable(id="incident-timeline", cursor_type="row")
        timeline.border_title = "Timeline"
        yield timeline
        yield Static(id="incidents-problem", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#incidents-list", DataTable).add_columns(
            "id", "sev", "status", "age", "mode", "title"
        )
        self.query_one("#incident-timeline", DataTable).add_columns("time", "who", "what")
        self.action_reload()

    def action_reload(self) -> None:
        problem = self.query_one("#incidents-problem", Static)
        try:
            incidents = self.store.incidents()
        except (OSError, StoreError) as error:
            problem.update(f"✖ the incident store cannot be read: {error}")
            return
        problem.update("")
        now = datetime.now(UTC)
        listing = self.query_one("#incidents-list", DataTable)
        listing.clear()
        self.shown = {}
        for incident in sorted(incidents, key=lambda i: i.started, reverse=True):
            self.shown[incident.id] = incident
            mark = "▶ " if incident.id == self.current else ""
            ended = incident.resolved or now
            listing.add_row(
                mark + incident.id,
                incident.severity,
                str(incident.status),
                age((ended - incident.started).total_seconds()),
                incident.mode,
                incident.title,
                key=incident.id,
            )
        if not self.shown:
            problem.update("No incidents yet: i on the dashboard opens one.")
        elif self.current in self.shown:
            listing.move_cursor(row=listing.get_row_index(self.current))
        listing.focus()

    @on(DataTable.RowHighlighted, "#incidents-list")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        incident = self.shown.get(str(event.row_key.value))
        timeline = self.query_one("#incident-timeline", DataTable)
        timeline.clear()
        if incident is None:
            return
        for event_ in incident.events:
            timeline.add_row(f"{event_.at:%H:%M:%S}", event_.who.name, describe(event_))
        timeline.border_subtitle = f"{len(incident.events)} events · {incident.id}"
        timeline.move_cursor(row=len(incident.events) - 1)

    def highlighted(self) -> Incident | None:
        listing = self.query_one("#incidents-list", DataTable)
        if not self.shown:
            return None
        key = listing.coordinate_to_cell_key(listing.cursor_coordinate).row_key.value
        return self.shown.get(str(key))

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
