"""The dashboard: live health of every configured service."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header
from textual.worker import Worker, WorkerState

from opsconsole.config import Config
from opsconsole.redact import redact_url
from opsconsole.sources.health import HealthCheck, HealthChecker
from opsconsole.status import ServiceStatus, observe_all
from opsconsole.widgets.backends import BackendLine, BackendsPane
from opsconsole.widgets.services_table import ServicesTable

HEALTH_GROUP = "health"


class HealthChecked(Message):
    """One round of health checks came back."""

    def __init__(self, checks: list[HealthCheck]) -> None:
        super().__init__()
        self.checks = checks


class DashboardScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh", "Refresh"),
    ]

    def __init__(self, config: Config, checker: HealthChecker) -> None:
        super().__init__()
        self.config = config
        self.checker = checker
        self.statuses = {s.name: ServiceStatus(s.name) for s in config.services}
        self._next_poll: Timer | None = None
        self._polling = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="services-pane") as pane:
            pane.border_title = "Services"
            yield ServicesTable(id="services")
        backends = BackendsPane(backend_lines(self.config), id="backends")
        backends.border_title = "Backends"
        yield backends
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(ServicesTable).show(self.statuses.values(), datetime.now(UTC))
        self.set_interval(1.0, self._tick)
        self.poll_now()

    # -- polling: one round at a time, the next armed when this one is done --------

    def poll_now(self) -> None:
        if self._polling:
            return  # the round in flight is as fresh as a new one would be
        if self._next_poll is not None:
            self._next_poll.stop()
        self._polling = True
        self.run_worker(
            self._check_health(),
            group=HEALTH_GROUP,
            description="health checks",
            exit_on_error=False,
        )

    async def _check_health(self) -> None:
        self.post_message(HealthChecked(await self.checker.check_all()))

    @on(HealthChecked)
    def _show_checks(self, message: HealthChecked) -> None:
        self.statuses = observe_all(self.statuses, message.checks)
        self.query_one(ServicesTable).show(self.statuses.values(), datetime.now(UTC))

    @on(Worker.StateChanged)
    def _poll_finished(self, event: Worker.StateChanged) -> None:
        if event.worker.group != HEALTH_GROUP or event.state not in (
            WorkerState.SUCCESS,
            WorkerState.ERROR,
        ):
            return
        if event.state is WorkerState.ERROR:
            self.notify(
                f"Health checks failed: {event.worker.error!r}; retrying.",
                severity="error",
                timeout=10,
            )
        self._polling = False
        self._next_poll = self.set_timer(self.config.console.refresh_seconds, self.poll_now)

    def _tick(self) -> None:
        self.query_one(ServicesTable).tick(datetime.now(UTC))

    def action_refresh(self) -> None:
        self.poll_now()


def backend_lines(config: Config) -> list[BackendLine]:
    return [
        BackendLine(
            "Prometheus",
            config.prometheus.url if config.prometheus else None,
            'add [prometheus] url = "…" to opsconsole.toml',
        ),
        BackendLine(
            "PostgreSQL",
            redact_url(config.postgres.dsn.get_secret_value()) if config.postgres else None,
            'add [postgres] dsn = "…" to opsconsole.toml',
        ),
        BackendLine(
            "Redis",
            redact_url(config.redis.url.get_secret_value()) if config.redis else None,
            'add [redis] url = "…" to opsconsole.toml',
        ),
        BackendLine(
            "Docker",
            config.docker.base_url if config.docker else None,
            'add [docker] base_url = "…" to opsconsole.toml',
        ),
    ]
