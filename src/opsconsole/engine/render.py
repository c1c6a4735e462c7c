"""Parameters and captured values into argv elements, and the conditions over them.

A value fills its placeholder inside one argv element and stays that one element,
whatever it holds: `; rm -rf /`, `$(...)` and newlines are text to the program, never
shell syntax. Only a step that opts in with `shell = true` goes through `sh -c`, and
then no value is written into the script at all: each placeholder becomes a reference to
a positional parameter ("${1}"), quoted for the context it stands in, and the values are
given to `sh` as arguments, which the shell expands once and never parses. A check's
query is filled the same way, for SQL and PromQL: each value quoted as a literal of the
context it stands in (see `runbooks.quoting`).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Mapping, Sequence

from opsconsole.runbooks.model import (
    Capture,
    CommandStep,
    Condition,
    Expect,
    Param,
    param_problem,
)
from opsconsole.runbooks.placeholders import PLACEHOLDER
from opsconsole.runbooks.quoting import (
    PROMQL_BARE,
    Context,
    Slot,
    promql_slots,
    promql_string,
    shell_slots,
    sql_literal,
    sql_slots,
)


class ParamError(ValueError):
    """A parameter is missing, unknown, or not of its kind."""


def resolve_params(params: Sequence[Param], given: Mapping[str, str]) -> dict[str, str]:
    """The value of every parameter: given, or its default; each checked against its
    type, choices and pattern. Raises ParamError naming every problem."""
    declared = {param.name: param for param in params}
    problems = [f"unknown parameter '{name}'" for name in given if name not in declared]
    values: dict[str, str] = {}
    for param in params:
        if param.name in given:
            value = given[param.name]
        elif param.default is not None:
            value = as_text(param.default)
        else:
            problems.append(f"parameter '{param.name}' is required: {param.description}")
            continue
        if why := param_problem(param, value):
            problems.append(f"parameter '{param.name}' {why}")
        values[param.name] = value
    if problems:
        raise ParamError("; ".join(problems))
    return values


def render(template: str, values: Mapping[str, str]) -> str:
    """The template with each placeholder's value, as it is: for an argv element (one
    argument whatever it holds), a condition, a URL; never for a shell or a query."""

    def fill(match: re.Match[str]) -> str:
        return str(values[match[1]])

    # Doubled braces (docker's Go templates) are no placeholder and stay as written.
    return PLACEHOLDER.sub(fill, template)


def command_argv(step: CommandStep, values: Mapping[str, str]) -> list[str]:
    """The argv a command step runs. Raises KeyError for a value no step captured, and
    ParamError for a value its context cannot take."""
    if step.shell:
        script, names = shell_script(step.argv[0], values)
        argv = ["sh", "-c", script, "sh", *(values[name] for name in names)]
    else:
        argv = [render(element, values) for element in step.argv]
    for element in argv:
        if "\0" in element:
            raise ParamError("a value holds a NUL byte, which no command can be given")
    return argv


_INTEGER = re.compile(r"-?[0-9]+")
_SHELL_REFERENCE = {
    Context.UNQUOTED: '"{}"',
    Context.DOUBLE: "{}",
    Context.SINGLE: "'\"{}\"'",  # out of the single quotes, in double ones, back in
    Context.ARITHMETIC: "{}",
}


def shell_script(template: str, values: Mapping[str, str]) -> tuple[str, list[str]]:
    """The script with each placeholder a positional parameter, and the names whose
    values are those parameters, in order ($1 first)."""
    numbers: dict[str, int] = {}

    def fill(slot: Slot) -> str:
        value = values[slot.name]
        if slot.context is Context.ARITHMETIC and not _INTEGER.fullmatch(value):
            raise ParamError(
                f"{{{slot.name}}} stands in an arithmetic expansion: its value must be "
                "a whole number"
            )
        number = numbers.setdefault(slot.name, len(numbers) + 1)
        return _SHELL_REFERENCE[slot.context].format(f"${{{number}}}")

    return _filled(template, shell_slots(template), fill), list(numbers)


BACKEND_PART = re.compile(r"[A-Za-z0-9_.\-\[\]:]*")
"""What a value may hold in a check's `on`: a host, a port, a user, a database's name."""


def backend_url(template: str, values: Mapping[str, str]) -> str:
    """A check's `on` with its values: each a host, a port, a user or a database name,
    never anything that would make the URL name another server ("@", "/", "?")."""

    def fill(match: re.Match[str]) -> str:
        value = values[match[1]]
        if not BACKEND_PART.fullmatch(value):
            raise ParamError(
                f"{{{match[1]}}} in the backend's URL must be a host, port, user or name"
            )
        return value

    return PLACEHOLDER.sub(fill, template)


def check_target(probe: str, template: str, values: Mapping[str, str]) -> str:
    """A check's target with its values, each quoted for where it stands: a SQL literal,
    the inside of a PromQL string (a bare PromQL value only as a number, duration or
    name), one Redis argument. Raises KeyError and ParamError as `command_argv`."""
    if probe == "sql":

        def sql(slot: Slot) -> str:
            value = values[slot.name]
            if "\0" in value:
                raise ParamError(f"{{{slot.name}}}: a value holds a NUL byte")
            return (
                sql_literal(value) if slot.context is Context.UNQUOTED else value.replace("'", "''")
            )

        return _filled(template, sql_slots(template), sql)
    if probe == "promql":

        def promql(slot: Slot) -> str:
            value = values[slot.name]
            if slot.context is Context.UNQUOTED:
                if not PROMQL_BARE.fullmatch(value):
                    raise ParamError(
                        f"{{{slot.name}}} stands outside quotes in PromQL: its value must "
                        "be a number, a duration or a name"
                    )
                return value
            return promql_string(value)

        return _filled(template, promql_slots(template), promql)
    if probe == "redis":
        try:
            tokens = shlex.split(template)
        except ValueError as unbalanced:  # a quote left open in the runbook
            raise ParamError(f"the redis command cannot be split: {unbalanced}") from None
        return shlex.join(render(token, values) for token in tokens)
    return render(template, values)


def _filled(template: str, slots: Sequence[Slot], fill: Callable[[Slot], str]) -> str:
    parts, last = [], 0
    for slot in slots:
        if slot.context is Context.UNSAFE:
            raise ParamError(f"{{{slot.name}}} stands {slot.why}: no value can fill it safely")
        parts += [template[last : slot.start], fill(slot)]
        last = slot.end
    parts.append(template[last:])
    return "".join(parts)


def as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- conditions ---------------------------------------------------------------------------


def holds(condition: Condition, values: Mapping[str, str]) -> bool:
    """Whether the condition holds; a placeholder with no value yet (a capture that did
    not happen) makes it false rather than an error: the step is skipped and says why."""
    try:
        value = render(condition.value, values)
        above, below = limit(condition.above, values), limit(condition.below, values)
        at_least = limit(condition.at_least, values)
    except (KeyError, ValueError):
        return False  # a limit not filled, or not a number: nothing to compare with
    return compare(
        value,
        equals=condition.equals,
        not_equals=condition.not_equals,
        matches=condition.matches,
        above=above,
        below=below,
        at_least=at_least,
        one_of=condition.one_of,
    )


def limit(given: float | str | None, values: Mapping[str, str]) -> float | None:
    """A condition's limit: as written, or a template rendered to the number it holds.
    Raises KeyError (not filled) or ValueError (not a number)."""
    if given is None or isinstance(given, float | int):
        return given
    return float(render(given, values))


def compare(
    value: object,
    *,
    equals: object = None,
    not_equals: object = None,
    matches: str | None = None,
    above: float | None = None,
    below: float | None = None,
    one_of: Sequence[str] | None = None,
    at_least: float | None = None,
) -> bool:
    text = as_text(value)
    if equals is not None and text != as_text(equals):
        return False
    if not_equals is not None and text == as_text(not_equals):
        return False
    if matches is not None and re.search(matches, text) is None:
        return False
    if one_of is not None and text not in one_of:
        return False
    if above is not None or below is not None or at_least is not None:
        number = _number(value)
        if number is None:
            return False
        if above is not None and not number > above:
            return False
        if below is not None and not number < below:
            return False
        if at_least is not None and not number >= at_least:
            return False
    return True


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


# -- what a command's output says -----------------------------------------------------------


def json_value(output: str, path: str) -> object:
    """The value at a dotted path (`checks.db.status`, `items.0.name`) of JSON output.
    Raises LookupError when the output is not JSON or the path is not there."""
    try:
        document: object = json.loads(output)
    except ValueError:
        raise LookupError("the output is not JSON") from None
    for part in path.split("."):
        if isinstance(document, dict) and part in document:
            document = document[part]
        elif isinstance(document, list) and part.isdigit() and int(part) < len(document):
            document = document[int(part)]
        else:
            raise LookupError(f"no '{path}' in the output")
    return document


def expectation_failure(expect: Expect, exit_code: int | None, output: str) -> str | None:
    """Why the result is not what the step expects; None when it is."""
    if exit_code not in expect.exit_codes:
        wanted = " or ".join(str(code) for code in expect.exit_codes)
        return f"exit code {exit_code}, expected {wanted}"
    if expect.output_matches is not None and re.search(expect.output_matches, output) is None:
        return f"output does not match {expect.output_matches!r}"
    if expect.equals is None and expect.above is None and expect.below is None:
        return None
    subject: object = output.strip()
    if expect.json_path is not None:
        try:
            subject = json_value(output, expect.json_path)
        except LookupError as missing:
            return str(missing)
    if not compare(subject, equals=expect.equals, above=expect.above, below=expect.below):
        return f"{expect.json_path or 'output'} is {as_text(subject)!r}: {_wanted(expect)}"
    return None


def _wanted(expect: Expect) -> str:
    parts = []
    if expect.equals is not None:
        parts.append(f"expected {as_text(expect.equals)!r}")
    if expect.above is not None:
        parts.append(f"expected above {expect.above:g}")
    if expect.below is not None:
        parts.append(f"expected below {expect.below:g}")
    return ", ".join(parts)


def captured(capture: Capture, output: str) -> str | None:
    """The value a capture takes from the output; None when it is not there."""
    if capture.pattern is not None:
        match = re.search(capture.pattern, output, re.MULTILINE)
        return match[1] if match else None
    if capture.json_path is not None:
        try:
            return as_text(json_value(output, capture.json_path))
        except LookupError:
            return None
    return None


def captured_values(captures: Sequence[Capture], output: str) -> dict[str, str]:
    """What each capture found; one that found nothing is left out, and later steps that
    need it say so."""
    found = {}
    for capture in captures:
        value = captured(capture, output)
        if value is not None:
            found[capture.name] = value
    return found
