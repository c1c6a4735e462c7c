"""The runbook library: the shipped one is valid, and each mistake is named at its place."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsconsole.problems import ProblemsFound
from opsconsole.runbooks import (
    CommandStep,
    DecisionStep,
    load_runbooks,
    placeholders,
    shipped_runbooks,
)

ROOT = Path(__file__).parent.parent

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
        " (expected one of: 'command', 'manual', 'decision', 'note')",
        "16:1: unknown key 'runbooks[0].steps[1].timeout' (did you mean 'timeout_seconds'?)",
    ]
