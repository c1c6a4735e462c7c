"""The first frame, before anything is loaded: the dashboard's frame and what is loading;
then the dashboard in its place once the parts are in. Driven with Pilot; the loading is
held back by the test (a real load is over before anyone could look)."""

from __future__ import annotations

import threading
from pathlib import Path

from opsconsole.config.model import Config
from opsconsole.incidents.files import FileStore
from opsconsole.incidents.session import IncidentSession
from opsconsole.monitoring.monitor import Monitor
from opsconsole.tui.app import NotStarted, OpsConsoleApp, Parts
from opsconsole.tui.boot import COLUMNS, PANE_TITLES, StartingScreen
from opsconsole.tui.screens.dashboard import PANES, DashboardScreen
from opsconsole.tui.screens.incident import OpenIncidentDialog
from opsconsole.tui.widgets.services_table import LABELS
from tests.support.pilot import screen_lines, wait_for

CONFIG = Config.model_validate(
    {"console": {"environment": "production"},
     "services": [{"name": "payments", "health_url": "http://127.0.0.1:9/health"}]}
)  # fmt: skip


async def test_the_first_frame_is_the_dashboards_frame_until_the_parts_are_in(
    tmp_path: Path,
) -> None:
    release = threading.Event()

    def load() -> Parts:
        release.wait(10)
        session = IncidentSession(FileStore(tmp_path / "incidents"), CONFIG)
        return Parts(CONFIG, Monitor(CONFIG), None, session)

    app = OpsConsoleApp(load, loading="opsconsole.toml", environment="production")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        assert isinstance(app.screen, StartingScreen)
        shown = "\n".join(screen_lines(app))
        assert "production @ " in shown
        assert "SERVICE    HEALTH  FOR  P95    ERR  DETAIL" in shown
        assert "… loading opsconsole.toml" in shown
        assert all(title in shown for title in PANE_TITLES)
        await pilot.press("i")  # nothing to open an incident in yet: nothing happens
        assert isinstance(app.screen, StartingScreen)

        release.set()
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        await wait_for(pilot, lambda: "payments" in "\n".join(screen_lines(app)))
        await pilot.press("i")  # now there is an incident to open
        await wait_for(pilot, lambda: isinstance(app.screen, OpenIncidentDialog))


async def test_loading_that_refuses_ends_the_app_with_why() -> None:
    def load() -> Parts:
        raise NotStarted("opsconsole.toml:3:1: unknown key 'console.x'")

    app = OpsConsoleApp(load, loading="opsconsole.toml")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == 2
    assert str(app.refused) == "opsconsole.toml:3:1: unknown key 'console.x'"


def test_the_first_frame_names_the_columns_and_panes_as_the_dashboard_does() -> None:
    assert COLUMNS.split() == [
        LABELS[c] for c in ("service", "health", "for", "p95", "err", "detail")
    ]
    assert tuple(PANES.values()) == PANE_TITLES
