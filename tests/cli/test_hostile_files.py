"""A file from outside, however hostile, ends every command with FILE:LINE:COL and
exit 2: never a traceback, never a secret or a control character on the terminal."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.commands import run

GOOD = '[[services]]\nname = "api"\nhealth_url = "http://127.0.0.1:1/health"\n'
DEEP = "[" * 600 + "]" * 600  # tomllib's recursion ran out between 450 and 600 here

# Each command that reads the configuration, as a user types it (stdin not a terminal:
# the dashboard then loads before drawing, and says why it does not start).
COMMANDS = {
    "check": ["check", "--config", "c.toml"],
    "status": ["status", "--config", "c.toml"],
    "dashboard": ["--config", "c.toml"],
    "run": ["run", "demo-service", "--config", "c.toml", "--dry-run"],
}


def problems(tmp_path: Path, text: str | bytes, command: str = "check") -> list[str]:
    path = tmp_path / "c.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    result = run(*COMMANDS[command], cwd=tmp_path)
    said = result.stdout + result.stderr
    assert "Traceback" not in said, said
    assert result.returncode == 2, said
    # `check` lists problems on stdout; the others say them on stderr, as `opsconsole: `.
    lines = [line.removeprefix("opsconsole: ") for line in said.splitlines()]
    return [line for line in lines if line.startswith("c.toml:")]


@pytest.mark.parametrize("command", COMMANDS)
def test_arrays_nested_600_deep_are_a_problem_with_its_place_not_a_recursion_error(
    tmp_path: Path, command: str
) -> None:
    found = problems(tmp_path, GOOD + f"\n[console]\nx = {DEEP}\n", command)
    # "x = " is 4 columns: the 101st bracket is column 105 of line 6.
    assert found == ["c.toml:6:105: arrays or tables nested more than 100 deep"]


def test_a_runbook_library_nested_too_deep_is_a_problem_too(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(GOOD)
    (tmp_path / "r.toml").write_text(f"x = {DEEP}\n")
    result = run("check", "--config", "c.toml", "--runbooks", "r.toml", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert "r.toml:1:105: arrays or tables nested more than 100 deep" in result.stdout


def test_a_dsn_written_as_a_key_is_shown_without_its_password(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD + '[postgres]\n"postgresql://app:Pw0rdZ@h/app" = true\n')
    assert any("unknown key 'postgres.postgresql://app:***@h/app'" in line for line in found)
    assert not any("Pw0rdZ" in line for line in found)


def test_control_characters_in_a_key_are_escaped_not_sent_to_the_terminal(
    tmp_path: Path,
) -> None:
    # Sets the window title, then clears the screen: what a raw key did to the terminal.
    key = "\\u001b]0;pwned\\u0007\\u001b[2J"
    found = problems(tmp_path, GOOD + f'[console]\n"{key}" = 1\n')
    assert found == [
        "c.toml:5:1: unknown key 'console.\\x1b]0;pwned\\x07\\x1b[2J' "
        "(expected one of: environment, refresh_seconds, runbooks)"
    ]
    result = run("check", "--config", "c.toml", cwd=tmp_path)
    assert "\x1b" not in result.stderr + result.stdout
    assert "\x07" not in result.stderr + result.stdout


def test_a_file_that_is_not_utf8_says_the_line_and_column_of_the_bad_byte(
    tmp_path: Path,
) -> None:
    found = problems(tmp_path, GOOD.encode() + b'[console]\nenvironment = "pr\xc3\xa9d\xff"\n')
    # Line 5; 'environment = "préd' is 19 characters (é is two bytes, one column).
    assert found == ["c.toml:5:20: not UTF-8: byte 0xff (the file must be UTF-8)"]
