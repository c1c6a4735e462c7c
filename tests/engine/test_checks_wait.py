"""A verifying check right after a fix waits for the truth: asked again until its
expectation holds or its time is up, each try shown with what it saw and the time left,
and an abort ends the wait at once. The probe asks a real HTTP server that answers 503
until the fix "takes", as a service still draining its errors does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsconsole.config.model import Config
from opsconsole.engine.control import RunOptions
from opsconsole.engine.events import Event, StepFinished, StepStarted
from opsconsole.engine.probes import ConfiguredProbes
from opsconsole.engine.runner import Runner
from tests.support.operators import ScriptedOperator
from tests.support.runbooks import book
from tests.support.runs import of_kind
from tests.support.servers import QuietHandler, http_server

CONFIG = Config.model_validate({"services": [{"name": "a", "health_url": "http://x/h"}]})


@pytest.fixture
def recovering() -> Iterator[tuple[str, list[float]]]:
    """503 for its first three answers, 200 after; when each question came."""
    asked: list[float] = []

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            asked.append(time.monotonic())
            self.send_response(503 if len(asked) <= 3 else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    with http_server(Handler) as base:
        yield base + "/health", asked


def waiting(url: str, artifacts: Path, **timing: float) -> Runner:
    runbook = book(steps=[{"id": "verify", "kind": "check", "title": "Verify", "probe": "http",
                           "target": url, "expect": {"equals": 200}, "verifies": True,
                           **timing}])  # fmt: skip
    return Runner(
        runbook, {}, ScriptedOperator(), EVENTS.append,
        RunOptions(environment="test", artifacts=artifacts),
        probes=ConfiguredProbes(CONFIG),
    )  # fmt: skip


EVENTS: list[Event] = []


@pytest.fixture(autouse=True)
def fresh_events() -> None:
    EVENTS.clear()


async def test_a_check_that_waits_passes_once_the_truth_shows(
    recovering: tuple[str, list[float]], tmp_path: Path
) -> None:
    url, asked = recovering
    runner = waiting(url, tmp_path, within_seconds=10, every_seconds=0.3, pause_seconds=0.5)
    result = await runner.run()
    assert result.outcome == "completed"
    assert len(asked) == 4  # three 503s, then the 200
    tries = of_kind(EVENTS, StepFinished)
    assert [t.value for t in tries] == ["503", "503", "503", "200"]
    assert [t.attempt for t in tries] == [1, 2, 3, 4]
    said = [e.describe() for e in of_kind(EVENTS, StepStarted)]
    assert said[0].endswith("(try 1, first in 0.5 s, until it holds: 10 s left)")
    assert "(try 4, until it holds:" in said[3]
    assert asked[1] - asked[0] >= 0.25  # every_seconds between tries


async def test_without_within_seconds_a_check_asks_once(
    recovering: tuple[str, list[float]], tmp_path: Path
) -> None:
    url, asked = recovering
    result = await waiting(url, tmp_path).run()
    assert result.outcome == "failed"
    assert len(asked) == 1


async def test_a_check_that_never_holds_fails_when_its_time_is_up_with_its_last_value(
    recovering: tuple[str, list[float]], tmp_path: Path
) -> None:
    url, asked = recovering
    began = time.monotonic()
    result = await waiting(url, tmp_path, within_seconds=0.7, every_seconds=0.3).run()
    assert result.outcome == "failed"
    assert time.monotonic() - began < 5
    assert of_kind(EVENTS, StepFinished)[-1].error == "output is '503': expected '200'"
    assert len(asked) == 3  # 0, 0.3, 0.6 s: the next would come after the time is up


async def test_an_abort_ends_the_wait_at_once(
    recovering: tuple[str, list[float]], tmp_path: Path
) -> None:
    url, _ = recovering
    runner = waiting(url, tmp_path, within_seconds=600, pause_seconds=300)
    run = asyncio.create_task(runner.run())
    await asyncio.sleep(0.5)
    began = time.monotonic()
    runner.abort()
    result = await asyncio.wait_for(run, 5)
    assert result.outcome == "aborted"
    assert time.monotonic() - began < 2


@pytest.fixture
def windows() -> Iterator[tuple[str, list[str]]]:
    """Answers 200, and keeps the path each question asked for."""
    paths: list[str] = []

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            paths.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    with http_server(Handler) as base:
        yield base, paths


async def test_since_fix_is_the_time_since_the_destructive_step_as_a_range(
    windows: tuple[str, list[str]], tmp_path: Path
) -> None:
    """`rate(...[{since_fix}])` holds only what came after the fix. The clock is set back
    rather than waited on: 95 s of a real run would be 95 s of the suite."""
    base, paths = windows
    check = {"id": "after", "kind": "check", "title": "After", "probe": "http",
             "target": base + "/{since_fix}", "expect": {"equals": 200}}  # fmt: skip
    fix = {"id": "fix", "kind": "command", "title": "Fix", "argv": ["true"],
           "destructive": True, "description": "Changes it."}  # fmt: skip
    runner = Runner(
        book(steps=[check]), {}, ScriptedOperator(), EVENTS.append,
        RunOptions(environment="test", artifacts=tmp_path), probes=ConfiguredProbes(CONFIG),
    )  # fmt: skip
    runner.control.fixed_at = time.monotonic() - 95
    assert (await runner.run()).outcome == "completed"
    fixing = Runner(
        book(steps=[fix, check]), {}, ScriptedOperator(confirm_with="fix"), EVENTS.append,
        RunOptions(environment="test", artifacts=tmp_path), probes=ConfiguredProbes(CONFIG),
    )  # fmt: skip
    fixing.control.started_at = time.monotonic() - 500  # the run began long before the fix
    assert (await fixing.run()).outcome == "completed", EVENTS
    # 95 s after a fix; then right after one: the shortest window, not the 500 s run.
    assert paths == ["/95s", "/30s"]
