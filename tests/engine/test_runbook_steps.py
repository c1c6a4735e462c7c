"""A step that runs another runbook of the library (Rundeck's job reference): the outage
runbook calls the others instead of repeating them. Real commands, a scripted operator."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

from opsconsole.engine.control import RunOptions
from opsconsole.engine.events import (
    Event,
    Output,
    RollbackStarted,
    RunFinished,
    StepFinished,
    StepSkipped,
    StepStarted,
)
from opsconsole.engine.progress import RunProgress
from opsconsole.engine.runner import Runner
from opsconsole.runbooks.model import Library, Runbook
from tests.config.test_runbooks import problems_of
from tests.support.commands import OPSCONSOLE
from tests.support.operators import ScriptedOperator
from tests.support.runs import of_kind


def library(tmp_path: Path, child_command: list[str]) -> Library:
    child = Runbook.model_validate({
        "id": "restart-service", "title": "Restart a service", "summary": "Restart it.",
        "params": [{"name": "service", "description": "The service", "pattern": "^[a-z-]+$"}],
        "steps": [
            {"id": "verify", "kind": "command", "title": "Restart",
             "argv": [*child_command, "{service}"]},
        ],
        "rollback": [{"id": "undo", "kind": "command", "title": "Undo",
                      "argv": ["touch", str(tmp_path / "child-rolled-back")]}],
    })  # fmt: skip
    parent = Runbook.model_validate({
        "id": "outage", "title": "Outage", "summary": "Everything, in order.",
        "params": [{"name": "app", "description": "The app", "default": "backend"}],
        "steps": [
            {"id": "bring-back", "kind": "runbook", "title": "Bring the app back",
             "runbook": "restart-service", "params": {"service": "{app}"}},
            {"id": "verify", "kind": "command", "title": "Verify", "argv": ["echo", "all back"]},
        ],
        "rollback": [{"id": "undo", "kind": "command", "title": "Undo",
                      "argv": ["touch", str(tmp_path / "parent-rolled-back")]}],
    })  # fmt: skip
    return Library(runbooks=[parent, child])


def runner(lib: Library, tmp_path: Path, events: list[Event]) -> Runner:
    return Runner(
        lib.runbooks[0], {}, ScriptedOperator(), events.append,
        RunOptions(environment="staging", artifacts=tmp_path / "artifacts"), library=lib,
    )  # fmt: skip


async def test_a_runbook_step_runs_the_other_runbook_with_this_runs_values(
    tmp_path: Path,
) -> None:
    events: list[Event] = []
    lib = library(tmp_path, ["echo", "restarting"])
    result = await runner(lib, tmp_path, events).run()
    assert result.outcome == "completed", result
    lines = [line.text for e in of_kind(events, Output) for line in e.lines]
    assert lines == ["restarting backend", "all back"]
    # Each event says which runbook it is of; the called run starts and ends as its own.
    assert [(e.runbook, e.outcome) for e in of_kind(events, RunFinished)] == [
        ("restart-service", "completed"), ("outage", "completed"),
    ]  # fmt: skip
    # Its steps move nothing in the caller's progress: both have a step 'verify'.
    progress = RunProgress(lib.runbooks[0])
    change = progress.apply(events)
    assert progress.states == {"bring-back": "ok", "verify": "ok", "undo": "pending"}
    assert "  ↳ restart-service/verify: exit 0 in" in " ".join(change.lines)


async def test_a_dry_run_lists_the_called_runbooks_steps_with_this_runs_values(
    tmp_path: Path,
) -> None:
    """Its own dry run, under its own id: the commands it would run, rendered with the
    values it is given, none executed; a value only the run captures, which the called
    runbook would refuse, says so instead."""
    events: list[Event] = []
    lib = library(tmp_path, ["touch", str(tmp_path / "ran")])
    result = await Runner(
        lib.runbooks[0], {}, ScriptedOperator(), events.append,
        RunOptions(environment="staging", artifacts=tmp_path / "a", dry_run=True), library=lib,
    ).run()  # fmt: skip
    assert result.outcome == "completed"
    assert not (tmp_path / "ran").exists()
    started = [(e.runbook, e.step) for e in of_kind(events, StepStarted)]
    assert started == [
        ("outage", "bring-back"), ("restart-service", "verify"), ("restart-service", "undo"),
        ("outage", "verify"), ("outage", "undo"),
    ]  # fmt: skip
    called = next(e for e in of_kind(events, StepStarted) if e.runbook == "restart-service")
    assert called.command == f"touch {tmp_path / 'ran'} backend"
    assert called.dry_run

    captured = Runbook.model_validate({
        "id": "outage", "title": "Outage", "summary": "Everything, in order.",
        "steps": [
            {"id": "find", "kind": "command", "title": "Find the app", "argv": ["echo", "web"],
             "capture": [{"name": "app_name", "pattern": "^(\\S+)$"}]},
            {"id": "bring-back", "kind": "runbook", "title": "Bring the app back",
             "runbook": "restart-service", "params": {"service": "{app_name}"}},
        ],
    })  # fmt: skip
    events.clear()
    await Runner(
        captured, {}, ScriptedOperator(), events.append,
        RunOptions(environment="staging", artifacts=tmp_path / "a", dry_run=True),
        library=Library(runbooks=[captured, lib.runbooks[1]]),
    ).run()  # fmt: skip
    skipped = [e for e in of_kind(events, StepSkipped) if e.step == "bring-back"]
    assert len(skipped) == 1
    assert skipped[0].reason == (
        "dry run: runs runbook 'restart-service' with values known only when this run "
        "captures them (parameter 'service' must match ^[a-z-]+$)"
    )


async def test_a_called_runbook_that_fails_fails_the_step_and_both_roll_back(
    tmp_path: Path,
) -> None:
    events: list[Event] = []
    result = await runner(library(tmp_path, ["false"]), tmp_path, events).run()
    assert result.outcome == "failed"
    assert result.reason == (
        "step 'bring-back' failed: runbook 'restart-service' failed: step 'verify' failed: "
        "exit code 1, expected 0"
    )
    assert (tmp_path / "child-rolled-back").exists()
    assert (tmp_path / "parent-rolled-back").exists()
    assert [e.runbook for e in of_kind(events, RollbackStarted)] == ["restart-service", "outage"]


async def test_an_abort_ends_the_called_runs_command_then_rolls_both_back(
    tmp_path: Path,
) -> None:
    events: list[Event] = []
    run = runner(library(tmp_path, ["sh", "-c", "sleep 30", "sh"]), tmp_path, events)
    task = asyncio.create_task(run.run())
    for _ in range(100):
        if any(e.runbook == "restart-service" and e.step == "verify" for e in events):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    run.abort()
    result = await asyncio.wait_for(task, 10)
    assert result.outcome == "aborted"
    assert (tmp_path / "child-rolled-back").exists()
    assert (tmp_path / "parent-rolled-back").exists()
    verify = [e for e in of_kind(events, StepFinished) if e.runbook == "restart-service"]
    assert verify
    assert verify[0].failed


def test_check_names_an_unknown_runbook_a_parameter_it_lacks_and_a_cycle(
    tmp_path: Path,
) -> None:
    text = """\
