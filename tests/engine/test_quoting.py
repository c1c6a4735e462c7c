"""Values are never code, wherever a placeholder stands: in a shell script (unquoted, in
the author's double or single quotes, in $(...)), a SQL query, a PromQL string or a Redis
command. Property tests over generated values, run by the real `sh` and the real servers;
`check` refuses the contexts no value can fill safely, at their line and column."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsconsole.engine.events import Output
from opsconsole.engine.render import ParamError, check_target, command_argv
from opsconsole.runbooks.model import CommandStep
from tests.support.commands import run
from tests.support.operators import ScriptedOperator
from tests.support.runbooks import book
from tests.support.runs import of_kind, run_collecting
from tests.support.servers import PostgresServer

# What a log line an attacker writes may hold: anything but NUL (no argv can carry one;
# see test_a_nul_byte_is_refused), with shell syntax made likely.
HOSTILE = st.text(
    alphabet=st.characters(exclude_characters="\x00", exclude_categories=["Cs"]),
    max_size=40,
) | st.lists(
    st.sampled_from(["'", '"', "$(", ")", "`", "\\", "$", "{", "}", ";", "\n", " ", "*",
                     "touch /tmp/opsconsole-pwned", "$((1+1))", "'\"'\"'", "${IFS}", "!"]),
    max_size=12,
).map("".join)  # fmt: skip

# Each context a script may put a placeholder in, and what `printf %s` then prints.
CONTEXTS: dict[str, Callable[[str], str]] = {
    "printf %s {v}": lambda v: v,
    'printf %s "{v}"': lambda v: v,
    "printf %s '{v}'": lambda v: v,
    'printf %s "a{v}b"': lambda v: f"a{v}b",
    "printf %s 'a{v}b'": lambda v: f"a{v}b",
    "printf %s x{v}y": lambda v: f"x{v}y",
    'printf %s "$(printf %s {v})"': lambda v: v.rstrip("\n"),  # $(...) drops final newlines
    'printf %s "$(printf %s "{v}")"': lambda v: v.rstrip("\n"),
    "printf %s {v} | cat": lambda v: v,
    "# {v}\nprintf %s {v}": lambda v: v,
    "printf %s \"{v}\" '{v}' {v}": lambda v: v * 3,
}


def shell_step(script: str) -> CommandStep:
    return CommandStep(id="s", kind="command", title="S", shell=True, argv=[script])  # noqa: S604


@pytest.mark.parametrize("script", CONTEXTS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=HOSTILE)
def test_a_value_in_a_shell_script_is_printed_as_it_is_whatever_it_holds(
    script: str, value: str
) -> None:
    argv = command_argv(shell_step(script), {"v": value})
    done = subprocess.run(argv, capture_output=True, timeout=10, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode(errors="surrogateescape") == CONTEXTS[script](value)
    assert not Path("/tmp/opsconsole-pwned").exists()


async def test_a_captured_log_line_in_the_authors_double_quotes_stays_text(
    tmp_path: Path,
) -> None:
    """The issue's own case: before, `shlex.quote` inside "..." closed the author's
    quotes, and `$(touch ...)` from a log line ran on the bastion."""
    marker = tmp_path / "pwned"
    runbook = book(
        steps=[
            {"id": "log", "kind": "command", "title": "Log",
             "argv": ["echo", f"ERROR $(touch {marker})"],
             "capture": [{"name": "msg", "pattern": "ERROR (.*)"}]},
            {"id": "count", "kind": "command", "title": "Count", "shell": True,
             "argv": ['grep -c "{msg}" /dev/null; echo "seen: {msg}"'],
             "expect": {"exit_codes": [0, 1]}},
        ]
    )  # fmt: skip
    result, events = await run_collecting(runbook, ScriptedOperator(), tmp_path / "artifacts")
    assert result.outcome == "completed"
    assert not marker.exists()
    lines = [line.text for e in of_kind(events, Output) if e.step == "count" for line in e.lines]
    assert lines == ["0", f"seen: $(touch {marker})"]


def test_the_shell_is_given_the_values_as_arguments_not_as_script() -> None:
    argv = command_argv(shell_step("grep -c \"{msg}\" {file} | tail -n {n}"),
                        {"msg": "$(id)", "file": "/var/log/x y", "n": "3"})  # fmt: skip
    assert argv == ["sh", "-c", 'grep -c "${1}" "${2}" | tail -n "${3}"', "sh",
                    "$(id)", "/var/log/x y", "3"]  # fmt: skip


def test_arithmetic_takes_only_a_whole_number() -> None:
    step = shell_step("echo $(( {days} * 86400 ))")
    assert command_argv(step, {"days": "7"})[2] == "echo $(( ${1} * 86400 ))"
    with pytest.raises(ParamError, match="must be a whole number"):
        command_argv(step, {"days": "a[$(touch /tmp/x)]"})


def test_a_nul_byte_is_refused_not_raised_from_exec() -> None:
    with pytest.raises(ParamError, match="NUL"):
        command_argv(CommandStep(id="s", kind="command", title="S", argv=["echo", "{v}"]),
                     {"v": "a\x00b"})  # fmt: skip


@pytest.mark.parametrize(
    ("script", "column", "why"),
    [
        ("echo `cat {name}`", 10, "inside backquotes"),
        ("echo ${x:-{name} }", 10, "inside ${...}"),
        ("echo ${name}", 6, "right after a $"),
        ("cat <<EOF\n{name}\nEOF", 11, "in or after a here-document"),  # \n: 2 columns
        ("echo \\{name}", 7, "right after a backslash"),  # the backslash, written \\
    ],
)
def test_check_refuses_a_placeholder_where_no_value_is_safe_at_its_line_and_column(
    tmp_path: Path, script: str, column: int, why: str
) -> None:
    path = tmp_path / "runbooks.toml"
    argv = script.replace("\\", "\\\\").replace("\n", "\\n")
    path.write_text(
        '[[runbooks]]\nid = "r"\ntitle = "R"\nsummary = "S"\n'
        '[[runbooks.params]]\nname = "name"\ndescription = "N"\n'
        '[[runbooks.steps]]\nid = "s"\nkind = "command"\ntitle = "S"\nshell = true\n'
        f'argv = ["{argv}"]\n'
    )
    checked = run("check", "--runbooks", str(path), cwd=tmp_path)
    assert checked.returncode == 2, checked.stdout + checked.stderr
    said = checked.stdout + checked.stderr
    problems = [line for line in said.splitlines() if "stands" in line]
    assert len(problems) == 1, said
    # The string begins at column 10 of line 13 ("argv = [" is 8, then the quote); `column`
    # is where the placeholder stands in it as written.
    at = f"runbooks.toml:13:{10 + column}:"
    assert problems[0].startswith(at), problems[0]
    assert f"step 's': {{name}} stands {why}" in problems[0]


# -- queries --------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=HOSTILE)
def test_a_value_in_sql_is_one_literal_whatever_it_holds(
    postgres: PostgresServer, value: str
) -> None:
    with psycopg.connect(postgres.dsn, autocommit=True) as db:
        for template, expected in (("SELECT {v}", value), ("SELECT 'a{v}b'", f"a{value}b")):
            query = check_target("sql", template, {"v": value})
            row = db.execute(query.encode()).fetchone()
            assert row == (expected,)


def test_sql_refuses_what_it_cannot_quote() -> None:
    for template in ('SELECT "{v}"', "SELECT E'{v}'", "SELECT $$ {v} $$", "SELECT 1 -- {v}"):
        with pytest.raises(ParamError, match="no value can fill it safely"):
            check_target("sql", template, {"v": "x"})


def test_promql_strings_are_escaped_and_bare_values_must_be_names_or_numbers() -> None:
    template = 'rate(x{service="{service}"}[{window}])'
    hostile = 'a"} or vector(1) or x{a="'
    assert check_target("promql", template, {"service": hostile, "window": "5m"}) == (
        'rate(x{service="a\\"} or vector(1) or x{a=\\""}[5m])'
    )
    with pytest.raises(ParamError, match="a number, a duration or a name"):
        check_target("promql", template, {"service": "api", "window": "5m]) or vector(1"})


def test_a_redis_value_stays_one_argument() -> None:
    target = check_target("redis", "LLEN {queue}", {"queue": "audit events\nFLUSHALL"})
    assert shlex.split(target) == ["LLEN", "audit events\nFLUSHALL"]
    with pytest.raises(ParamError, match="cannot be split"):
        check_target("redis", "GET 'open", {})
