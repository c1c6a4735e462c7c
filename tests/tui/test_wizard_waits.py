"""A verifying check that waits for the truth shows each try in the wizard: what it saw
and the time it has left, at 80x24, until it holds."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsconsole.config.model import Config
from opsconsole.incidents.files import FileStore
from opsconsole.runbooks.model import Library
from opsconsole.tui.app import make_app
from opsconsole.tui.widgets.run_panes import CurrentStep
from tests.support.console import finished, outcome, run_book, shown
from tests.support.pilot import wait_for
from tests.support.runbooks import book
from tests.support.servers import QuietHandler, http_server


@pytest.fixture
def recovering() -> Iterator[str]:
    """503 for its first two answers, 200 after: a service draining its errors."""
    asked: list[str] = []

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(503 if len(asked) <= 2 else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    with http_server(Handler) as base:
        yield base + "/health"


async def test_each_try_is_shown_with_its_value_and_the_time_left(
    recovering: str, tmp_path: Path
) -> None:
    waits = book(
        params=[{"name": "url", "description": "Its health URL", "default": recovering}],
        steps=[{"id": "verify", "kind": "check", "title": "Verify", "probe": "http",
                "target": "{url}", "expect": {"equals": 200},
                "within_seconds": 30, "every_seconds": 0.5}],
    )  # fmt: skip
    # The dashboard must not ask the same server: its own checks would take the 503s.
    config = Config.model_validate(
        {"services": [{"name": "api", "health_url": "http://127.0.0.1:9/"}]}
    )
    app = make_app(config, library=Library(runbooks=[waits]), incidents=FileStore(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = await run_book(pilot, app, waits)
        await wait_for(pilot, finished(wizard), seconds=20)
        assert outcome(wizard) == "completed"
        lines = " ".join(shown(wizard))
        assert "(try 1, until it holds: 30 s left)" in lines
        assert "(try 3, until it holds: " in lines
        assert "output is '503': expected '200'" in lines  # what the failed tries saw
        assert "value 200" in lines


async def test_the_time_left_counts_down_between_tries_with_the_last_value(
    tmp_path: Path,
) -> None:
    """Tries 20 s apart leave the operator 20 s with nothing new on screen: the step
    counts its time down by the second, with what the last try saw."""
    healthy = threading.Event()

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            self.send_response(200 if healthy.is_set() else 503)
            self.send_header("Content-Length", "0")
            self.end_headers()

    with http_server(Handler) as base:
        waits = book(
            params=[{"name": "url", "description": "Its health URL", "default": base}],
            steps=[{"id": "verify", "kind": "check", "title": "Verify", "probe": "http",
                    "target": "{url}", "expect": {"equals": 200},
                    "within_seconds": 60, "every_seconds": 20}],
        )  # fmt: skip
        config = Config.model_validate(
            {"services": [{"name": "api", "health_url": "http://127.0.0.1:9/"}]}
        )
        app = make_app(config, library=Library(runbooks=[waits]), incidents=FileStore(tmp_path))
        async with app.run_test(size=(80, 24)) as pilot:
            wizard = await run_book(pilot, app, waits)

            def step_text() -> str:
                return " ".join(str(wizard.query_one(CurrentStep).render()).split())

            await wait_for(pilot, lambda: "last: output is '503'" in step_text())
            first = step_text()
            assert re.search(r"⏱ until it holds: \d+ s left, try 1; last: output is '503'", first)
            await pilot.pause(2.2)  # no new try in this time: only the clock moves
            second = step_text()
            left = [int(re.findall(r"(\d+) s left", text)[0]) for text in (first, second)]
            assert left[0] - left[1] in (2, 3), (first, second)
            assert "try 1;" in second
            healthy.set()
            await wait_for(pilot, finished(wizard), seconds=30)
            assert outcome(wizard) == "completed"
            assert "⏱" not in step_text()
