"""`opsconsole run`: the engine in a plain terminal, as a script or a drill runs it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.support.commands import OPSCONSOLE, run
from tests.support.processes import processes_with

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
    assert "$ touch web-prod  (DESTRUCTIVE: asks for 'web-prod'; dry run: not executed)" in (
        result.stdout
    )
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


CALLS_ITSELF = """\
[[runbooks]]
id = "itself"
title = "Asks the console"
summary = "A step that runs opsconsole, as the demo's runbook and drills do."

[[runbooks.steps]]
id = "ask"
kind = "command"
title = "Ask"
argv = ["opsconsole", "--version"]

[[runbooks.steps]]
id = "ask-in-a-shell"
kind = "command"
title = "Ask in a shell"
shell = true
argv = ["opsconsole --version | tr a-z A-Z"]
"""


def test_a_step_that_runs_opsconsole_runs_this_one_whatever_path_holds(tmp_path: Path) -> None:
    """`run` (from tests.support.commands) starts the console by its full path with PATH
    /usr/bin:/bin, as `./scripts/demo` leaves a new user: no opsconsole on it."""
    (tmp_path / "runbooks.toml").write_text(CALLS_ITSELF)
    result = run("run", "itself", "--runbooks", str(tmp_path / "runbooks.toml"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "command not found" not in result.stdout + result.stderr
    assert "   opsconsole 0.1.0" in result.stdout
    assert "   OPSCONSOLE 0.1.0" in result.stdout


INTERRUPTIBLE = """\
[[runbooks]]
id = "long"
title = "A long step"
summary = "Sleeps; its rollback leaves a mark."
rollback_strategy = "on_failure"

[[runbooks.steps]]
id = "wait"
kind = "command"
title = "Wait"
argv = ["sleep", "{marker}"]

[[runbooks.steps]]
id = "change"
kind = "command"
title = "Change"
description = "Touches the file named after the marker."
argv = ["touch", "changed"]
destructive = true
confirm = "{hostname}"

[[runbooks.params]]
name = "marker"
description = "How long to sleep: a number no other process on the machine sleeps"
default = "30.17"

[[runbooks.rollback]]
id = "undo"
kind = "command"
title = "Undo"
argv = ["touch", "rolled-back"]
"""


def start_run(
    tmp_path: Path, *args: str, before: Callable[[], None] | None = None
) -> subprocess.Popen[str]:
    """`opsconsole run long ...`, standard input /dev/null unless `before` (run in the
    child before it starts) does otherwise."""
    (tmp_path / "runbooks.toml").write_text(INTERRUPTIBLE)
    return subprocess.Popen(
        [OPSCONSOLE, "run", "long", "--runbooks", str(tmp_path / "runbooks.toml"), *args],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        preexec_fn=before,
    )


def test_ctrl_c_aborts_the_run_ends_its_command_runs_the_rollback_and_exits_3(
    tmp_path: Path,
) -> None:
    marker = "30.1723"
    process = start_run(tmp_path, "--param", f"marker={marker}")
    assert process.stdout is not None
    seen = ""
    while f"$ sleep {marker}" not in seen:  # the step's command has started
        line = process.stdout.readline()
        assert line, process.stderr.read() if process.stderr else ""
        seen += line
    assert processes_with(marker)
    process.send_signal(signal.SIGINT)  # what Ctrl+C sends to the foreground process
    out, err = process.communicate(timeout=30)
    assert process.returncode == 3, seen + out + err
    assert "Traceback" not in err
    assert "interrupted: aborting the run" in out
    assert (tmp_path / "rolled-back").exists()  # the rollback ran
    assert not (tmp_path / "changed").exists()  # and nothing after the abort did
    assert "== long: aborted: aborted during 'Wait'" in out
    assert processes_with(marker) == []  # the step's process group was ended


def test_with_standard_input_closed_a_prompt_ends_the_run_as_an_abort(tmp_path: Path) -> None:
    """`opsconsole run ... <&-`: there is no sys.stdin at all, and nobody to confirm."""
    process = start_run(tmp_path, "--param", "marker=0", before=lambda: os.close(0))
    out, err = process.communicate(timeout=30)
    assert process.returncode == 3, out + err
    assert "Traceback" not in err
    assert "refused (not confirmed)" in out
    assert (tmp_path / "rolled-back").exists()
    assert not (tmp_path / "changed").exists()


PLANNED = """\
[[runbooks]]
id = "planned"
title = "Planned"
summary = "A decision, a destructive step, a rollback."

[[runbooks.params]]
name = "service"
description = "The service"
default = "billing"

[[runbooks.steps]]
id = "which"
kind = "decision"
title = "Which way"
question = "Restart or leave it?"
answers = [{ label = "Restart", goto = "restart" }, { label = "Leave it", goto = "done" }]

[[runbooks.steps]]
id = "restart"
kind = "command"
title = "Restart"
description = "Restarts the service."
argv = ["systemctl", "restart", "{service}"]
destructive = true

[[runbooks.steps]]
id = "done"
kind = "note"
title = "Done"
prompt = "What happened?"

[[runbooks.rollback]]
id = "back"
kind = "command"
title = "Back"
argv = ["systemctl", "start", "{service}"]
"""


def test_a_dry_run_marks_destructive_steps_the_branches_and_the_rollback(tmp_path: Path) -> None:
    (tmp_path / "runbooks.toml").write_text(PLANNED)
    result = run("run", "planned", "--runbooks", "runbooks.toml", "--dry-run", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert (
        "-- which: skipped (dry run: a decision, 'Restart or leave it?': "
        "Restart → restart; Leave it → done)"
    ) in out
    assert (
        "   $ systemctl restart billing  (DESTRUCTIVE: asks for 'billing'; dry run: not executed)"
    ) in out
    rollback = out.index("<< the rollback, run on failure (dry run: not executed)")
    assert out.index("$ systemctl start billing  (dry run: not executed)") > rollback
