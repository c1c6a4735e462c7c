"""The installed ``opsconsole`` command, run as a user runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsconsole.runbooks.model import load_runbooks, shipped_runbooks
from tests.support.commands import run

ROOT = Path(__file__).parent.parent.parent

GOOD = """\
[[services]]
name = "api"
health_url = "http://127.0.0.1:8001/health"
"""


def test_version(tmp_path: Path) -> None:
    from opsconsole import __version__

    result = run("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"opsconsole {__version__}"


@pytest.mark.parametrize("command", [[], ["demo"], ["check"]])
def test_every_command_has_help(tmp_path: Path, command: list[str]) -> None:
    result = run(*command, "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: opsconsole")


def test_check_passes_on_the_shipped_files(tmp_path: Path) -> None:
    result = run(
        "check",
        "--config",
        str(ROOT / "examples" / "opsconsole.toml"),
        "--runbooks",
        str(ROOT / "runbooks.toml"),
        cwd=tmp_path,
        env={"PGPASSWORD": "x"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 services" in result.stdout
    assert "runbooks" in result.stdout


def test_check_without_any_config_checks_the_shipped_runbooks(tmp_path: Path) -> None:
    result = run("check", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no configuration found" in result.stderr
    shipped = len(load_runbooks(shipped_runbooks()).runbooks)
    assert f"runbooks.toml: {shipped} runbooks" in result.stdout


def test_check_lists_problems_of_both_files_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "opsconsole.toml").write_text(GOOD + "colour = 'red'\n")
    (tmp_path / "runbooks.toml").write_text("[[runbooks]\n")
    result = run("check", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        "opsconsole.toml:4:1: unknown key 'services[0].colour' (expected one of: api_url, "
        "compose_file, container, "
    )
    assert lines[1].startswith("runbooks.toml:1:11: TOML syntax error")


OWN_LIBRARY = """\
[[runbooks]]
id = "restart-billing"
title = "Restart billing"
summary = "Our own."

[[runbooks.steps]]
id = "restart"
kind = "command"
title = "Restart"
argv = ["systemctl", "restart", "billing"]
"""


def test_check_of_a_teams_own_library_does_not_check_the_shipped_drills_against_it(
    tmp_path: Path,
) -> None:
    """The shipped scenarios prove the shipped runbooks; a library of its own has none
    of them, and that is no problem of the library's."""
    (tmp_path / "own.toml").write_text(OWN_LIBRARY)
    result = run("check", "--runbooks", "own.toml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "own.toml: 1 runbooks" in result.stdout
    assert "for the shipped runbooks, not checked against own.toml" in result.stdout

    (tmp_path / "drills.toml").write_text(
        '[[drills]]\nid = "billing-down"\ntitle = "Billing down"\ntarget = "billing"\n'
        'runbook = "restart-billing"\ndescription = "Billing is stopped."\n'
        '[drills.fault]\nkind = "container_stop"\n'
    )
    ours = run("check", "--runbooks", "own.toml", cwd=tmp_path)  # its own ./drills.toml
    assert "drills.toml: 1 drills" in ours.stdout, ours.stdout + ours.stderr


def test_check_names_a_missing_config_file(tmp_path: Path) -> None:
    result = run("check", "--config", "nowhere.toml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout.strip() == "nowhere.toml:1:1: no such file"


def test_check_names_a_missing_file_named_by_the_environment(tmp_path: Path) -> None:
    result = run("check", cwd=tmp_path, env={"OPSCONSOLE_CONFIG": "gone.toml"})
    assert result.returncode == 2
    assert result.stdout.strip() == "gone.toml:1:1: no such file"


def test_config_from_the_environment_variable(tmp_path: Path) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text(GOOD.replace("api", "from-env"))
    result = run("check", cwd=tmp_path, env={"OPSCONSOLE_CONFIG": str(config)})
    assert result.returncode == 0
    assert "elsewhere.toml: 1 services" in result.stdout


@pytest.mark.parametrize(
    "where",
    [
        pytest.param(["--config", "elsewhere.toml", "{command}"], id="before the command"),
        pytest.param(["{command}", "--config", "elsewhere.toml"], id="after the command"),
    ],
)
@pytest.mark.parametrize("command", ["check", "status", "drill list"])
def test_the_configuration_named_before_or_after_the_command_is_the_one_used(
    tmp_path: Path, where: list[str], command: str
) -> None:
    (tmp_path / "elsewhere.toml").write_text(GOOD.replace("8001", "1"))
    arguments = [word for part in where for word in part.format(command=command).split()]
    result = run(*arguments, cwd=tmp_path)
    # No ./opsconsole.toml here: without elsewhere.toml each would say none was found.
    assert "no configuration found" not in result.stdout + result.stderr
    shown = {
        "check": ("elsewhere.toml: 1 services", 0),
        "status": ("connection refused", 1),  # port 1: nothing listens there
        "drill list": ("target postgres: no [postgres] in the configuration", 0),
    }[command]
    assert shown[0] in result.stdout
    assert result.returncode == shown[1]


def test_nothing_starts_on_an_invalid_config(tmp_path: Path) -> None:
    (tmp_path / "opsconsole.toml").write_text(
        GOOD + '[postgres]\ndsn = "postgresql://u:${NOPE}@h/db"\n'
    )
    result = run(cwd=tmp_path)  # would open the TUI; must refuse instead
    assert result.returncode == 2
    assert (
        "opsconsole.toml:5:7: postgres.dsn: environment variable NOPE is not set" in result.stderr
    )
    assert "not started" in result.stderr


def test_no_config_found_says_where_it_looked_and_what_to_do(tmp_path: Path) -> None:
    result = run(cwd=tmp_path)
    assert result.returncode == 2
    assert "no configuration found" in result.stderr
    assert "opsconsole demo" in result.stderr
