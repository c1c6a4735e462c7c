"""A decision proposes the answer its evidence points to (what the run captured), the
operator takes it with one key or overrules it with a reason, and the incident log keeps
both; a destructive step asks for the name of what it acts on, never a number."""

from __future__ import annotations

import os
import pty
import socket
import subprocess
from pathlib import Path

import pytest

from opsconsole.engine.decisions import propose
from opsconsole.engine.events import Decided, Event, Output
from opsconsole.runbooks.model import DecisionStep, Runbook
from tests.config.test_runbooks import problems_of
from tests.support.commands import OPSCONSOLE
from tests.support.operators import PROPOSED, ScriptedOperator
from tests.support.runbooks import book
from tests.support.runs import of_kind, run_collecting


def diagnosis(exit_code: int = 137, oom: str = "true") -> Runbook:
    """What `service-down` asks, in small: the evidence is what `docker inspect` says."""
    return book(
        steps=[
            {"id": "inspect", "kind": "command", "title": "Inspect",
             "argv": ["echo", f"OOMKilled={oom} ExitCode={exit_code}"],
             "capture": [{"name": "oom", "pattern": "OOMKilled=(true|false)"},
                         {"name": "exit_code", "pattern": r"ExitCode=(\d+)"}]},
            {"id": "cause", "kind": "decision", "title": "What stopped it?",
             "question": "What stopped it?",
             "answers": [
                 {"label": "It crashed", "goto": "start",
                  "when": [{"value": "{oom}", "equals": "false"}]},
                 {"label": "It ran out of memory", "goto": "raise",
                  "when": [{"value": "{oom}", "equals": "true"},
                           {"value": "{exit_code}", "equals": "137"}]},
                 {"label": "Something else", "goto": "start"},
             ]},
            {"id": "start", "kind": "command", "title": "Start", "argv": ["echo", "started"],
             "next": "end"},
            {"id": "raise", "kind": "command", "title": "Raise", "argv": ["echo", "raised"]},
            {"id": "end", "kind": "command", "title": "End", "argv": ["true"]},
        ]
    )  # fmt: skip


def output(events: list[Event]) -> list[str]:
    return [line.text for e in events if isinstance(e, Output) for line in e.lines]


async def test_the_evidence_proposes_an_answer_and_taking_it_is_recorded_with_it(
    tmp_path: Path,
) -> None:
    operator = ScriptedOperator(answers=[PROPOSED])
    result, events = await run_collecting(diagnosis(), operator, tmp_path)
    assert result.outcome == "completed"
    proposal = operator.proposals[0]
    assert proposal is not None
    assert proposal.answer.label == "It ran out of memory"
    assert proposal.evidence == ("oom = 'true' (equals true)", "exit_code = '137' (equals 137)")
    assert "raised" in output(events)
    assert "started" not in output(events)
    (decided,) = of_kind(events, Decided)
    assert (decided.answer, decided.proposed, decided.reason) == (
        "It ran out of memory", "It ran out of memory", None,
    )  # fmt: skip
    assert decided.describe() == (
        "What stopped it? → It ran out of memory (as proposed: oom = 'true' (equals true); "
        "exit_code = '137' (equals 137))"
    )
    # What the incident log stores, and reads back the same.
    assert decided.to_record()["evidence"] == list(proposal.evidence)


async def test_overruling_the_proposal_takes_a_reason_that_is_recorded(tmp_path: Path) -> None:
    operator = ScriptedOperator(answers=[0], reasons=["the host was rebooted under it"])
    result, events = await run_collecting(diagnosis(), operator, tmp_path)
    assert result.outcome == "completed"
    assert "started" in output(events)
    (decided,) = of_kind(events, Decided)
    assert (decided.answer, decided.proposed, decided.reason) == (
        "It crashed", "It ran out of memory", "the host was rebooted under it",
    )  # fmt: skip
    assert "over the proposed 'It ran out of memory'" in decided.describe()
    assert decided.describe().endswith(": the host was rebooted under it)")


