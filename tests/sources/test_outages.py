"""Each backend goes away while the dashboard runs, then comes back: its pane says so,
the rest keeps working, and the pane recovers by itself."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from opsconsole.config.model import (
    Config,
    ConsoleSection,
    DockerSection,
    PostgresSection,
    PrometheusSection,
    RedisSection,
    ServiceSection,
)
from opsconsole.demo.fleet import DemoFleet
from opsconsole.tui.app import OpsConsoleApp, make_app
from opsconsole.tui.widgets.source_panes import SourcePane
from tests.support.pilot import health, wait_for
from tests.support.servers import (
    TEST_LABEL,
    DockerDaemon,
    PostgresServer,
    PrometheusServer,
    RedisServer,
    Server,
    serve,
)


@dataclass
class Backends:
    """Servers of this test's own: stopping the session's would disturb the tests after it."""

    postgres: PostgresServer
    redis: RedisServer
    prometheus: PrometheusServer
    docker: DockerDaemon

    def by_pane(self) -> dict[str, Server]:
        return {
            "postgres": self.postgres,
            "redis": self.redis,
            "metrics": self.prometheus,
            "containers": self.docker,
        }


@pytest.fixture
def backends() -> Iterator[Backends]:
    with contextlib.ExitStack() as stack:
        servers = [
            stack.enter_context(contextlib.contextmanager(serve)(make))
            for make in (PostgresServer, RedisServer, PrometheusServer, DockerDaemon)
        ]
        yield Backends(*servers)  # type: ignore[arg-type]


def address_of(server: Server) -> str:
    """Where the console reaches a server, as its configuration names it."""
    if isinstance(server, PostgresServer):
        return server.dsn
    if isinstance(server, RedisServer | PrometheusServer):
        return server.url
    assert isinstance(server, DockerDaemon)
    return server.base_url


def configured(fleet: DemoFleet, servers: Backends) -> Config:
    return Config.model_validate(
        {
            "console": ConsoleSection(environment="outage-drill", refresh_seconds=0.3),
            "services": [
                ServiceSection(name=s.name, health_url=s.health_url)
                for s in fleet.services.values()
            ],
            "prometheus": PrometheusSection(url=servers.prometheus.url, timeout_seconds=2),
            "postgres": PostgresSection.model_validate({"dsn": servers.postgres.dsn}),
            "redis": RedisSection.model_validate({"url": servers.redis.url}),
            "docker": DockerSection(base_url=servers.docker.base_url, label=TEST_LABEL),
        }
    )


def pane(app: OpsConsoleApp, source: str) -> str:
    return app.screen.query_one(f"#{source}", SourcePane).plain


def reachable(app: OpsConsoleApp, source: str) -> bool:
    text = pane(app, source)
    return bool(text) and "unreachable" not in text and "connecting" not in text


def goes_down(app: OpsConsoleApp, source: str) -> Callable[[], bool]:
    return lambda: "unreachable" in pane(app, source)


def comes_back(app: OpsConsoleApp, source: str) -> Callable[[], bool]:
    return lambda: reachable(app, source)


async def test_each_backend_down_then_back(backends: Backends) -> None:
    with DemoFleet(traffic_rate=0) as fleet:
        app = make_app(configured(fleet, backends))
        async with app.run_test(size=(120, 40)) as pilot:
            panes = backends.by_pane()
            await wait_for(pilot, lambda: all(reachable(app, s) for s in panes), seconds=30)
            for source, server in panes.items():
                before = pane(app, source)
                server.stop()
                await wait_for(pilot, goes_down(app, source), seconds=30)
                down = pane(app, source)
                # What failed, since when, and what was last known, kept on screen.
                assert "since " in down, down
                assert f"at {address_of(server)}" in down, down  # which one failed
                assert "ago" in down, down
                assert "last good" in down, down
                assert before.splitlines()[0] in down, (before, down)
                # The rest of the console keeps working.
                others = [s for s in panes if s != source]
                assert all(reachable(app, other) for other in others)
                await pilot.press("s")  # keys still answer
                assert "sort: name" in str(app.screen.query_one("#services-pane").border_subtitle)
                await pilot.press("s", "s", "s", "s")
                assert health(app, "nginx") == "✔ UP"

                server.resume()
                await pilot.press("r")  # or wait out the backoff: the test need not
                await wait_for(pilot, comes_back(app, source), seconds=60)
                assert pilot.app.is_running