[[runbooks]]
id = "a"
title = "A"
summary = "A."

[[runbooks.steps]]
id = "call-b"
kind = "runbook"
title = "B"
runbook = "b"
params = { colour = "blue" }

[[runbooks.steps]]
id = "call-nobody"
kind = "runbook"
title = "Nobody"
runbook = "nobody"

[[runbooks]]
id = "b"
title = "B"
summary = "B."

[[runbooks.steps]]
id = "call-a"
kind = "runbook"
title = "A"
runbook = "a"
"""
    assert problems_of(tmp_path, text) == [
        "2:6: runbook 'a' calls itself",
        "11:21: runbook 'b' has no parameter 'colour'",
        "17:11: no runbook 'nobody' in the library",
        "20:6: runbook 'b' calls itself",
    ]


def test_opsconsole_run_names_the_called_runbooks_steps(tmp_path: Path) -> None:
    (tmp_path / "runbooks.toml").write_text("""\
[[runbooks]]
id = "outage"
title = "Outage"
summary = "Everything."

[[runbooks.steps]]
id = "bring-back"
kind = "runbook"
title = "Bring it back"
runbook = "restart"

[[runbooks]]
id = "restart"
title = "Restart"
summary = "Restart."

[[runbooks.steps]]
id = "verify"
kind = "command"
title = "Verify"
argv = ["echo", "it answers"]
""")
    ran = subprocess.run(
        [OPSCONSOLE, "run", "outage", "--runbooks", "runbooks.toml"], cwd=tmp_path,
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path),
             "XDG_STATE_HOME": str(tmp_path / "state")},
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ">> bring-back\n   runbook restart ()" in ran.stdout
    assert ">> restart/verify\n   $ echo 'it answers'" in ran.stdout
    assert "== restart: completed" in ran.stdout
    assert "== outage: completed" in ran.stdout


async def test_a_stop_reaches_the_called_run_and_an_abort_does_not_cut_its_rollback_short(
    tmp_path: Path,
) -> None:
    """`stop` (the incident log cannot be written) ends the called run after its command,
    as it ends this one; an abort while the called run rolls back lets the rollback end."""
    events: list[Event] = []
    slow_rollback = library(tmp_path, ["false"])
    child = slow_rollback.runbooks[1]
    undo = child.rollback[0].model_copy(
        update={"argv": ["sh", "-c", f"sleep 1; touch {tmp_path / 'child-rolled-back'}"]}
    )
    lib = Library(
        runbooks=[slow_rollback.runbooks[0], child.model_copy(update={"rollback": [undo]})]
    )
    run = runner(lib, tmp_path, events)
    task = asyncio.create_task(run.run())
    for _ in range(100):
        if any(isinstance(e, RollbackStarted) and e.runbook == "restart-service" for e in events):
            break
        await asyncio.sleep(0.02)
    run.abort()  # during the called run's rollback
    result = await asyncio.wait_for(task, 10)
    assert result.outcome == "failed"  # it had failed before the abort came
    assert (tmp_path / "child-rolled-back").exists()  # its rollback ran to its end
    assert (tmp_path / "parent-rolled-back").exists()

    events.clear()
    stopping = runner(library(tmp_path, ["sh", "-c", "sleep 1", "sh"]), tmp_path, events)
    task = asyncio.create_task(stopping.run())
    for _ in range(100):
        if any(e.runbook == "restart-service" and e.step == "verify" for e in events):
            break
        await asyncio.sleep(0.02)
    stopping.stop("the incident log cannot be written")
    result = await asyncio.wait_for(task, 10)
    assert result.outcome == "aborted"
    outer = [e for e in of_kind(events, StepFinished) if e.runbook == "outage"]
    assert [e.step for e in outer] == ["bring-back", "undo"]  # its 'verify' never ran
    called = [e for e in of_kind(events, StepFinished) if e.runbook == "restart-service"]
    assert called[0].error is None  # its command was let finish
