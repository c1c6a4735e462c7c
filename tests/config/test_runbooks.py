"""The runbook library: the shipped one is valid, and each mistake is named at its place."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsconsole.documents.problems import ProblemsFound
from opsconsole.runbooks.model import (
    CheckStep,
    CommandStep,
    DecisionStep,
    load_runbooks,
    shipped_runbooks,
)
from opsconsole.runbooks.placeholders import placeholders

ROOT = Path(__file__).parent.parent.parent

HEADER = """\
[[runbooks]]
id = "restart"
title = "Restart a service"
summary = "Restart it and check it comes back."
"""


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "runbooks.toml"
    path.write_text(text)
    with pytest.raises(ProblemsFound) as raised:
        load_runbooks(path)
    return [f"{p.line}:{p.col}: {p.message}" for p in raised.value.problems]


def test_the_shipped_library_is_the_top_level_file_and_is_valid() -> None:
    assert shipped_runbooks().read_text() == (ROOT / "runbooks.toml").read_text()
    library = load_runbooks(shipped_runbooks())
    service_down = next(book for book in library.runbooks if book.id == "service-down")
    assert service_down.severity == "P1"
    steps = {step.id: step for step in service_down.steps}
    start = steps["start-container"]
    assert isinstance(start, CommandStep)
    assert start.destructive
    assert start.argv == ["docker", "start", "{container}"]
    cause = steps["cause"]
    assert isinstance(cause, DecisionStep)
    assert {answer.goto for answer in cause.answers} <= steps.keys()


def test_placeholders_leave_go_templates_alone() -> None:
    assert placeholders("--format={{.State.OOMKilled}} {container}") == ["container"]
    assert placeholders("name=^{container}$") == ["container"]
    assert placeholders("{{json .}}") == []


def test_dangling_goto_duplicate_ids_and_parameters(tmp_path: Path) -> None:
    text = (
        HEADER
        + """
[[runbooks.params]]
name = "container"
description = "Container to restart"

[[runbooks.params]]
name = "unused"
description = "Nobody uses me"

[[runbooks.steps]]
id = "restart"
kind = "command"
title = "Restart"
argv = ["docker", "restart", "{container}", "{typo}"]
destructive = true

[[runbooks.steps]]
id = "restart"
kind = "decision"
title = "Did it come back?"
question = "Is it healthy?"
answers = [{ label = "yes", goto = "done" }, { label = "no", goto = "restart" }]
"""
    )
    assert problems_of(tmp_path, text) == [
        "11:8: parameter 'unused' is not used by any step of 'restart'",
        "18:45: undefined parameter '{typo}' in step 'restart'",
        "19:15: destructive step 'restart' needs a description of what it changes",
        "22:6: duplicate step id 'restart'",
        "26:36: answer 'yes' goes to unknown step 'done'",
    ]


def test_duplicate_runbook_ids(tmp_path: Path) -> None:
    step = '\n[[runbooks.steps]]\nid = "look"\nkind = "manual"\ntitle = "Look"\n'
    assert problems_of(tmp_path, HEADER + step + HEADER + step) == [
        "11:6: duplicate runbook id 'restart'",
    ]


def test_unknown_step_kind_and_misspelt_step_key(tmp_path: Path) -> None:
    text = (
        HEADER
        + """
[[runbooks.steps]]
id = "a"
kind = "shell"
title = "Run"

[[runbooks.steps]]
id = "b"
kind = "command"
title = "Run"
argv = ["true"]
timeout = 5
"""
    )
    assert problems_of(tmp_path, text) == [
        "8:8: runbooks[0].steps[0].kind: unknown kind 'shell'"
        " (expected one of: 'command', 'check', 'manual', 'decision', 'note', 'runbook')",
        "16:1: unknown key 'runbooks[0].steps[1].timeout' (did you mean 'timeout_seconds'?)",
    ]


def test_the_grown_schema_loads_captures_conditions_checks_and_rollback(tmp_path: Path) -> None:
    path = tmp_path / "runbooks.toml"
    path.write_text(
        HEADER
        + """
suggest_when = [{ signal = "p95_seconds", subject_param = "service" }]
rollback_strategy = "always"

[[runbooks.params]]
name = "service"
description = "Which one"
choices = ["api", "web"]
default = "api"

[[runbooks.params]]
name = "attempts"
description = "How many"
type = "integer"
default = 3

[[runbooks.steps]]
id = "state"
kind = "command"
title = "State"
argv = ["docker", "inspect", "--format", "{{.State.Status}}", "{service}"]
retry = { count = "{attempts}" }
capture = [{ name = "state", pattern = '^(\\w+)' }]
on_failure = { goto = "p95" }

[[runbooks.steps]]
id = "p95"
kind = "check"
title = "P95 now"
probe = "promql"
target = "histogram_quantile(0.95, rate(x_bucket{service='{service}'}[5m]))"
expect = { below = 2.0 }
when = [{ value = "{state}", equals = "running" }]

