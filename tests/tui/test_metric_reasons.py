"""A figure the console cannot compute is a dash with its reason on the screen, never a
0: the dashboard's row says it, and the service's screen says it whole at 80x24."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsconsole.config.model import Config, load_config
from opsconsole.config.source import ConfigSource
from opsconsole.tui.app import make_app
from opsconsole.tui.screens.service import ServiceScreen
from opsconsole.tui.widgets.services_table import ServicesTable
from tests.support.known_app import KnownTrafficApp
from tests.support.pilot import cell, screen_lines, toasts, wait_for
from tests.support.servers import PrometheusServer

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


def _config_file(path: Path, prometheus: PrometheusServer, app: KnownTrafficApp,
                 service_extra: str = "") -> Path:  # fmt: skip
    path.write_text(
        f'[console]\nrefresh_seconds = 0.5\n\n[prometheus]\nurl = "{prometheus.url}"\n'
        f'window = "10s"\n\n[[services]]\nname = "checkout"\n'
        f'health_url = "{app.metrics_url}"\n{service_extra}'
    )
    return path


async def test_the_fix_the_reason_names_is_taken_by_r_once_the_file_says_it(
    prometheus: PrometheusServer, go_style: KnownTrafficApp, tmp_path: Path
) -> None:
    """The engineer reads `set status_label = "code"`, edits the file, presses r: the
    console takes the new file and asks Prometheus again, without a restart. A save that
    is not valid changes nothing, and says so."""
    prometheus.scrape(f"127.0.0.1:{go_style.port}")
    path = _config_file(tmp_path / "opsconsole.toml", prometheus, go_style)
    loaded = load_config(path)
    app = make_app(loaded.config, source=ConfigSource.of(loaded))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await wait_for(pilot, lambda: cell(app, "checkout", "p95") not in ("", "—"), seconds=40)
        assert cell(app, "checkout", "err") == "—"
        assert "metrics: http_requests_total" in cell(app, "checkout", "detail")

        path.write_text(path.read_text() + 'status_label = "cod\n')  # saved half-typed
        await pilot.press("r")
        await wait_for(pilot, lambda: any("problem" in t for t in toasts(app)))
        said = " ".join(toasts(app))
        assert "opsconsole.toml has 1 problem: the console goes on with the configuration" in (said)
        assert "opsconsole.toml:11:20: TOML syntax error" in said  # where, as `check` says it
        await pilot.pause(1)
        assert cell(app, "checkout", "err") == "—"  # still the old configuration's reading
        assert "metrics: http_requests_total" in cell(app, "checkout", "detail")

        _config_file(path, prometheus, go_style, 'status_label = "code"\n')
        await pilot.press("r")
        await wait_for(pilot, lambda: any("taken again" in t for t in toasts(app)))
        assert "opsconsole.toml taken again: 1 service; Prometheus asked again what it holds." in (
            " ".join(toasts(app))
        )
        # The error rate Prometheus holds for it: 2 % (the app's truth), not 0, not a dash.
        # (Over the 1 % threshold: marked as a breach.) A window not yet full of scrapes
        # since the app started reads a little off the truth, never 0.
        seen: list[str] = []

        def err_shown() -> bool:
            seen.append(cell(app, "checkout", "err"))
            return seen[-1] != "—"

        await wait_for(pilot, err_shown, seconds=40)
        assert re.fullmatch(r"▲ (1\.[5-9]|2|2\.\d)%", seen[-1]), seen
        assert "metrics:" not in cell(app, "checkout", "detail")

        await pilot.press("r")  # nothing changed: a poll, and nothing said
        await pilot.pause(0.5)
        assert sum("taken again" in t for t in toasts(app)) == 1
