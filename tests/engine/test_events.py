"""What each kind of run event says, the same wherever it is shown, and what an incident
log keeps of it: read back from a real log, however old or incomplete its records are."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from opsconsole.engine.events import (
    KINDS,
    Checklist,
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
    from_record,
)
from opsconsole.engine.process import OutputLine
from opsconsole.incidents.export import describe, markdown
from opsconsole.incidents.files import FileStore
from opsconsole.incidents.model import Actor
from opsconsole.incidents.recorder import IncidentRecorder
from tests.support.operators import ScriptedOperator
from tests.support.runbooks import book
from tests.support.runs import run_collecting

AT = datetime(2026, 11, 23, 3, 12, tzinfo=UTC)
RB, OP = "service-down", "alice"
LINES = (OutputLine("stdout", "restarting", AT), OutputLine("stderr", "slow", AT))

EVERY_KIND: list[tuple[Event, str]] = [
    (
        RunStarted(RB, None, OP, params={"c": "nl-fhir"}, dry_run=False, read_only=False,
                   environment="production"),
        "started on production",
    ),
    (
        RunStarted(RB, None, OP, params={}, dry_run=False, read_only=True, environment="prod"),
        "started on prod, read-only",
    ),
    (StepStarted(RB, "restart", OP, command="docker restart nl-fhir", attempt=1),
     "$ docker restart nl-fhir"),
    (StepStarted(RB, "restart", OP, command="docker restart nl-fhir", attempt=2),
     "$ docker restart nl-fhir  (attempt 2)"),
    (StepStarted(RB, "restart", OP, command="touch x", dry_run=True),
     "$ touch x  (dry run: not executed)"),
    (StepStarted(RB, "health", OP, probe="http", target="http://nl-fhir/health"),
     "http http://nl-fhir/health"),
    (Output(RB, "restart", OP, lines=LINES), "2 lines of output"),
    (StepFinished(RB, "restart", OP, exit_code=0, duration=0.14), "exit 0 in 0.1 s"),
    (StepFinished(RB, "health", OP, value="200"), "value 200"),
    (StepFinished(RB, "restart", OP, error="exit code 1, expected 0", exit_code=1, duration=2.0),
     "exit code 1, expected 0"),
    (StepFinished(RB, "restart", OP, error="aborted"), "aborted"),
    (StepFinished(RB, "restart", OP, signal=9, duration=1.0), "signal 9 in 1.0 s"),
    (StepFinished(RB, "restart", OP, dry_run=True), "not executed (dry run)"),
    (StepSkipped(RB, "only-if", OP, reason="its conditions do not hold"),
     "skipped (its conditions do not hold)"),
    (Confirmed(RB, "restart", OP, command="docker restart nl-fhir", target="nl-fhir"),
     "confirmed by alice (nl-fhir)"),
    (Refused(RB, "restart", OP, command="docker restart nl-fhir", reason="not confirmed"),
     "refused (not confirmed)"),
    (Decided(RB, "what", OP, question="Restart or look?", answer="restart"),
     "Restart or look? → restart"),
    (Checklist(RB, "drain", OP, items=("drain", "tell"), done=True), "checklist done"),
    (Checklist(RB, "drain", OP, items=("drain",), done=False), "checklist not done"),
    (Note(RB, "record", OP, prompt="What happened?", text="restarted it"),
     "note by alice: restarted it"),
    (Note(RB, "record", OP, prompt="What happened?", text=""),
     "note by alice: (nothing written)"),
    (RollbackStarted(RB, None, OP, strategy="on_failure"), "rolling back (on_failure)"),
    (RunFinished(RB, None, OP, outcome="completed", reason="every step done"),
     "completed: every step done"),
]  # fmt: skip


@pytest.mark.parametrize(("event", "said"), EVERY_KIND, ids=[said for _, said in EVERY_KIND])
def test_each_kind_says_what_happened(event: Event, said: str) -> None:
    assert event.describe() == said


def test_every_kind_is_described_above() -> None:
    assert {type(event) for event, _ in EVERY_KIND} == set(KINDS.values())


@pytest.mark.parametrize(
    "event", [e for e, _ in EVERY_KIND if not isinstance(e, Output)], ids=lambda e: e.kind
)
def test_a_stored_event_reads_back_as_it_was(event: Event) -> None:
    stored = json.loads(json.dumps(event.to_record()))  # as a log holds it: plain JSON
    back = from_record(event.kind, stored, operator=OP, at=event.at)
    assert back == event
    assert back.describe() == event.describe()


def test_a_record_leaves_out_what_does_not_apply_and_keeps_the_old_keys() -> None:
    finished = StepFinished(
        RB, "restart", OP, exit_code=0, duration=4.2, command="docker restart nl-fhir",
        artifact="/tmp/x.log", captured={}, attempt=1, lines=3,
    )  # fmt: skip
    assert finished.to_record() == {
        "runbook": RB, "step": "restart", "exit_code": 0, "duration": 4.2,
        "command": "docker restart nl-fhir", "artifact": "/tmp/x.log", "captured": {},
        "attempt": 1, "lines": 3,
    }  # fmt: skip
    started = RunStarted(RB, None, OP, params={}, dry_run=False, read_only=False, environment="e")
    assert started.to_record() == {
        "runbook": RB, "step": None, "params": {}, "dry_run": False, "read_only": False,
        "environment": "e",
    }  # fmt: skip


# -- records as older or other versions wrote them ---------------------------------------------


def test_a_record_in_the_format_before_typed_events_reads() -> None:
    # As the dict-based runner and its recorder stored them: nulls written out, a check's
    # value as text even when its probe saw nothing.
    old = {
        "runbook": RB, "step": "restart-hung", "exit_code": 0, "signal": None,
        "duration": 4.2, "lines": 1, "artifact": "/tmp/x.log", "error": None,
        "captured": {}, "attempt": 1, "output": ["nl-fhir"], "command": "docker restart nl-fhir",
    }  # fmt: skip
    finished = from_record("step_finished", old)
    assert isinstance(finished, StepFinished)
    assert finished.describe() == "exit 0 in 4.2 s"
    assert (finished.output, finished.artifact) == (("nl-fhir",), "/tmp/x.log")
    check: dict[str, object] = {
        "runbook": RB, "step": "health", "value": "None", "error": "no http probe here",
        "captured": {}, "output": [], "command": None,
    }  # fmt: skip
    failed = from_record("step_finished", check)
    assert failed is not None
    assert failed.describe() == "no http probe here"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_record_with_every_key_missing_still_reads(kind: str) -> None:
    event = from_record(kind, {})
    assert event is not None
    assert (event.runbook, event.step, event.operator) == ("?", None, "?")
    assert event.describe()  # says something, whatever it lacks


def test_missing_and_mistyped_keys_read_as_unknown_not_as_a_crash() -> None:
    decided = from_record("decided", {"runbook": RB, "step": "what", "question": "Restart?"})
    assert decided is not None
    assert decided.describe() == "Restart? → ?"
    finished = from_record(
        "step_finished",
        {"runbook": 7, "step": ["x"], "exit_code": "0", "duration": "slow", "captured": [1],
         "error": 1, "value": 200, "dry_run": "yes", "output": ["ok", 3], "later": "ignored"},
    )  # fmt: skip
    assert isinstance(finished, StepFinished)
    assert finished == StepFinished("?", None, "?", at=finished.at)
    assert finished.describe() == "ok"
    started = from_record("step_started", {"runbook": RB, "step": "s", "argv": ["a", 1]})
    assert isinstance(started, StepStarted)
    assert started.argv is None
    whole = from_record("step_finished", {"duration": 3})  # an int from a hand-written log
    assert isinstance(whole, StepFinished)
    assert whole.duration == 3.0


def test_a_kind_this_version_does_not_know_is_none() -> None:
    assert from_record("step_paused", {"runbook": RB, "step": "s"}) is None


# -- through a real incident log ---------------------------------------------------------------


async def test_a_recorded_run_reads_in_the_timeline_in_the_words_it_was_shown_in(
    tmp_path: Path,
) -> None:
    os.chdir(tmp_path)
    runbook = book(
        id="restart-it",
        params=[{"name": "target", "description": "What", "default": "api-staging"}],
        steps=[
            {"id": "look", "kind": "command", "title": "Look",
             "argv": ["sh", "-c", "echo looking; echo slow >&2"]},
            {"id": "restart", "kind": "command", "title": "Restart", "argv": ["touch", "{target}"],
             "destructive": True, "description": "Touches it."},
            {"id": "done", "kind": "note", "title": "Done", "prompt": "What happened?"},
            {"id": "check", "kind": "command", "title": "Check", "argv": ["false"]},
        ],
    )  # fmt: skip
    store = FileStore(tmp_path / "incidents")
    alice = Actor(user="alice", host="bastion-1")
    incident = store.open("api down", "P2", alice).id
    recorder = IncidentRecorder(store, incident, alice)
    operator = ScriptedOperator(confirm_with="api-staging", notes=["restarted"])
    result, events = await run_collecting(runbook, operator, tmp_path / "artifacts")
    for event in events:
        recorder(event)
    assert recorder.failure is None
    assert result.outcome == "failed"

    recorded = store.get(incident).events[1:]
    timeline = [describe(event) for event in recorded]
    # Every event but the output, each as its own describe() says it.
    said = [e for e in events if not isinstance(e, Output)]
    where = [e.runbook + (f" / {e.step}" if e.step else "") for e in said]
    assert timeline == [f"{w}: {e.describe()}" for w, e in zip(where, said, strict=True)]
    assert timeline == [
        "restart-it: started on staging",
        "restart-it / look: $ sh -c 'echo looking; echo slow >&2'",
        timeline[2],
        "restart-it / restart: confirmed by alice (api-staging)",
        "restart-it / restart: $ touch api-staging",
        timeline[5],
        "restart-it / done: note by alice: restarted",
        "restart-it / check: $ false",
        "restart-it / check: exit code 1, expected 0",
        "restart-it: failed: step 'check' failed: exit code 1, expected 0",
    ]
    assert timeline[2].startswith("restart-it / look: exit 0 in ")
    update = markdown(store.get(incident))
    assert "  looking\n  ! slow\n" in update  # the output, stderr marked as it was shown
    assert "full output: `" in update
    assert store.read(incident).ok
