"""`opsconsole run`: the engine in a plain terminal, as a script or a drill runs it."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.commands import run

LIBRARY = """\
[[runbooks]]
id = "restart"
title = "Restart the API"
summary = "Look, restart, verify."

[[runbooks.params]]
name = "target"
description = "What to restart"
default = "api-prod"
pattern = '^[a-z-]+$'

[[runbooks.params]]
name = "token"
description = "An API token"
default = "tok-0123456789abcdef"
secret = true

[[runbooks.steps]]
id = "look"
kind = "command"
title = "Look"
argv = ["echo", "looking at {target} with {token}"]

[[runbooks.steps]]
id = "restart"
kind = "command"
title = "Restart"
description = "Creates the file named after the target."
argv = ["touch", "{target}"]
destructive = true

[[runbooks.steps]]
id = "verify"
kind = "command"
title = "Verify"
argv = ["test", "-e", "{target}"]
"""


def library(tmp_path: Path) -> Path:
    path = tmp_path / "runbooks.toml"
    path.write_text(LIBRARY)
    return path


def test_a_run_streams_output_hides_secrets_and_exits_0(tmp_path: Path) -> None:
    result = run("run", "restart", "--runbooks", str(library(tmp_path)), "--yes", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "looking at api-prod with ***" in result.stdout
    assert "tok-0123456789abcdef" not in result.stdout
    assert "$ touch api-prod" in result.stdout
    assert "confirmed by --yes" in result.stdout
    assert (tmp_path / "api-prod").exists()
    assert "restart: completed" in result.stdout


def test_dry_run_prints_every_command_and_runs_none(tmp_path: Path) -> None:
    result = run(
        "run", "restart", "--runbooks", str(library(tmp_path)), "--dry-run",
        "--param", "target=web-prod", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "$ touch web-prod  (dry run: not executed)" in result.stdout
    assert "$ test -e web-prod" in result.stdout
    assert not (tmp_path / "web-prod").exists()


def test_nobody_to_confirm_stops_the_run(tmp_path: Path) -> None:
    # stdin is not a terminal and there is no --yes: a destructive step is not run.
    result = run("run", "restart", "--runbooks", str(library(tmp_path)), cwd=tmp_path)
    assert result.returncode == 3
    assert not (tmp_path / "api-prod").exists()
    assert "restart: aborted" in result.stdout


def test_read_only_refuses_and_a_failed_step_exits_1(tmp_path: Path) -> None:
    result = run(
        "run", "restart", "--runbooks", str(library(tmp_path)), "--read-only", "--yes",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1
    assert "refused (read-only mode)" in result.stdout
    assert not (tmp_path / "api-prod").exists()


def test_unknown_runbook_and_bad_parameters_exit_2(tmp_path: Path) -> None:
    path = str(library(tmp_path))
    unknown = run("run", "nope", "--runbooks", path, cwd=tmp_path)
    assert unknown.returncode == 2
    assert "no runbook 'nope' (there are: restart)" in unknown.stderr
    bad = run("run", "restart", "--runbooks", path, "--param", "target=X; rm -rf /", cwd=tmp_path)
    assert bad.returncode == 2
    assert "parameter 'target' must match" in bad.stderr
    malformed = run("run", "restart", "--runbooks", path, "--param", "target", cwd=tmp_path)
    assert malformed.returncode == 2
    assert "expected NAME=VALUE" in malformed.stderr


FAILING = """\
[[runbooks]]
id = "fails"
title = "Fails"
summary = "A step that fails, one skipped, and the rollback."
rollback = [{ id = "undo", kind = "command", title = "Undo", argv = ["echo", "undone"] }]

[[runbooks.steps]]
id = "look"
kind = "command"
title = "Look"
argv = ["sh", "-c", "echo looking; echo slow >&2"]

[[runbooks.steps]]
id = "only-if"
kind = "command"
title = "Only if"
argv = ["true"]
when = [{ value = "up", equals = "down" }]

[[runbooks.steps]]
id = "check"
kind = "command"
title = "Check"
argv = ["false"]
"""


def test_each_step_says_how_it_ended_and_a_failure_says_why(tmp_path: Path) -> None:
    (tmp_path / "runbooks.toml").write_text(FAILING)
    result = run("run", "fails", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    at = lines.index(">> look")
    assert lines[at : at + 4] == [
        ">> look", "   $ sh -c 'echo looking; echo slow >&2'", "   looking", "   ! slow",
    ]  # fmt: skip
    assert re.fullmatch(r" {3}ok: exit 0 in \d+\.\d s", lines[at + 4]), lines[at + 4]
    assert "-- only-if: skipped (its conditions do not hold)" in lines
    assert "   FAILED: exit code 1, expected 0" in lines
    assert "<< rolling back (on_failure)" in lines
    assert lines[-1] == "== fails: failed: step 'check' failed: exit code 1, expected 0"