def test_the_first_answer_whose_evidence_holds_is_proposed_and_none_without_evidence() -> None:
    cause = next(s for s in diagnosis().steps if isinstance(s, DecisionStep))
    crashed = propose(cause, {"oom": "false", "exit_code": "1"})
    assert crashed is not None
    assert crashed.answer.label == "It crashed"
    # OOMKilled=true but a clean exit: the second answer's evidence does not all hold.
    assert propose(cause, {"oom": "true", "exit_code": "0"}) is None
    assert propose(cause, {}) is None  # nothing captured: nothing proposed, not an error


async def test_a_decision_whose_evidence_holds_nowhere_is_asked_as_before(tmp_path: Path) -> None:
    operator = ScriptedOperator(answers=[2])
    result, events = await run_collecting(diagnosis(exit_code=0), operator, tmp_path)
    assert result.outcome == "completed"
    assert operator.proposals == [None]
    (decided,) = of_kind(events, Decided)
    assert (decided.proposed, decided.reason) == (None, None)
    assert decided.describe() == "What stopped it? → Something else"


def test_check_refuses_unknown_evidence(tmp_path: Path) -> None:
    text = """\
[[runbooks]]
id = "a"
title = "A"
summary = "A."

[[runbooks.steps]]
id = "cause"
kind = "decision"
title = "Why?"
question = "Why?"
answers = [
    { label = "One", goto = "end", when = [{ value = "{nosuch}", equals = "x" }] },
    { label = "Two", goto = "end" },
]

[[runbooks.steps]]
id = "end"
kind = "command"
title = "End"
argv = ["true"]
"""
    assert problems_of(tmp_path, text) == ["12:54: undefined parameter '{nosuch}' in step 'cause'"]


# -- what a destructive step asks the operator to type ----------------------------------------


DESTRUCTIVE = """\
[[runbooks]]
id = "a"
title = "A"
summary = "A."

[[runbooks.params]]
name = "db"
description = "The database"
default = "app"

[[runbooks.params]]
name = "minutes"
description = "Idle for longer than this"
type = "integer"
default = 5

[[runbooks.steps]]
id = "terminate"
kind = "command"
title = "Terminate"
description = "Ends the idle sessions."
argv = ["echo", "{db}", "{minutes}"]
destructive = true
{confirm}
"""


@pytest.mark.parametrize(
    ("confirm", "problem"),
    [
        ("", "23:15: destructive step 'terminate' would ask the operator to type {minutes}, "
             "which is not a name (5): set confirm = \"{param}\" to the name of what it acts on"),
        ('confirm = "{minutes}"', "24:11: destructive step 'terminate' would ask the operator "
         "to type {minutes}, which is not a name (5): set confirm = \"{param}\" to the name of "
         "what it acts on"),
        ('confirm = "sessions"', "24:11: destructive step 'terminate' would ask the operator "
         "to type its own id: set confirm = \"{param}\" to the name of what it acts on"),
        ('confirm = "{dbb}"', "24:11: undefined parameter '{dbb}' in step 'terminate'"),
    ],
)  # fmt: skip
def test_check_refuses_a_confirmation_that_is_not_a_name(
    tmp_path: Path, confirm: str, problem: str
) -> None:
    assert problems_of(tmp_path, DESTRUCTIVE.replace("{confirm}", confirm)) == [problem]


async def test_the_operator_types_the_name_the_runbook_says(tmp_path: Path) -> None:
    from opsconsole.runbooks.model import load_runbooks

    path = tmp_path / "runbooks.toml"
    path.write_text(DESTRUCTIVE.replace("{confirm}", 'confirm = "{db}"'))
    (named,) = load_runbooks(path).runbooks
    operator = ScriptedOperator(confirm_with="app")
    result, _ = await run_collecting(named, operator, tmp_path)
    assert result.outcome == "completed"
    assert [asked.target for asked in operator.asked] == ["app"]

    path.write_text(DESTRUCTIVE.replace("{confirm}", 'confirm = "{hostname}"'))
    (on_host,) = load_runbooks(path).runbooks
    operator = ScriptedOperator(confirm_with=socket.gethostname())
    result, _ = await run_collecting(on_host, operator, tmp_path)
    assert result.outcome == "completed"
    assert [asked.target for asked in operator.asked] == [socket.gethostname()]


