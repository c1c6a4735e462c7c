"""The Textual application and the factory that builds it. The app composes: the poller
(monitoring), the incident mode and the drill mode are objects it holds, each of its own
job; the app routes keys and messages to them and keeps the header."""

from __future__ import annotations

import gc
import socket
from typing import ClassVar

from textual import on
from textual.app import App
from textual.binding import Binding, BindingType
from textual.signal import Signal

from opsconsole.config.model import Config
from opsconsole.drills.model import DrillBook, DrillPlan
from opsconsole.engine.probes import ConfiguredProbes
from opsconsole.engine.runner import operator_name
from opsconsole.incidents.files import FileStore, default_directory
from opsconsole.incidents.session import IncidentSession
from opsconsole.incidents.store import IncidentStore
from opsconsole.monitoring.board import Board
from opsconsole.monitoring.monitor import Monitor
from opsconsole.monitoring.poller import Polled, Poller
from opsconsole.runbooks.model import Library, Runbook, load_runbooks, shipped_runbooks
from opsconsole.sources.health import HealthChecker
from opsconsole.tui.commands import PROVIDERS
from opsconsole.tui.drill_mode import DrillMode
from opsconsole.tui.incident_mode import IncidentMode
from opsconsole.tui.messages import JoinIncident, RunbookRequested, RunEnded
from opsconsole.tui.screens.dashboard import DashboardScreen
from opsconsole.tui.screens.help import HelpScreen
from opsconsole.tui.screens.incidents import IncidentsScreen
from opsconsole.tui.screens.params import ParamsDialog
from opsconsole.tui.screens.service import ServiceScreen
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


class OpsConsoleApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "opsconsole"
    COMMANDS = App.COMMANDS | set(PROVIDERS)
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
        library: Library | None,
        session: IncidentSession,
        drills: DrillBook | None = None,
        drill: DrillPlan | None = None,
        owns_process: bool = False,
    ) -> None:
        super().__init__()
        self.config = config
        self.monitor = monitor
        self.library = library
        self.board = Board(config)
        self.poller = Poller(monitor, self.board)
        self.board_changed: Signal[Polled] = Signal(self, "board-changed")
        """Each poll filed on the board: screens subscribe and redraw."""
        self.incident_mode = IncidentMode(self, session)
        self.drill_mode = DrillMode(self, drills)
        self._drill = drill
        self.owns_process = owns_process
        # Which environment and which host, always in sight: the header never scrolls away.
        self.place = f"{config.console.environment} @ {socket.gethostname()}"
        self.sub_title = self.place
        self.add_class(f"-env-{environment_kind(config.console.environment)}")
        self.dashboard = DashboardScreen(self.poller, self.board_changed, library)

    def on_mount(self) -> None:
        self.push_screen(self.dashboard)
        self.poller.listen(self._polled)
        self.poller.start()
        self.incident_mode.start()
        if self._drill is not None:
            self.drill_mode.start(self._drill)

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
        await self.drill_mode.stop()  # a drill never leaves its fault behind
        await self.poller.aclose()
        await self.monitor.aclose()
        self.incident_mode.session.close()

    def _polled(self, polled: Polled) -> None:
        if polled.error is not None:
            # Each check turns the world's failures into DOWN: this is a bug of ours.
            self.notify(
                f"Health checks failed: {polled.error}; retrying.", severity="error", timeout=10
            )
        self.board_changed.publish(polled)
        self.incident_mode.polled(polled)

    def show_header(self) -> None:
        self.sub_title = self.incident_mode.session.header(self.drill_mode.place(self.place))

    # -- runbooks ------------------------------------------------------------------------

    @on(RunbookRequested)
    def _run_requested(self, message: RunbookRequested) -> None:
        self.open_runbook(message.runbook, message.params)

    @on(RunEnded)
    def _run_ended(self, message: RunEnded) -> None:
        self.incident_mode.run_ended(message.end)

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
        if not book.params:
            self._start_runbook(book, {})
            return

        def filled(values: dict[str, str] | None) -> None:
            if values is not None:
                self._start_runbook(book, values)

        environment = self.config.console.environment
        self.push_screen(ParamsDialog(book, params or {}, environment), callback=filled)

    def _start_runbook(self, book: Runbook, values: dict[str, str]) -> None:
        self.incident_mode.runbook_started(book.id)
        recorder = self.incident_mode.session.recorder()
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

    # -- going places --------------------------------------------------------------------

    def open_service(self, name: str) -> None:
        if self._back_to_dashboard():
            self.push_screen(ServiceScreen(self.monitor, self.board, name))

    def focus_pane(self, source: str) -> None:
        if self._back_to_dashboard():
            self.dashboard.focus_pane(source)

    def _back_to_dashboard(self) -> bool:
        """Closes the screens above the dashboard, unless a runbook is running there."""
        if self._run_in_progress():
            return False
        while self.screen is not self.dashboard:
            self.pop_screen()
        return True

    # -- keys ----------------------------------------------------------------------------

    def action_incident(self) -> None:
        self.incident_mode.open_or_note()

    def action_incidents(self) -> None:
        incident = self.incident_mode.session.incident
        self.push_screen(IncidentsScreen(self.incident_mode, incident.id if incident else None))

    @on(JoinIncident)
    def _joined(self, message: JoinIncident) -> None:
        self.incident_mode.join(message.incident)

    def action_hint(self) -> None:
        self.drill_mode.hint()

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
    monitor: Monitor | None = None,
    checker: HealthChecker | None = None,
    library: Library | None = None,
    incidents: IncidentStore | None = None,
    session: IncidentSession | None = None,
    drill: DrillPlan | None = None,
    drills: DrillBook | None = None,
    owns_process: bool = False,
) -> OpsConsoleApp:
    """The app for a configuration; tests pass their own sources (a `monitor`, or just its
    health `checker`) and their own incident `session` or store. The runbook library is the
    shipped one unless given; incidents go to the default directory unless a store is
    given. `owns_process`: the app is what this process is for (the CLI)."""
    if library is None:
        library = load_runbooks(shipped_runbooks())
    if monitor is None:
        monitor = Monitor(config, health=checker)
    if session is None:
        store = incidents or FileStore(default_directory())
        session = IncidentSession(store, config, library)
    return OpsConsoleApp(config, monitor, library, session, drills, drill, owns_process)
