"""`r` on the dashboard: every source polled now, and, when the configuration file has
changed since the console took it, the new file read, checked and put in place.

The reason a figure is missing says what to change ("set status_label = \"code\""): the
engineer edits the file and presses `r`, and expects to see the figure, not to restart
the console in the middle of an incident. The monitoring side is rebuilt on the new file
(its services, thresholds and backends, and what Prometheus holds for the names, asked
again); the incident in hand, a run going on behind the dashboard and a drill keep what
they started with. A file that is not valid changes nothing: the console goes on with the
one it has, and says so."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsconsole.tui.screens.dashboard import DashboardScreen

if TYPE_CHECKING:
    from opsconsole.config.model import Config
    from opsconsole.config.source import ConfigSource
    from opsconsole.monitoring.monitor import Monitor
    from opsconsole.tui.app import OpsConsoleApp


class ReloadMode:
    def __init__(self, app: OpsConsoleApp, source: ConfigSource | None) -> None:
        self.app = app
        self.source = source
        """The file the console was started on; None for one made in memory (the demo's)."""
        self._reading = False

    def refresh(self) -> None:
        source = self.source
        if source is None or not source.changed():
            self.app.monitor.rediscover()
            self.app.poller.poll_now()
            return
        if not self._reading:  # a second `r` while the file is read waits for that read
            self._reading = True
            self.app.run_worker(
                lambda: self._read(source), thread=True, group="reload", exit_on_error=False
            )

    def _read(self, source: ConfigSource) -> None:
        """In a thread: parsing, validating and making the sources' clients take time."""
        from opsconsole.documents.problems import ProblemsFound, display_path
        from opsconsole.monitoring.monitor import Monitor

        try:
            loaded, digest = source.load()
            monitor = Monitor(loaded.config)
        except ProblemsFound as error:
            count = len(error.problems)
            said = (
                f"{display_path(source.path)} has {count} problem{'s' * (count != 1)}: "
                f"the console goes on with the configuration it has "
                f"(`opsconsole check` lists them).\n{error.problems[0]}"
            )
            self.app.call_from_thread(self._done, said, "error")
            return
        except OSError as error:
            said = f"{display_path(source.path)}: {error.strerror or error}: nothing changed"
            self.app.call_from_thread(self._done, said, "error")
            return
        except Exception as error:  # a client that would not start: said, and `r` still works
            said = f"{display_path(source.path)} could not be taken ({error}): nothing changed"
            self.app.call_from_thread(self._done, said, "error")
            return
        # Awaited on the loop; mypy cannot choose between the two return types that
        # call_from_thread's signature allows a coroutine function (Textual 8.2).
        self.app.call_from_thread(self._take, loaded.config, monitor, digest)  # type: ignore[arg-type]

    def _done(self, said: str, severity: str = "information") -> None:
        self._reading = False
        self.app.notify(said, severity=severity, timeout=30, markup=False)  # type: ignore[arg-type]
        self.app.poller.poll_now()

    async def _take(self, config: Config, monitor: Monitor, digest: str | None) -> bool:
        """Whether the console now runs on `config`."""
        from opsconsole.monitoring.board import Board
        from opsconsole.monitoring.poller import Poller

        app = self.app
        if app.screen is not app.dashboard:
            # Left the dashboard while the file was read: taken at the next `r` there.
            await monitor.aclose()
            self._done("The configuration changed: press r on the dashboard to take it.")
            return False
        assert self.source is not None
        old, old_monitor, old_poller = app.config, app.monitor, app.poller
        # Everything new is made before anything old is let go, and the screen is swapped
        # first, with no wait before it: a dialog cannot come in between.
        board = Board(config)
        board.carry_over(app.board)
        poller = Poller(monitor, board)
        poller.continue_from(old_poller)
        dashboard = DashboardScreen(poller, app.board_changed, app.library)
        await app.switch_screen(dashboard)
        app.config, app.monitor, app.board, app.poller = config, monitor, board, poller
        app.dashboard = dashboard
        app.incident_mode.session.config = config
        app.set_environment(config.console.environment)
        self.source.taken(digest)
        self._reading = False
        await old_poller.aclose()
        poller.listen(app.polled)
        poller.start()
        await old_monitor.aclose()
        app.show_header()
        app.notify(_taken(old, config, self.source.path.name), timeout=15, markup=False)
        return True


def _taken(old: Config, new: Config, name: str) -> str:
    count = len(new.services)
    said = f"{name} taken again: {count} service{'s' * (count != 1)}"
    if new.prometheus is not None:
        said += "; Prometheus asked again what it holds"
    later = [
        what
        for what, changed in (
            ("[incidents]", old.incidents != new.incidents),
            ("the runbook library", old.console.runbooks != new.console.runbooks),
        )
        if changed
    ]
    if later:
        said += f" ({' and '.join(later)}: at the next start)"
    return said + "."
