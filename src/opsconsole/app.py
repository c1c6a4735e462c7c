"""The Textual application and the factory that builds it."""

from __future__ import annotations

import socket
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from opsconsole.config import Config
from opsconsole.screens.dashboard import DashboardScreen
from opsconsole.screens.help import HelpScreen
from opsconsole.sources.health import HealthChecker, HealthTarget


class OpsConsoleApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "opsconsole"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
    ]

    def __init__(self, config: Config, checker: HealthChecker) -> None:
        super().__init__()
        self.config = config
        self.checker = checker
        # Which environment and which host, always in sight: the header never scrolls away.
        self.sub_title = f"{config.console.environment} @ {socket.gethostname()}"

    def on_mount(self) -> None:
        self.push_screen(DashboardScreen(self.config, self.checker))

    async def on_unmount(self) -> None:
        await self.checker.aclose()

    def action_help(self) -> None:
        keys = [
            (binding.key_display or binding.key, binding.description)
            for (_, binding, enabled, _) in self.active_bindings.values()
            if binding.show and enabled
        ]
        self.push_screen(HelpScreen(keys))


def health_targets(config: Config) -> list[HealthTarget]:
    return [
        HealthTarget(
            name=service.name,
            url=service.health_url,
            timeout=config.health_timeout(service),
            slow_after=config.thresholds.health_slow_seconds,
        )
        for service in config.services
    ]


def make_app(config: Config, *, checker: HealthChecker | None = None) -> OpsConsoleApp:
    """The app for a configuration; tests pass their own sources."""
    return OpsConsoleApp(config, checker or HealthChecker(health_targets(config)))
