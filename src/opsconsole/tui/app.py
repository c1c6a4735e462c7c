"""The Textual application and the factory that builds it. The app composes: the poller
(monitoring), the incident mode and the drill mode are objects it holds, each of its own
job; the app routes keys and messages to them and keeps the header.

At 3 a.m. the console must be there before the engineer's hand leaves the Enter key, so
the command line's app draws its first frame before anything but Textual is loaded: the
configuration, the runbook library and the sources load in a thread after it, and the
dashboard takes the place of that frame. This module therefore imports what it needs of
the rest of the console where it needs it, not at its top."""

from __future__ import annotations

import gc
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import App
from textual.binding import Binding, BindingType
from textual.command import Provider
from textual.message import Message
from textual.signal import Signal

from opsconsole.tui.boot import StartingScreen
from opsconsole.tui.messages import (
    JoinIncident,
    RefreshRequested,
    RunbookRequested,
    RunEnded,
    RunShown,
)

if TYPE_CHECKING:
    from opsconsole.config.model import Config
    from opsconsole.config.source import ConfigSource
    from opsconsole.drills.model import DrillBook, DrillPlan
    from opsconsole.incidents.session import IncidentSession
    from opsconsole.incidents.store import IncidentStore
    from opsconsole.monitoring.board import Board
    from opsconsole.monitoring.monitor import Monitor
    from opsconsole.monitoring.poller import Polled, Poller
    from opsconsole.runbooks.model import Library, Runbook
    from opsconsole.sources.health import HealthChecker
    from opsconsole.tui.drill_mode import DrillMode
    from opsconsole.tui.incident_mode import IncidentMode
    from opsconsole.tui.reload_mode import ReloadMode
    from opsconsole.tui.runbook_mode import RunbookMode
    from opsconsole.tui.screens.dashboard import DashboardScreen

PALETTE = "palette: services, panes, runbooks, incidents, drills"

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


@dataclass
class Parts:
    """What a console is made of, once its files are loaded."""

    config: Config
    monitor: Monitor
    library: Library | None
    session: IncidentSession
    drills: DrillBook | None = None
    drill: DrillPlan | None = None
    said: list[str] = field(default_factory=list)
    """What loading had to tell the operator: a drill's fault left behind and undone..."""
    source: ConfigSource | None = None
    """The file `config` came from, taken again by `r` when it changes."""


class Loaded(Message):
    """The loading thread has the parts."""

    def __init__(self, parts: Parts) -> None:
        super().__init__()
        self.parts = parts


