"""The Textual application and the factory that builds it."""

from __future__ import annotations

import gc
import socket
from collections.abc import Iterable
from functools import partial
from typing import ClassVar

from textual import on
from textual.app import SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from opsconsole.config.model import Config
from opsconsole.drills.model import DrillBook
from opsconsole.engine.probes import ConfiguredProbes
from opsconsole.engine.runner import operator_name
from opsconsole.incidents.files import FileStore, default_directory
from opsconsole.incidents.store import IncidentStore
from opsconsole.monitoring.board import Board
from opsconsole.monitoring.monitor import Monitor
from opsconsole.runbooks.model import Library, Runbook, load_runbooks, shipped_runbooks
from opsconsole.sources.health import HealthChecker
from opsconsole.tui.drill_desk import DrillDesk, DrillPlan
from opsconsole.tui.screens.dashboard import PANES, DashboardScreen, RunbookRequested
from opsconsole.tui.screens.help import HelpScreen
from opsconsole.tui.screens.params import ParamsDialog
from opsconsole.tui.screens.wizard import WizardScreen

# The header's colour says which kind of environment this is before any word is read.
ENVIRONMENT_KINDS = {
    "production": ("production", "prod", "prd", "live"),
    "staging": ("staging", "stage", "stg", "preprod", "pre-production", "acceptance", "uat"),
    "sandbox": ("demo", "training", "drill", "sandbox", "dev", "development", "test", "local"),
}


def environment_kind(environment: str) -> str:
    name = environment.strip().lower()
    for kind, names in ENVIRONMENT_KINDS.items():
        if name in names or any(name.startswith(n + "-") for n in names):
            return kind
    return "other"


class OpsConsoleApp(DrillDesk):
    CSS_PATH = "app.tcss"
    TITLE = "opsconsole"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("i", "incident", "Incident"),
        Binding("I", "incidents", "Incidents", key_display="I"),
    ]

    def __init__(
        self,
        config: Config,
        monitor: Monitor,
        library: Library | None = None,
        incidents: IncidentStore | None = None,
        drill: DrillPlan | None = None,
        drills: DrillBook | None = None,
        owns_process: bool = False,
    ) -> None:
        super().__init__()
        self.owns_process = owns_process
        self.config = config
        self.monitor = monitor
        self.library = library
        self.board = Board(config)
        self.setup_incidents(incidents or FileStore(default_directory()))
        # Which environment and which host, always in sight: the header never scrolls away.
        self.place = f"{config.console.environment} @ {socket.gethostname()}"
        self.sub_title = self.place
        self.add_class(f"-env-{environment_kind(config.console.environment)}")
        self.setup_drill(drill)
        self.offer_drills(drills)

    @property
    def checker(self) -> HealthChecker:
        return self.monitor.health

    def on_mount(self) -> None:
        self.push_screen(DashboardScreen(self.monitor, self.board, self.library))
        self.start_incident_clocks()
        self.start_drill()

    def on_ready(self) -> None:
        if self.owns_process:
            # What start-up made (modules, styles, widgets: some 130,000 objects) lives as
            # long as the process. Left to the collector, each full collection walks it all
            # again, some 70 ms a minute of a console left open; frozen, it is skipped
            # (gc.freeze is meant "to speed up collection"). Not in tests, where many apps
            # share one process and each would be kept for good.
            gc.collect()
            gc.freeze()

    async def on_unmount(self) -> None:
        await self.undo_fault()  # a drill never leaves its fault behind, however it ends
        await self.monitor.aclose()

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Ctrl+P finds every service and pane by name."""
        yield from super().get_system_commands(screen)
        dashboard = next(s for s in self.screen_stack if isinstance(s, DashboardScreen))
        for name in self.board.services:
            yield SystemCommand(
                f"Service: {name}", "Open its detail screen", partial(self._open, dashboard, name)
            )
        for source, title in PANES.items():
            yield SystemCommand(
                f"Pane: {title}", "Go to the pane", partial(self._go_to, dashboard, source)
            )
        for book in self.library.runbooks if self.library else []:
            yield SystemCommand(
                f"Runbook: {book.title}", book.summary, partial(self.open_runbook, book)
            )
        yield from self.incident_commands()
        yield from self.drill_commands()

    @on(RunbookRequested)
    def _run_requested(self, message: RunbookRequested) -> None:
        self.open_runbook(message.runbook, message.params)

    def _run_in_progress(self) -> bool:
        """Leaving a running wizard would kill its command without rollback or record."""
        if any(isinstance(s, WizardScreen) and s.running for s in self.screen_stack):
            self.notify("A runbook is running: finish or abort it first.", severity="warning")
            return True
        return False

    def open_runbook(self, book: Runbook, params: dict[str, str] | None = None) -> None:
        """Runs a runbook in the wizard, once its parameters are filled in: `params` (what
        the dashboard offered) and the defaults are only where the form starts."""
        if self._run_in_progress():
            return
        environment = self.config.console.environment
        if not book.params:
            self._start_runbook(book, {})
            return

        def filled(values: dict[str, str] | None) -> None:
            if values is not None:
                self._start_runbook(book, values)

        self.push_screen(ParamsDialog(book, params or {}, environment), callback=filled)

    def _start_runbook(self, book: Runbook, values: dict[str, str]) -> None:
        self.runbook_started(book.id)
        recorder = self.recorder_for_run()
        wizard = WizardScreen(
            book,
            values,
            self.config.console.environment,
            operator_name=operator_name(),
            probes=ConfiguredProbes(self.config),
            record=recorder,
        )
        if recorder is not None:
            recorder.on_failure = wizard.stop_unrecorded
        self.push_screen(wizard)

    def _open(self, dashboard: DashboardScreen, name: str) -> None:
        if self._back_to(dashboard):
            dashboard.open_service(name)

    def _go_to(self, dashboard: DashboardScreen, source: str) -> None:
        if self._back_to(dashboard):
            dashboard.focus_pane(source)

    def _back_to(self, dashboard: DashboardScreen) -> bool:
        """Closes the screens above the dashboard, unless a runbook is running there."""
        if self._run_in_progress():
            return False
        while self.screen is not dashboard:
            self.pop_screen()
        return True

    def action_help(self) -> None:
        keys = [
            (binding.key_display or binding.key, binding.description)
            for (_, binding, enabled, _) in self.active_bindings.values()
            if binding.show and enabled
        ]
        self.push_screen(HelpScreen(keys))


def make_app(
    config: Config,
    *,
    checker: HealthChecker | None = None,
    library: Library | None = None,
    incidents: IncidentStore | None = None,
    drill: DrillPlan | None = None,
    drills: DrillBook | None = None,
    owns_process: bool = False,
) -> OpsConsoleApp:
    """The app for a configuration; tests pass their own sources. The runbook library
    is the shipped one unless given; incidents go to the default directory unless a
    store is given. `owns_process`: the app is what this process is for (the CLI)."""
    if library is None:
        library = load_runbooks(shipped_runbooks())
    monitor = Monitor(config, health=checker)
    return OpsConsoleApp(config, monitor, library, incidents, drill, drills, owns_process)