# -- in a plain terminal ---------------------------------------------------------------------


DIAGNOSIS_TOML = """\
[[runbooks]]
id = "why"
title = "Why did it stop?"
summary = "Look, decide."

[[runbooks.steps]]
id = "inspect"
kind = "command"
title = "Inspect"
argv = ["echo", "OOMKilled=true"]
capture = [{ name = "oom", pattern = 'OOMKilled=(true|false)' }]

[[runbooks.steps]]
id = "cause"
kind = "decision"
title = "What stopped it?"
question = "What stopped it?"
answers = [
    { label = "It crashed", goto = "start", when = [{ value = "{oom}", equals = "false" }] },
    { label = "Out of memory", goto = "raise", when = [{ value = "{oom}", equals = "true" }] },
]

[[runbooks.steps]]
id = "start"
kind = "command"
title = "Start"
argv = ["echo", "started"]
next = "record"

[[runbooks.steps]]
id = "raise"
kind = "command"
title = "Raise"
argv = ["echo", "raised"]

[[runbooks.steps]]
id = "record"
kind = "command"
title = "Record"
argv = ["true"]
"""


def run_typing(tmp_path: Path, typed: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """`opsconsole run` with a terminal as its standard input (it asks nobody without one),
    the operator's lines typed ahead into it."""
    (tmp_path / "runbooks.toml").write_text(DIAGNOSIS_TOML)
    keyboard, terminal = pty.openpty()
    try:
        os.write(keyboard, typed.encode())
        return subprocess.run(
            [OPSCONSOLE, "run", "why", "--runbooks", "runbooks.toml", *extra],
            cwd=tmp_path, stdin=terminal, capture_output=True, text=True, timeout=30,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                 "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "XDG_STATE_HOME": str(tmp_path / "s")},
        )  # fmt: skip
    finally:
        os.close(keyboard)
        os.close(terminal)


def test_opsconsole_run_proposes_and_enter_takes_it(tmp_path: Path) -> None:
    result = run_typing(tmp_path, "\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2. Out of memory  <- proposed" in result.stdout
    assert "proposed from oom = 'true' (equals true)" in result.stdout
    assert "answer (number, empty takes 2, 'stop' stops):" in result.stdout
    assert "raised" in result.stdout
    assert "started" not in result.stdout


def test_opsconsole_run_asks_why_when_the_proposal_is_overruled(tmp_path: Path) -> None:
    result = run_typing(tmp_path, "1\n\nit was restarted by hand\n")
    assert result.returncode == 0, result.stdout + result.stderr
    # An empty reason is asked again: the log keeps why, or the run does not go on.
    assert result.stdout.count("why not 'Out of memory'?") == 2
    assert "started" in result.stdout
    assert "over the proposed 'Out of memory'" in result.stdout
    assert "it was restarted by hand" in result.stdout


def test_opsconsole_run_yes_shows_the_proposal_but_does_not_take_it(tmp_path: Path) -> None:
    """--yes answers confirmations; a branch chosen from captured output, with nobody to
    read the evidence, is not one: the run stops there (drills take proposals, in a
    sandbox)."""
    result = run_typing(tmp_path, "", "--yes")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "proposed from oom = 'true' (equals true)" in result.stdout
    assert "a decision needs a person: --yes does not choose for you" in result.stdout
    assert "raised" not in result.stdout


async def test_the_operator_sees_the_evidence_redacted_as_the_log_keeps_it(
    tmp_path: Path,
) -> None:
    """A condition on a secret value proposes all the same; what it shows is masked."""
    runbook = book(
        params=[{"name": "token", "description": "A token", "default": "tok-0123456789abcdef",
                 "secret": True}],
        steps=[
            {"id": "cause", "kind": "decision", "title": "Which?", "question": "Which?",
             "answers": [{"label": "Rotate it", "goto": "end",
                          "when": [{"value": "{token}", "matches": "^tok-"}]},
                         {"label": "Leave it", "goto": "end"}]},
            {"id": "end", "kind": "command", "title": "End", "argv": ["true"]},
        ],
    )  # fmt: skip
    operator = ScriptedOperator(answers=[PROPOSED])
    result, events = await run_collecting(runbook, operator, tmp_path)
    assert result.outcome == "completed"
    shown = operator.proposals[0]
    assert shown is not None
    assert shown.evidence == ("token = '***' (matches ^tok-)",)
    (decided,) = of_kind(events, Decided)
    assert "tok-0123456789abcdef" not in str(decided.to_record())


def test_check_refuses_a_regular_expression_in_evidence_that_does_not_compile(
    tmp_path: Path,
) -> None:
    text = """\
[[runbooks]]
id = "a"
title = "A"
summary = "A."

[[runbooks.params]]
name = "state"
description = "A state"

[[runbooks.steps]]
id = "cause"
kind = "decision"
title = "Why?"
question = "Why?"
answers = [
    { label = "One", goto = "end", when = [{ value = "{state}", matches = "([" }] },
    { label = "Two", goto = "end" },
]

[[runbooks.steps]]
id = "end"
kind = "command"
title = "End"
argv = ["true"]
"""
    (problem,) = problems_of(tmp_path, text)
    assert problem.startswith("16:75: not a regular expression:"), problem


def test_a_limit_may_be_a_parameter_of_the_run_and_the_evidence_says_its_number() -> None:
    """disk-wal-pressure's VACUUM decision compares with the configured disk_percent, not
    a fixed 85: a volume at 80 % is still too full where the limit is 70."""
    from opsconsole.runbooks.model import load_runbooks, shipped_runbooks

    library = load_runbooks(shipped_runbooks())
    book_ = library.get("disk-wal-pressure")
    assert book_ is not None
    step = next(s for s in book_.steps if s.id == "vacuum-full-or-not")
    assert isinstance(step, DecisionStep)
    at_80 = {"used_after_vacuum": "80", "table_fits": "yes"}
    enough = propose(step, {**at_80, "disk_percent": "85"})
    assert enough is not None
    assert enough.answer.label == "No, VACUUM was enough"
    assert enough.evidence == ("used_after_vacuum = '80' (below 85)",)
    rewrite = propose(step, {**at_80, "disk_percent": "70"})
    assert rewrite is not None
    assert rewrite.answer.label == "Yes, in a maintenance window"
    assert rewrite.evidence[0] == "used_after_vacuum = '80' (at least 70)"
    # At the limit itself it is still too full, as the runbook's df check judges it.
    at_limit = propose(step, {**at_80, "disk_percent": "80"})
    assert at_limit is not None
    assert at_limit.answer.label == "Yes, in a maintenance window"
    # No limit to compare with: nothing proposed, not an error.
    assert propose(step, at_80) is None


def test_check_refuses_a_limit_that_is_no_number_nor_a_number_parameter(
    tmp_path: Path,
) -> None:
    text = """\
[[runbooks]]
id = "a"
title = "A"
summary = "A."

[[runbooks.params]]
name = "word"
description = "Not a number"
default = "x"

[[runbooks.params]]
name = "limit"
description = "A number"
type = "integer"
default = 5

[[runbooks.steps]]
id = "cause"
kind = "decision"
title = "Why?"
question = "Why?"
answers = [
    { label = "One", goto = "end", when = [{ value = "{limit}", above = "lots" }] },
    { label = "Two", goto = "end", when = [{ value = "{word}", below = "{word}" }] },
    { label = "Three", goto = "end", when = [{ value = "{word}", at_least = "85" }] },
    { label = "Four", goto = "end", when = [{ value = "{word}", below = "{limit}" }] },
]

[[runbooks.steps]]
id = "end"
kind = "command"
title = "End"
argv = ["true"]
"""
    assert problems_of(tmp_path, text) == [
        "23:73: a limit is a number (unquoted), or an integer or number parameter: not 'lots'",
        "24:72: a limit is a number (unquoted), or an integer or number parameter: not '{word}'",
        "25:77: a limit is a number (unquoted), or an integer or number parameter: not '85'",
    ]