class NotStarted(Exception):
    """Loading found what the console must not start on; the message says what."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _provider(name: str) -> Callable[[], type[Provider]]:
    """A palette provider, imported when the palette first opens."""

    def provider() -> type[Provider]:
        from opsconsole.tui import commands

        found: type[Provider] = getattr(commands, name)
        return found

    return provider


class OpsConsoleApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "opsconsole"
    COMMANDS = App.COMMANDS | {
        _provider(name)
        for name in ("ServiceCommands", "RunbookCommands", "IncidentCommands", "DrillCommands")
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("i", "incident", "Incident"),
        Binding("I", "incidents", "Incidents", key_display="I"),
        Binding("w", "wizard", "Run", show=False),
    ]

    config: Config
    library: Library | None
    monitor: Monitor
    board: Board
    poller: Poller
    board_changed: Signal[Polled]
    """Each poll filed on the board: screens subscribe and redraw."""
    incident_mode: IncidentMode
    drill_mode: DrillMode
    runbooks: RunbookMode
    reload_mode: ReloadMode
    dashboard: DashboardScreen

    def __init__(
        self,
        parts: Parts | Callable[[], Parts],
        *,
        loading: str = "the configuration",
        environment: str = "unlabelled",
        owns_process: bool = False,
    ) -> None:
        """`parts`, or how to load them (in a thread, once the first frame is out: what it
        raises as NotStarted ends the app with its message)."""
        super().__init__()
        self._parts = parts
        if isinstance(parts, Parts):  # known at once: a test may look before it runs
            self.config, self.library, self.monitor = parts.config, parts.library, parts.monitor
        self._loading = loading
        self.owns_process = owns_process
        self.attached = False
        """Whether the parts are in place: until then only quitting does anything."""
        self.refused: NotStarted | None = None
        """Why loading the parts refused to start the console, if it did."""
        self.place = f"{environment} @ {socket.gethostname()}"
        self.sub_title = self.place
        self.add_class(f"-env-{environment_kind(environment)}")

    # -- starting ------------------------------------------------------------------------

    async def on_mount(self) -> None:
        from opsconsole.tui.widgets import formats

        formats.use_colour(not self.no_color)
        if isinstance(self._parts, Parts):
            await self._assemble(self._parts)
        else:
            self.push_screen(StartingScreen(self._loading))

    def on_ready(self) -> None:
        if not isinstance(self._parts, Parts):
            self.run_worker(self._load, thread=True, group="load", exit_on_error=False)
        elif self.owns_process:
            self._freeze()

    def _load(self) -> None:
        assert not isinstance(self._parts, Parts)
        try:
            parts = self._parts()
        except NotStarted as refused:
            # Printed by the command once the terminal is its own again, as plain lines:
            # an exit message would be wrapped at the terminal's width.
            self.refused = refused
            self.call_from_thread(self.exit, None, refused.exit_code)
            return
        self.post_message(Loaded(parts))

    @on(Loaded)
    async def _loaded(self, message: Loaded) -> None:
        await self._assemble(message.parts)
        if self.owns_process:
            self._freeze()

    def _freeze(self) -> None:
        # What start-up made (modules, styles, widgets: some 130,000 objects) lives as
        # long as the process. Left to the collector, each full collection walks it all
        # again, some 70 ms a minute of a console left open; frozen, it is skipped
        # (gc.freeze is meant "to speed up collection"). Not in tests, where many apps
        # share one process and each would be kept for good.
        gc.collect()
        gc.freeze()

    async def _assemble(self, parts: Parts) -> None:
        from opsconsole.monitoring.board import Board
        from opsconsole.monitoring.poller import Poller
        from opsconsole.tui.drill_mode import DrillMode
        from opsconsole.tui.incident_mode import IncidentMode
        from opsconsole.tui.reload_mode import ReloadMode
        from opsconsole.tui.runbook_mode import RunbookMode
        from opsconsole.tui.screens.dashboard import DashboardScreen

        self.config, self.library, self.monitor = parts.config, parts.library, parts.monitor
        self.set_environment(parts.config.console.environment)
        self.board = Board(parts.config)
        self.poller = Poller(parts.monitor, self.board)
        self.board_changed = Signal(self, "board-changed")
        self.incident_mode = IncidentMode(self, parts.session)
        self.drill_mode = DrillMode(self, parts.drills)
        self.runbooks = RunbookMode(self)
        self.reload_mode = ReloadMode(self, parts.source)
        self.dashboard = DashboardScreen(self.poller, self.board_changed, parts.library)
        self.attached = True
        # Over the first frame, not in its place: a Header on its way out still hears
        # the title change that follows, and fails to find its own parts (Textual 8.2).
        await self.push_screen(self.dashboard)
        self.poller.listen(self.polled)
        self.poller.start()
        self.incident_mode.start()
        if parts.drill is not None:
            self.drill_mode.start(parts.drill)
        self.show_header()
        for said in parts.said:
            self.notify(said, severity="warning", timeout=60)
        self.refresh_bindings()

    async def on_unmount(self) -> None:
        if not self.attached:
            return
        await self.drill_mode.stop()  # a drill never leaves its fault behind
        await self.poller.aclose()
        await self.monitor.aclose()
        self.incident_mode.session.close()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("incident", "incidents", "hint", "wizard"):
            return self.attached
        return True

    def set_environment(self, environment: str) -> None:
        self.place = f"{environment} @ {socket.gethostname()}"
        for kind in ENVIRONMENT_KINDS:
            self.remove_class(f"-env-{kind}")
        self.add_class(f"-env-{environment_kind(environment)}")

    def polled(self, polled: Polled) -> None:
        """A poll is on the board: the screens and the incident session hear it."""
        if polled.error is not None:
            # Each check turns the world's failures into DOWN: this is a bug of ours.
            self.notify(
                f"Health checks failed: {polled.error}; retrying.", severity="error", timeout=10
            )
        self.board_changed.publish(polled)
        self.incident_mode.polled(polled)

    def show_header(self) -> None:
        header = self.incident_mode.session.header(self.drill_mode.place(self.place))
        if (behind := self.runbooks.behind()) is not None:
            header = f"▶ {behind.runbook.id} running (w) · {header}"
        self.sub_title = header

    @on(RunShown)
    def _run_shown(self) -> None:
        self.show_header()

    def action_wizard(self) -> None:
        self.runbooks.bring_back()

    @on(RefreshRequested)
    def _refresh_requested(self) -> None:
        self.reload_mode.refresh()

    # -- runbooks ------------------------------------------------------------------------

    @on(RunbookRequested)
    def _run_requested(self, message: RunbookRequested) -> None:
        self.runbooks.open(message.runbook, message.params)

    @on(RunEnded)
    def _run_ended(self, message: RunEnded) -> None:
        self.incident_mode.run_ended(message.end)
        if self.runbooks.exit_when_run_ends:
            self.exit()

    def open_runbook(self, book: Runbook, params: dict[str, str] | None = None) -> None:
        self.runbooks.open(book, params)

    # -- going places --------------------------------------------------------------------

    def open_service(self, name: str) -> None:
        from opsconsole.tui.screens.service import ServiceScreen

        if self._back_to_dashboard():
            self.push_screen(ServiceScreen(self.monitor, self.board, name))

    def focus_pane(self, source: str) -> None:
        if self._back_to_dashboard():
            self.dashboard.focus_pane(source)

    def _back_to_dashboard(self) -> bool:
        """Closes the screens above the dashboard (a run goes on behind it), unless a run
        waits there for an answer: its question is not to be closed unanswered."""
        from opsconsole.tui.screens.dialogs import Dialog

        if not self.attached:
            return False
        if any(isinstance(screen, Dialog) for screen in self.screen_stack):
            self.notify("A question waits for an answer first.", severity="warning")
            return False
        while self.screen is not self.dashboard:
            self.pop_screen()
        return True

    # -- keys ----------------------------------------------------------------------------

    def action_incident(self) -> None:
        self.incident_mode.open_or_note()

    def action_incidents(self) -> None:
        from opsconsole.tui.screens.incidents import IncidentsScreen

        incident = self.incident_mode.session.incident
        self.push_screen(IncidentsScreen(self.incident_mode, incident.id if incident else None))

    @on(JoinIncident)
    def _joined(self, message: JoinIncident) -> None:
        self.incident_mode.join(message.incident)

    def action_hint(self) -> None:
        self.drill_mode.hint()

    def action_help(self) -> None:
        from opsconsole.tui.screens.help import HelpScreen, keys_of

        extra = [("^p", PALETTE)] if self.attached else []
        self.push_screen(HelpScreen(keys_of(self, self.active_bindings.values()) + extra))

    async def action_quit(self) -> None:
        if not self.attached:
            self.exit()
        else:
            self.runbooks.quit()


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
    source: ConfigSource | None = None,
    owns_process: bool = False,
) -> OpsConsoleApp:
    """The app for a configuration already loaded; tests pass their own sources (a
    `monitor`, or just its health `checker`) and their own incident `session` or store.
    The runbook library is the shipped one unless given; incidents go to the default
    directory unless a store is given. `source`: the file `config` came from, taken again
    by `r` once it changes. `owns_process`: the app is what this process is
    for (the CLI)."""
    from opsconsole.incidents.files import FileStore, default_directory
    from opsconsole.incidents.session import IncidentSession
    from opsconsole.monitoring.monitor import Monitor
    from opsconsole.runbooks.model import load_runbooks, shipped_runbooks

    if library is None:
        library = load_runbooks(shipped_runbooks())
    if monitor is None:
        monitor = Monitor(config, health=checker)
    if session is None:
        session = IncidentSession(incidents or FileStore(default_directory()), config, library)
    parts = Parts(config, monitor, library, session, drills, drill, source=source)
    return OpsConsoleApp(parts, environment=config.console.environment, owns_process=owns_process)
