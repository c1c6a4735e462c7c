"""What a real run's events add up to, as the wizard draws it: no App, the events alone."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from opsconsole.engine.control import RunOptions
from opsconsole.engine.decisions import Proposal
from opsconsole.engine.events import Event, Note
from opsconsole.engine.progress import NOTE_PROMPT, RunProgress
from opsconsole.engine.runner import Runner
from opsconsole.runbooks.model import CommandStep, DecisionStep, Runbook
from tests.support.operators import ScriptedOperator
from tests.support.runbooks import book
from tests.support.runs import run_collecting


def a_runbook(counter: Path) -> Runbook:
    # Its verifying step fails once, then passes on its retry: the "before" and "after".
    second_time = (
        f"n=$(cat {counter} 2>/dev/null || echo 0); echo $((n+1)) > {counter}; [ $n -ge 1 ]"
    )
    return book(
        id="restart-it",
        params=[{"name": "target", "description": "What", "default": "api-staging"}],
        rollback_strategy="always",
        steps=[
            {"id": "look", "kind": "command", "title": "Look",
             "argv": ["sh", "-c", "echo looking; echo slow >&2"]},
            {"id": "only-if", "kind": "command", "title": "Only if", "argv": ["true"],
             "when": [{"value": "{target}", "equals": "other"}]},
            {"id": "what", "kind": "decision", "title": "What now", "question": "Restart?",
             "answers": [{"label": "restart", "goto": "restart"},
                         {"label": "leave it", "goto": "leave"}]},
            {"id": "restart", "kind": "command", "title": "Restart", "argv": ["touch", "{target}"],
             "destructive": True, "description": "Touches it.", "next": "verify"},
            {"id": "leave", "kind": "command", "title": "Leave it", "argv": ["true"]},
            {"id": "verify", "kind": "command", "title": "It is back",
             "argv": ["sh", "-c", second_time], "verifies": True,
             "retry": {"count": 2, "delay_seconds": 0}},
            {"id": "by-hand", "kind": "manual", "title": "By hand", "checklist": ["tell them"]},
            {"id": "done", "kind": "note", "title": "Done", "prompt": "What happened?"},
        ],
        rollback=[{"id": "undo", "kind": "command", "title": "Undo", "argv": ["echo", "undone"]}],
    )  # fmt: skip


async def test_a_whole_run_folds_into_states_commands_lines_and_the_verifying_result(
    tmp_path: Path,
) -> None:
    os.chdir(tmp_path)
    runbook = a_runbook(tmp_path / "counter")
    operator = ScriptedOperator(confirm_with="api-staging", answers=[0], notes=["restarted"])
    result, events = await run_collecting(runbook, operator, tmp_path / "artifacts")
    assert result.outcome == "completed"

    progress = RunProgress(runbook)
    change = progress.apply(events)
    assert progress.states == {
        "look": "ok", "only-if": "skipped", "what": "ok", "restart": "ok",
        "leave": "pending",  # the other branch: never run
        "verify": "ok", "by-hand": "ok", "done": "ok", "undo": "ok",
    }  # fmt: skip
    assert progress.current == "undo"
    step = runbook.steps[5]
    assert isinstance(step, CommandStep)
    verify = shlex.join(step.argv)  # no placeholder in it: rendered as written
    assert progress.commands == {
        "look": "$ sh -c 'echo looking; echo slow >&2'",
        "restart": "$ touch api-staging",
        "verify": f"$ {verify}",
        "undo": "$ echo undone",
    }
    assert set(change.steps) == set(progress.states) - {"leave"}
    assert change.more_than_output

    timed = re.compile(r"in \d+\.\d s")
    lines = [timed.sub("in T s", line) for line in change.lines]
    assert lines == [
        "▶ look: $ sh -c 'echo looking; echo slow >&2'",
        "looking",
        "! slow",
        "✔ look: exit 0 in T s",
        "↷ only-if: skipped (its conditions do not hold)",
        "✔ what: Restart? → restart",
        "✔ restart: confirmed by alice (api-staging)",
        "▶ restart: $ touch api-staging",
        "✔ restart: exit 0 in T s",
        f"▶ verify: $ {verify}",
        "✖ verify: exit code 1, expected 0",
        f"▶ verify: $ {verify}  (attempt 2)",
        "✔ verify: exit 0 in T s",
        "✎ note by alice: restarted",
        "↺ rolling back (always)",
        "▶ undo: $ echo undone",
        "undone",
        "✔ undo: exit 0 in T s",
        "■ completed: every step done",
    ]

    (verified,) = progress.verified
    assert verified.step.id == "verify"
    assert verified.passed.passed
    assert re.fullmatch(r"exit 0 in \d+\.\d s", verified.passed.summary)
    assert verified.failed_before == "exit code 1, expected 0"


async def test_events_folded_as_they_come_read_as_folded_at_once(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    runbook = a_runbook(tmp_path / "counter")
    operator = ScriptedOperator(confirm_with="api-staging", answers=[1], notes=["left it"])
    _, events = await run_collecting(runbook, operator, tmp_path / "artifacts")
    at_once, one_by_one = RunProgress(runbook), RunProgress(runbook)
    lines = at_once.apply(events).lines
    assert [line for event in events for line in one_by_one.apply([event]).lines] == lines
    assert one_by_one.states == at_once.states
    assert (at_once.states["restart"], at_once.states["leave"]) == ("pending", "ok")
    assert at_once.verified == one_by_one.verified


class AskedOperator(ScriptedOperator):
    """Marks the step it is asked about as the current one, as the wizard does before it
    shows a dialog, and gives no answer."""

    progress: RunProgress

    async def decide(self, step: DecisionStep, proposal: Proposal | None) -> None:
        self.progress.asking(step.id)
        assert self.progress.current == step.id
        assert self.progress.states[step.id] == "running"
        # No answer: the run is aborted.


async def test_an_unanswered_question_fails_its_step_and_counts_what_is_left(
    tmp_path: Path,
) -> None:
    runbook = a_runbook(tmp_path / "counter")
    progress = RunProgress(runbook)
    operator = AskedOperator()
    operator.progress = progress

    def fold(event: Event) -> None:
        progress.apply([event])

    runner = Runner(
        runbook, {}, operator, fold, RunOptions(environment="staging", artifacts=tmp_path)
    )
    result = await runner.run()
    assert result.outcome == "aborted"
    assert progress.states["what"] == "failed"  # stopped while it waited
    assert progress.states["undo"] == "ok"  # the rollback ran
    assert progress.left() == 5  # restart, leave, verify, by-hand, done

    # A note the operator adds on their own changes no step's state, but is on record.
    after = progress.apply([Note(runbook.id, "undo", "alice", prompt=NOTE_PROMPT, text="odd")])
    assert after.lines == ["✎ note by alice: odd"]
    assert after.steps == []


def test_a_step_on_a_host_reads_as_a_prompt_on_that_host() -> None:
    """The wizard's current step and its log say where the command runs."""
    from opsconsole.engine.events import StepStarted

    start = {"id": "start", "kind": "command", "title": "Start it", "host": "app1",
             "argv": ["docker", "start", "web"]}  # fmt: skip
    runbook = book(steps=[start])
    progress = RunProgress(runbook)
    started = StepStarted(
        runbook.id, "start", operator="alice", command="docker start web", host="app1"
    )
    change = progress.apply([started])
    assert progress.commands == {"start": "app1 $ docker start web"}
    assert change.lines == ["▶ start: app1 $ docker start web"]
