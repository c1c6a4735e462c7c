"""What Ctrl+P finds, one provider a kind of thing (Textual's own mechanism): services and
panes, runbooks, the incident worked here, drills."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from opsconsole.incidents.model import SEVERITIES, SEVERITY_MEANINGS, Kind, Status
from opsconsole.monitoring.offers import service_params
from opsconsole.tui.screens.dashboard import PANES

if TYPE_CHECKING:
    from opsconsole.tui.app import OpsConsoleApp

Listing = tuple[str, str, Callable[[], Any]]
"""What the palette shows, its help line, and what choosing it does."""


class Listed(Provider):
    """Commands listed once, when the palette opens, then matched as the operator types."""

    listed: list[Listing]

    @property
    def console(self) -> OpsConsoleApp:
        return cast("OpsConsoleApp", self.app)

    async def startup(self) -> None:
        # Nothing to find before the console has loaded what it finds things in.
        self.listed = await self.gather() if self.console.attached else []

    @abstractmethod
    async def gather(self) -> list[Listing]: ...

    async def discover(self) -> Hits:
        for title, help_text, callback in self.listed:
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self.listed:
            if (score := matcher.match(title)) > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)


class ServiceCommands(Listed):
    async def gather(self) -> list[Listing]:
        app = self.console
        services: list[Listing] = [
            (f"Service: {name}", "Open its detail screen", partial(app.open_service, name))
            for name in app.board.services
        ]
        panes: list[Listing] = [
            (f"Pane: {title}", "Go to the pane", partial(app.focus_pane, source))
            for source, title in PANES.items()
        ]
        return services + panes


class RunbookCommands(Listed):
    async def gather(self) -> list[Listing]:
        app = self.console
        library = app.library.runbooks if app.library else []
        # Filled in for the service under the dashboard's cursor, as R fills an offer:
        # never the library's defaults, which name some other service.
        name = app.dashboard.selected_service
        service = app.board.services.get(name) if name else None
        return [
            (
                f"Runbook: {book.title}",
                book.summary,
                partial(
                    app.open_runbook,
                    book,
                    service_params(book, service, app.board.config) if service else {},
                ),
            )
            for book in library
        ]


class IncidentCommands(Listed):
    async def gather(self) -> list[Listing]:
        app = self.console
        mode, session = app.incident_mode, app.incident_mode.session
        found: list[Listing] = [
            ("Incidents: list and timelines", "Every incident, and what happened in each",
             app.action_incidents),
        ]  # fmt: skip
        incident = session.open_incident
        if incident is None:
            for other in await session.submit(session.open_elsewhere):
                found.append(
                    (
                        f"Incident: join {other.id}",
                        f"{other.severity} {other.status}: {other.title}",
                        partial(mode.join, other),
                    )
                )
            return found
        for status in Status:
            if status is not incident.status:
                found.append(
                    (
                        f"Incident: status → {status}",
                        f"Move {incident.id} to {status}",
                        partial(mode.change, Kind.STATUS, str(status)),
                    )
                )
        for severity in SEVERITIES:
            if severity != incident.severity:
                found.append(
                    (
                        f"Incident: severity → {severity}",
                        SEVERITY_MEANINGS[severity],
                        partial(mode.change, Kind.SEVERITY, severity),
                    )
                )
        return found


class DrillCommands(Listed):
    async def gather(self) -> list[Listing]:
        drills = self.console.drill_mode
        return [
            (
                f"Drill: {drill.title}",
                f"Train on it: a real {drill.fault.kind} fault into {drill.target} (sandbox)",
                partial(drills.offer, drill),
            )
            for drill in drills.offered()
        ]


PROVIDERS = (ServiceCommands, RunbookCommands, IncidentCommands, DrillCommands)