[[runbooks.rollback]]
id = "undo"
kind = "command"
title = "Undo"
description = "Starts it again."
argv = ["docker", "start", "{service}"]
destructive = true
"""
    )
    with pytest.raises(ProblemsFound) as raised:
        load_runbooks(path)
    # TOML is typed: a retry count written as a template is a string, and is refused.
    assert [p.message for p in raised.value.problems] == [
        "runbooks[0].steps[0].retry.count: wrong type: should be a valid integer, found a string"
    ]
    path.write_text(
        path.read_text().replace('retry = { count = "{attempts}" }', "retry = { count = 3 }")
    )
    with pytest.raises(ProblemsFound) as raised:
        load_runbooks(path)
    # ...and then `attempts` is used by no step.
    assert [p.message for p in raised.value.problems] == [
        "parameter 'attempts' is not used by any step of 'restart'"
    ]
    path.write_text(
        path.read_text().replace('"docker", "inspect",', '"docker", "inspect", "--x={attempts}",')
    )
    book = load_runbooks(path).runbooks[0]
    state, p95 = book.steps
    assert isinstance(state, CommandStep)
    assert isinstance(p95, CheckStep)
    assert state.capture[0].name == "state"
    assert p95.when[0].equals == "running"
    assert book.rollback[0].destructive
    assert book.suggest_when[0].signal == "p95_seconds"


def test_mistakes_in_the_grown_schema_are_named_at_their_place(tmp_path: Path) -> None:
    text = (
        HEADER
        + """
suggest_when = [{ signal = "p95_seconds", subject_param = "nobody" }]

[[runbooks.params]]
name = "count"
description = "How many"
type = "integer"
default = "many"

[[runbooks.steps]]
id = "one"
kind = "command"
title = "One"
argv = ["echo", "{count}", "{never_captured}"]
capture = [{ name = "x", pattern = 'no group' }, { name = "y" }]
expect = { output_matches = '(' }
on_failure = { goto = "nowhere" }

[[runbooks.steps]]
id = "two"
kind = "command"
title = "Two"
shell = true
argv = ["echo a |", "wc -l"]
"""
    )
    assert problems_of(tmp_path, text) == [
        "6:59: undefined parameter 'nobody'",
        "12:11: default of 'count' must be a whole number",
        "18:28: undefined parameter '{never_captured}' in step 'one'",
        "19:36: capture 'x': the pattern needs exactly one group",
        "19:50: capture 'y' needs a pattern or a json_path",
        "20:29: not a regular expression: missing ), unterminated subpattern at position 0",
        "21:23: step 'one' goes to unknown step 'nowhere' on failure",
        "28:8: step 'two' has shell = true: argv must be one script",
    ]


SCENARIOS = [
    "high-response-times",
    "service-down",
    "dependency-down",
    "high-error-rate",
    "db-pool-exhaustion",
    "slow-queries",
    "disk-wal-pressure",
    "redis-cache",
    "audit-queue-backlog",
    "certificate-expiry",
    "security-alert",
    "planned-maintenance",
    "complete-outage-recovery",
]


def test_every_seed_scenario_has_a_runbook_that_verifies_and_keeps_secrets_out() -> None:
    library = load_runbooks(shipped_runbooks())
    books = {book.id: book for book in library.runbooks}
    assert set(SCENARIOS) <= books.keys()
    # The dashboard offers the runbook for its signal, with the breach's subject filled in.
    offered = {(book.id, s.signal) for book in library.runbooks for s in book.suggest_when}
    for pair in [
        ("high-response-times", "p95_seconds"),
        ("high-error-rate", "error_rate"),
        ("service-down", "health"),
        ("service-down", "container_state"),
        ("service-down", "oom_killed"),
        ("db-pool-exhaustion", "connections_ratio"),
        ("audit-queue-backlog", "queue"),
        ("redis-cache", "memory_ratio"),
        ("service-down", "target_down"),
        ("disk-wal-pressure", "disk_use"),
    ]:
        assert pair in offered, pair
    for book in library.runbooks:
        steps = [*book.steps, *book.rollback]
        argv = [a for s in steps if isinstance(s, CommandStep) for a in s.argv]
        # No password on a command line: psql reads PGPASSWORD, redis-cli REDISCLI_AUTH.
        assert not [a for a in argv if "PGPASSWORD=" in a or "password=" in a.lower()], book.id
        assert not [a for a in argv if a in ("-W", "--password", "-a")], book.id
        # psql never prompts (it would hang the run): -w on every call.
        for s in steps:
            if isinstance(s, CommandStep) and s.argv[0] == "psql":
                assert "-w" in s.argv, (book.id, s.id)
        # After the last destructive step of the main path something checks the result.
        positions = [
            n for n, s in enumerate(book.steps) if isinstance(s, CommandStep) and s.destructive
        ]
        if positions:
            after = book.steps[positions[-1] + 1 :]
            assert any(
                isinstance(s, CheckStep) or (isinstance(s, CommandStep) and not s.destructive)
                for s in after
            ), book.id


def test_a_verifying_step_may_not_be_destructive(tmp_path: Path) -> None:
    """It is run again on its own while an incident is MONITORING, with nobody asked."""
    text = (
        HEADER
        + """
[[runbooks.steps]]
id = "verify"
kind = "command"
title = "Restart until it answers"
description = "Restarts the service."
argv = ["true"]
destructive = true
confirm = "{hostname}"
verifies = true
"""
    )
    assert problems_of(tmp_path, text) == [
        "14:12: step 'verify' is destructive: a verifying step is run again on its own",
    ]


def test_every_shipped_runbook_has_a_step_that_verifies_the_fix() -> None:
    """Without one, an incident worked with it never gets the MONITORING and RESOLVED
    proposals (slow-queries, disk-wal-pressure, redis-cache, certificate-expiry,
    security-alert and planned-maintenance had none)."""
    library = load_runbooks(shipped_runbooks())
    without = [
        book.id
        for book in library.runbooks
        if not any(isinstance(s, CommandStep | CheckStep) and s.verifies for s in book.steps)
    ]
    assert without == []
