"""A figure the console cannot compute is a dash with its reason on the screen, never a
0: the dashboard's row says it, and the service's screen says it whole at 80x24."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from opsconsole.config.model import Config
from opsconsole.tui.app import make_app
from opsconsole.tui.screens.service import ServiceScreen
from opsconsole.tui.widgets.services_table import ServicesTable
from tests.support.known_app import KnownTrafficApp
from tests.support.pilot import cell, screen_lines, wait_for

FIX = 'set status_label = "code"'


@pytest.fixture
def go_style() -> Iterator[KnownTrafficApp]:
    """Instrumented as Go's client does it: the status in a label named `code`."""
    app = KnownTrafficApp("checkout", status_label="code").start()
    yield app
    app.stop()


async def test_a_go_style_counter_shows_no_error_rate_and_why_not_zero(
    go_style: KnownTrafficApp,
) -> None:
    config = Config.model_validate(
        {"console": {"refresh_seconds": 0.5},
         "services": [{"name": "checkout", "health_url": go_style.metrics_url,
                       "metrics_url": go_style.metrics_url}]}
    )  # fmt: skip
    app = make_app(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: cell(app, "checkout", "p95") not in ("", "—"), seconds=15)
        assert cell(app, "checkout", "err") == "—"  # it read 0% before
        # At 80 columns DETAIL is cut; the service's screen has it whole.
        assert "metrics: http_requests_total" in cell(app, "checkout", "detail")
        app.screen.query_one(ServicesTable).move_cursor(row=0)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ServiceScreen))
        await wait_for(pilot, lambda: FIX in " ".join(screen_lines(app)))
        # The right half of the top, as it reads: the reason, whole, with its fix.
        right = " ".join(line[39:].strip("│ ") for line in screen_lines(app)[:14])
        assert (
            "http_requests_total has no label 'status'; its labels are code, service: "
            'set status_label = "code"'
        ) in right
