"""Parameters and captured values into argv elements, and the conditions over them.

A value fills its placeholder inside one argv element and stays that one element,
whatever it holds: `; rm -rf /`, `$(...)` and newlines are text to the program, never
shell syntax. Only a step that opts in with `shell = true` goes through `sh -c`, and
then every value is quoted for the shell first.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence

from opsconsole.runbooks.model import (
    PLACEHOLDER,
    Capture,
    CommandStep,
    Condition,
    Expect,
    Param,
    param_problem,
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


def render(template: str, values: Mapping[str, str], quote: bool = False) -> str:
    def fill(match: re.Match[str]) -> str:
        value = values[match[1]]
        return shlex.quote(value) if quote else value

    # Doubled braces (docker's Go templates) are no placeholder and stay as written.
    return PLACEHOLDER.sub(fill, template)


def command_argv(step: CommandStep, values: Mapping[str, str]) -> list[str]:
    if step.shell:
        return ["sh", "-c", render(step.argv[0], values, quote=True)]
    return [render(element, values) for element in step.argv]


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
    except KeyError:
        return False
    return compare(
        value,
        equals=condition.equals,
        not_equals=condition.not_equals,
        matches=condition.matches,
        above=condition.above,
        below=condition.below,
        one_of=condition.one_of,
    )


def compare(
    value: object,
    *,
    equals: object = None,
    not_equals: object = None,
    matches: str | None = None,
    above: float | None = None,
    below: float | None = None,
    one_of: Sequence[str] | None = None,
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
    if above is not None or below is not None:
        number = _number(value)
        if number is None:
            return False
        if above is not None and not number > above:
            return False
        if below is not None and not number < below:
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
