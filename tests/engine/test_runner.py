"""The runbook engine, running real commands, with a scripted operator
(tests/support/operators.py)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
import redis

from opsconsole.config.model import Config
from opsconsole.engine.control import RunOptions
from opsconsole.engine.events import (
    Confirmed,
    Decided,
    Event,
    Note,
    Output,
    Refused,
    RollbackStarted,
    RunFinished,
    RunStarted,
    StepFinished,
    StepSkipped,
    StepStarted,
)
from opsconsole.engine.probes import ConfiguredProbes
from opsconsole.engine.render import ParamError, command_argv, resolve_params
from opsconsole.engine.runner import Runner
from opsconsole.runbooks.model import (
    CommandStep,
    Library,
    Runbook,
    load_runbooks,
    shipped_runbooks,
)
from tests.support.operators import ScriptedOperator
from tests.support.processes import processes_with
from tests.support.runbooks import book
from tests.support.runs import of_kind
from tests.support.servers import PostgresServer, RedisServer


def runner_for(
    runbook: Runbook,
    tmp_path: Path,
    operator: ScriptedOperator | None = None,
    params: dict[str, str] | None = None,
    **options: Any,
) -> tuple[Runner, list[Event]]:
    events: list[Event] = []
    runner = Runner(
        runbook,
        params or {},
        operator or ScriptedOperator(),
        events.append,
        RunOptions(environment="staging", artifacts=tmp_path / "artifacts", **options),
    )
    return runner, events


def text_of(path: str | None) -> str:
    assert path is not None
    return Path(path).read_text()


def output_of(events: list[Event], step: str) -> list[str]:
    return [
        line.text for event in of_kind(events, Output) if event.step == step for line in event.lines
    ]


async def test_branch_capture_condition_and_join(tmp_path: Path) -> None:
    runbook = book(
        steps=[
            {
                "id": "state",
                "kind": "command",
                "title": "State",
                "argv": ["sh", "-c", "echo 'State: exited (137)'"],
                "capture": [{"name": "state", "pattern": r"State: (\w+)"}],
            },
            {
                "id": "only-if-running",
                "kind": "command",
                "title": "Only if running",
                "argv": ["echo", "it runs"],
                "when": [{"value": "{state}", "equals": "running"}],
            },
            {
                "id": "what",
                "kind": "decision",
                "title": "What now",
                "question": "Restart or look?",
                "answers": [
                    {"label": "restart", "goto": "restart"},
                    {"label": "look", "goto": "look"},
                ],
            },
            {
                "id": "restart",
                "kind": "command",
                "title": "Restart",
                "argv": ["echo", "restarting {state}"],
                "next": "done",
            },
            {"id": "look", "kind": "command", "title": "Look", "argv": ["echo", "looking"]},
            {"id": "done", "kind": "note", "title": "Done", "prompt": "What happened?"},
        ]
    )
    operator = ScriptedOperator(answers=[0], notes=["restarted it"])
    runner, events = runner_for(runbook, tmp_path, operator)
    result = await runner.run()
    assert result.outcome == "completed"
    assert result.values["state"] == "exited"
    assert [e.step for e in of_kind(events, StepSkipped)] == ["only-if-running"]
    ran = [e.step for e in of_kind(events, StepStarted)]
    assert ran == ["state", "restart"]  # "look" is the other branch: never run
    assert output_of(events, "restart") == ["restarting exited"]
    decided = of_kind(events, Decided)[0]
    assert decided.answer == "restart"
    assert decided.operator == "alice"
    assert of_kind(events, Note)[0].text == "restarted it"
    assert isinstance(events[0], RunStarted)
    assert isinstance(events[-1], RunFinished)
    finished = of_kind(events, StepFinished)[0]
    assert finished.exit_code == 0
    assert finished.captured == {"state": "exited"}
    assert text_of(finished.artifact).count("State: exited") == 1


DESTRUCTIVE = {
    "params": [{"name": "container", "description": "Which", "default": "api-prod"}],
    "steps": [
        {
            "id": "restart",
            "kind": "command",
            "title": "Restart",
            "description": "Restarts the container.",
            "argv": ["touch", "{container}"],
            "destructive": True,
        }
    ],
}


async def test_destructive_needs_the_target_typed(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    operator = ScriptedOperator(confirm_with="api")  # not the whole name
    runner, events = runner_for(book(**DESTRUCTIVE), tmp_path, operator)
    assert (await runner.run()).outcome == "aborted"
    assert not (tmp_path / "api-prod").exists()
    request = operator.asked[0]
    assert request.target == "api-prod"
    assert request.command == "touch api-prod"
    assert request.environment == "staging"
    assert of_kind(events, Refused)[0].reason == "not confirmed"

    operator = ScriptedOperator(confirm_with="api-prod")
    runner, events = runner_for(book(**DESTRUCTIVE), tmp_path, operator)
    assert (await runner.run()).outcome == "completed"
    assert (tmp_path / "api-prod").exists()
    assert of_kind(events, Confirmed)[0].target == "api-prod"


async def test_read_only_refuses_destructive_steps_without_asking(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    operator = ScriptedOperator(confirm_with="api-prod")
    runner, _ = runner_for(book(**DESTRUCTIVE), tmp_path, operator, read_only=True)
    result = await runner.run()
    assert result.outcome == "failed"
    assert "read-only" in result.reason
    assert operator.asked == []
    assert not (tmp_path / "api-prod").exists()


async def test_retry_then_success_and_failure_paths(tmp_path: Path) -> None:
    counter = tmp_path / "attempts"
    flaky = f"n=$(cat {counter} 2>/dev/null || echo 0); echo $((n+1)) > {counter}; [ $n -ge 2 ]"
    runbook = book(
        steps=[
            {
                "id": "flaky",
                "kind": "command",
                "title": "Flaky",
                "argv": ["sh", "-c", flaky],
                "retry": {"count": 3, "delay_seconds": 0},
            },
            {
                "id": "slow",
                "kind": "command",
                "title": "Slow",
                "argv": ["sleep", "30"],
                "timeout_seconds": 0.5,
                "on_failure": "continue",
            },
            {
                "id": "wrong-answer",
                "kind": "command",
                "title": "Expects JSON",
                "argv": ["echo", '{"status": "DOWN"}'],
                "expect": {"json_path": "status", "equals": "UP"},
                "on_failure": {"goto": "fix"},
            },
            {"id": "skipped", "kind": "command", "title": "Skipped", "argv": ["false"]},
            {"id": "fix", "kind": "command", "title": "Fix", "argv": ["false"]},
        ]
    )
    runner, events = runner_for(runbook, tmp_path)
    result = await runner.run()
    finished = of_kind(events, StepFinished)
    flaky_attempts = [e.attempt for e in finished if e.step == "flaky"]
    assert flaky_attempts == [1, 2, 3]
    assert [e.error for e in finished if e.step == "flaky"][-1] is None
    slow = next(e for e in finished if e.step == "slow")
    assert slow.error == "timed out after 0.5 s"
    wrong = next(e for e in finished if e.step == "wrong-answer")
    assert wrong.error == "status is 'DOWN': expected 'UP'"
    assert "skipped" not in [e.step for e in of_kind(events, StepStarted)]
    assert result.outcome == "failed"
    assert result.reason == "step 'fix' failed: exit code 1, expected 0"


async def test_abort_mid_command_kills_it_and_rolls_back(tmp_path: Path) -> None:
    marker = f"opsconsole-abort-{os.getpid()}"
    runbook = book(
        steps=[
            {
                "id": "long",
                "kind": "command",
                "title": "Long",
                "argv": ["sh", "-c", f"sleep 300 & sleep 301; echo {marker}"],
            },
            {"id": "never", "kind": "command", "title": "Never", "argv": ["true"]},
        ],
        rollback=[
            {"id": "undo", "kind": "command", "title": "Undo", "argv": ["echo", "undone"]},
        ],
    )
    runner, events = runner_for(runbook, tmp_path)
    run = asyncio.create_task(runner.run())
    for _ in range(100):  # until the command's processes are up
        await asyncio.sleep(0.05)
        if len(processes_with(marker)) >= 2:
            break
    assert processes_with(marker)
    runner.abort()
    result = await asyncio.wait_for(run, 10)
    assert result.outcome == "aborted"
    assert processes_with(marker) == []  # the whole process group is gone
    assert [e.step for e in of_kind(events, StepStarted)] == ["long", "undo"]
    assert output_of(events, "undo") == ["undone"]
    assert of_kind(events, RollbackStarted)


@pytest.mark.parametrize(
    "attack",
    ["x; touch {tmp}/pwned", "$(touch {tmp}/pwned)", "`touch {tmp}/pwned`",
     "a\ntouch {tmp}/pwned", "&& touch {tmp}/pwned", "' ; touch {tmp}/pwned; '"],
)  # fmt: skip
async def test_parameters_never_become_shell(tmp_path: Path, attack: str) -> None:
    value = attack.format(tmp=tmp_path)
    runbook = book(
        params=[{"name": "name", "description": "Anything"}],
        steps=[
            {"id": "plain", "kind": "command", "title": "Plain", "argv": ["echo", "{name}"]},
            {
                "id": "piped",
                "kind": "command",
                "title": "Piped",
                "shell": True,
                "argv": ["echo {name} | cat"],
            },
        ],
    )
    runner, events = runner_for(runbook, tmp_path, params={"name": value})
    assert (await runner.run()).outcome == "completed"
    assert not (tmp_path / "pwned").exists()
    assert "\n".join(output_of(events, "plain")) == value
    assert "\n".join(output_of(events, "piped")) == value


async def test_dry_run_runs_nothing_and_secrets_never_show(tmp_path: Path) -> None:
    runbook = book(
        params=[{"name": "password", "description": "Secret", "secret": True}],
        steps=[
            {
                "id": "write",
                "kind": "command",
                "title": "Write",
                "argv": ["sh", "-c", f"echo {{password}} > {tmp_path}/written; echo {{password}}"],
            }
        ],
    )
    secret = {"password": "hunter2-s3cret"}
    runner, events = runner_for(runbook, tmp_path, params=secret, dry_run=True)
    assert (await runner.run()).outcome == "completed"
    assert not (tmp_path / "written").exists()
    assert "hunter2" not in repr(events)

    runner, events = runner_for(runbook, tmp_path, params=secret)
    assert (await runner.run()).outcome == "completed"
    assert (tmp_path / "written").read_text().strip() == "hunter2-s3cret"  # it did run
    assert "hunter2" not in repr(events)
    artifact = of_kind(events, StepFinished)[0].artifact
    assert "hunter2" not in text_of(artifact)
    assert of_kind(events, RunStarted)[0].params == {"password": "***"}


def test_parameters_are_checked_before_anything_runs() -> None:
    params = book(
        params=[
            {"name": "port", "description": "Port", "type": "integer"},
            {"name": "mode", "description": "Mode", "choices": ["fast", "safe"], "default": "safe"},
        ],
        steps=[{"id": "s", "kind": "command", "title": "S", "argv": ["echo", "{port}{mode}"]}],
    ).params
    assert resolve_params(params, {"port": "5432"}) == {"port": "5432", "mode": "safe"}
    with pytest.raises(ParamError) as raised:
        resolve_params(params, {"port": "x", "mode": "reckless", "extra": "1"})
    message = str(raised.value)
    assert "unknown parameter 'extra'" in message
    assert "parameter 'port' must be a whole number" in message
    assert "parameter 'mode' must be one of fast, safe" in message


# -- the shipped library --------------------------------------------------------------------


@pytest.fixture(scope="module")
def library() -> Library:
    return load_runbooks(shipped_runbooks())


def test_every_command_of_the_shipped_library_renders_with_its_defaults(library: Library) -> None:
    for runbook in library.runbooks:
        values = resolve_params(runbook.params, {})
        steps = [*runbook.steps, *runbook.rollback]
        # A captured value stands in as the dry run shows it: `<top_prefix>`.
        for step in steps:
            for capture in getattr(step, "capture", []):
                values.setdefault(capture.name, f"<{capture.name}>")
        for step in steps:
            if isinstance(step, CommandStep):
                argv = command_argv(step, values)
                assert argv
                assert all("{" + p.name + "}" not in a for a in argv for p in runbook.params)


async def test_every_step_of_the_shipped_library_runs_under_dry_run(
    library: Library, tmp_path: Path
) -> None:
    for runbook in library.runbooks:
        # Each runbook's parameters default to the example stack: none is needed here.
        operator = ScriptedOperator()
        runner, events = runner_for(runbook, tmp_path, operator, dry_run=True)
        result = await runner.run()
        assert result.outcome == "completed", (runbook.id, result.reason)
        shown = {e.step for e in of_kind(events, StepStarted)}
        commands = {s.id for s in [*runbook.steps, *runbook.rollback] if s.kind == "command"}
        assert commands <= shown, (runbook.id, commands - shown)
        assert operator.asked == []  # nothing is confirmed, since nothing runs
        assert not of_kind(events, Output)


async def test_check_steps_probe_the_real_backends(
    postgres: PostgresServer, redis_server: RedisServer, tmp_path: Path
) -> None:
    config = Config.model_validate(
        {
            "services": [{"name": "pg", "health_url": "http://127.0.0.1:9/health"}],
            "postgres": {"dsn": postgres.dsn},
            "redis": {"url": redis_server.url},
        }
    )
    client = redis.Redis.from_url(redis_server.url)
    client.delete("audit_events_queue")
    client.rpush("audit_events_queue", *range(12))
    client.close()
    runbook = book(
        steps=[
            {
                "id": "connections",
                "kind": "check",
                "title": "Connections",
                "probe": "sql",
                "target": "SELECT count(*) FROM pg_stat_activity",
                "expect": {"above": 0},
                "capture": [{"name": "sessions", "pattern": r"(\d+)"}],
            },
            {
                "id": "backlog",
                "kind": "check",
                "title": "Backlog",
                "probe": "redis",
                "target": "LLEN audit_events_queue",
                "expect": {"below": 10},
                "on_failure": "continue",
            },
            {
                "id": "prometheus",
                "kind": "check",
                "title": "No Prometheus configured",
                "probe": "promql",
                "target": "up",
                "on_failure": "continue",
            },
        ]
    )
    events: list[Event] = []
    runner = Runner(
        runbook,
        {},
        ScriptedOperator(),
        events.append,
        RunOptions(environment="test", artifacts=tmp_path),
        probes=ConfiguredProbes(config),
    )
    result = await runner.run()
    assert result.outcome == "completed"
    assert int(result.values["sessions"]) >= 1
    finished = {e.step: e for e in of_kind(events, StepFinished)}
    assert finished["connections"].error is None
    assert finished["backlog"].value == "12"
    assert finished["backlog"].error == "output is '12': expected below 10"
    assert "no [prometheus] url" in (finished["prometheus"].error or "")


TWO_STEPS_AND_A_ROLLBACK = {
    "steps": [
        {"id": "first", "kind": "command", "title": "First",
         "argv": ["sh", "-c", "sleep 0.3; echo first done"]},
        {"id": "second", "kind": "command", "title": "Second", "argv": ["touch", "second"]},
    ],
    "rollback": [{"id": "undo", "kind": "command", "title": "Undo", "argv": ["touch", "undone"]}],
}  # fmt: skip


async def test_stop_lets_the_running_command_finish_starts_no_other_and_rolls_back(
    tmp_path: Path,
) -> None:
    """What a run does when its record cannot be written (an incident log gone)."""
    os.chdir(tmp_path)
    runner, events = runner_for(book(**TWO_STEPS_AND_A_ROLLBACK), tmp_path)
    original = runner.emit_to

    def emit(event: Event) -> None:
        original(event)
        if isinstance(event, StepStarted) and event.step == "first":
            asyncio.get_running_loop().call_later(0.1, runner.stop, "the log is gone")

    runner.emit_to = emit
    result = await runner.run()
    assert (result.outcome, result.reason) == ("aborted", "the log is gone")
    assert output_of(events, "first") == ["first done"]  # not killed halfway
    assert not (tmp_path / "second").exists()
    assert (tmp_path / "undone").exists()  # the rollback ran whole


async def test_a_stop_while_a_start_is_recorded_runs_nothing(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    runner, events = runner_for(book(**TWO_STEPS_AND_A_ROLLBACK), tmp_path)
    original = runner.emit_to

    def emit(event: Event) -> None:
        original(event)
        if isinstance(event, StepStarted) and event.step == "second":
            runner.stop("the log is gone")  # as a recorder that failed to write it does

    runner.emit_to = emit
    result = await runner.run()
    assert result.outcome == "aborted"
    assert not (tmp_path / "second").exists()
    finished = [e for e in of_kind(events, StepFinished) if e.step == "second"]
    assert finished[0].error == "not started"
    assert (tmp_path / "undone").exists()
