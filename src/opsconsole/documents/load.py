"""Load a TOML file into a pydantic model and report every problem with its position.

One pipeline serves the configuration and the runbook library: parse (tomllib),
substitute ``${VAR}`` from the environment, validate the structure (pydantic, which
reports all errors at once), then run the document's own cross-checks (duplicate ids,
dangling references). Problems of every stage carry ``FILE:LINE:COL``.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from opsconsole.common.redact import Redactor
from opsconsole.documents.positions import PathKey, TomlPositions
from opsconsole.documents.problems import Problem, ProblemsFound, display_path

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Finding:
    """A problem known by its path in the document; the loader turns it into a Problem."""

    path: PathKey
    message: str
    at_key: bool = False
    offset: int | None = None
    """Characters into the string value at `path` where the problem is, if it is there."""


Checks = Callable[[M], Iterable[Finding]]


def load_document(
    path: Path,
    model: type[M],
    *,
    env: Mapping[str, str] | None = None,
    checks: Checks[M] | None = None,
) -> M:
    """The validated document, or ProblemsFound listing every problem in it.

    ``env`` turns on ``${VAR}`` substitution in string values.
    """
    shown = display_path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ProblemsFound([Problem(shown, 1, 1, f"cannot read file: {_reason(error)}")]) from None
    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ProblemsFound([not_utf8(shown, data, error)]) from None
    return parse_document(source, shown, model, env=env, checks=checks)


def not_utf8(shown: str, data: bytes, error: UnicodeDecodeError) -> Problem:
    """Where the first byte that is not UTF-8 stands, as an editor counts lines and columns."""
    line_start = data.rfind(b"\n", 0, error.start) + 1
    line = data.count(b"\n", 0, error.start) + 1
    col = len(data[line_start : error.start].decode("utf-8", "replace")) + 1
    byte = data[error.start]
    return Problem(shown, line, col, f"not UTF-8: byte 0x{byte:02x} (the file must be UTF-8)")


def parse_document(
    source: str,
    shown: str,
    model: type[M],
    *,
    env: Mapping[str, str] | None = None,
    checks: Checks[M] | None = None,
) -> M:
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as error:
        line, col, message = _syntax_error_position(error)
        raise ProblemsFound([Problem(shown, line, col, f"TOML syntax error: {message}")]) from None
    except RecursionError:
        raise ProblemsFound([too_deep(shown, source)]) from None
    if _deeper_than(data, NESTING_LIMIT):  # what tomllib parsed, the rest may not take
        raise ProblemsFound([too_deep(shown, source)])

    positions = TomlPositions.of(source)

    def problem(finding: Finding) -> Problem:
        where = positions.locate(finding.path, at_key=finding.at_key)
        if finding.offset is not None:
            where = positions.inside(where, finding.offset)
        return Problem(shown, where.line, where.col, finding.message)

    findings: list[Finding] = []
    if env is not None:
        data = _substitute_env(data, env, (), findings)
    try:
        document = model.model_validate(data)
    except ValidationError as error:
        findings.extend(_structure_findings(error, model))
        raise ProblemsFound([problem(f) for f in findings]) from None
    if checks is not None:
        findings.extend(checks(document))
    if findings:
        raise ProblemsFound([problem(f) for f in findings])
    return document


def dotted(path: PathKey) -> str:
    """``("services", 2, "name")`` as a person writes it: ``services[2].name``. A key is
    text from the file: a DSN written as a key shows without its password."""
    text = ""
    for segment in path:
        text += f"[{segment}]" if isinstance(segment, int) else f".{_redacted(segment)}"
    return text.lstrip(".")


def _redacted(key: str) -> str:
    return _key_redactor()(key)


@cache
def _key_redactor() -> Redactor:
    return Redactor(env={})  # its patterns only: no secret is known here


NESTING_LIMIT = 100
"""Arrays and inline tables deeper than this are refused: no configuration needs them,
and tomllib's recursion runs out at a few hundred."""


def _deeper_than(data: object, limit: int) -> bool:
    """Whether arrays and tables nest deeper than `limit` (without recursion: the depth
    is what is in question)."""
    pending: list[tuple[object, int]] = [(data, 0)]
    while pending:
        value, depth = pending.pop()
        if depth > limit:
            return True
        if isinstance(value, dict):
            pending.extend((each, depth + 1) for each in value.values())
        elif isinstance(value, list):
            pending.extend((each, depth + 1) for each in value)
    return False


def too_deep(shown: str, source: str) -> Problem:
    """Where nesting first goes past NESTING_LIMIT (brackets outside strings and
    comments), else where it is deepest (tables count too, as a header nests them)."""
    depth, line, col, quote, escaped = 0, 1, 0, "", False
    deepest = (0, -1, -1)
    for char in source:
        col += 1
        if escaped:
            escaped = False
        elif char == "\n":
            line, col = line + 1, 0
            if quote == "#":
                quote = ""
        elif quote == '"' and char == "\\":
            escaped = True
        elif quote:
            if char == quote and quote != "#":
                quote = ""
        elif char in "\"'#":
            quote = char
        elif char in "[{":
            depth += 1
            deepest = max(deepest, (depth, -line, -col))
            if depth > NESTING_LIMIT:
                break
        elif char in "]}":
            depth -= 1
    _, line, col = deepest
    return Problem(shown, -line, -col, f"arrays or tables nested more than {NESTING_LIMIT} deep")


# -- TOML syntax ---------------------------------------------------------------

_AT_LINE_COL = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_AT_END = re.compile(r"\s*\(at end of document\)$")


def _syntax_error_position(error: tomllib.TOMLDecodeError) -> tuple[int, int, str]:
    message = str(error)
    if match := _AT_LINE_COL.search(message):
        return int(match[1]), int(match[2]), message[: match.start()]
    if match := _AT_END.search(message):
        return 1, 1, message[: match.start()] + " at end of document"
    return 1, 1, message


# -- ${VAR} substitution -------------------------------------------------------

_VARIABLE = re.compile(r"\$(\$?)\{([^}]*)\}")
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _substitute_env(
    value: Any, env: Mapping[str, str], path: PathKey, findings: list[Finding]
) -> Any:
    if isinstance(value, dict):
        return {k: _substitute_env(v, env, (*path, k), findings) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_env(v, env, (*path, i), findings) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        escaped, name = match[1], match[2]
        if escaped:  # $${NAME} is the way to write a literal ${NAME}
            return "${" + name + "}"
        if not _VARIABLE_NAME.fullmatch(name):
            findings.append(Finding(path, f"{dotted(path)}: '${{{name}}}' is not a variable name"))
            return match[0]
        if name not in env:
            findings.append(
                Finding(path, f"{dotted(path)}: environment variable {name} is not set")
            )
            return match[0]
        return env[name]

    return _VARIABLE.sub(replace, value)


# -- structure (pydantic) ------------------------------------------------------

_TOML_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a float",
    bool: "a boolean",
    list: "an array",
    dict: "a table",
}


def _structure_findings(error: ValidationError, model: type[BaseModel]) -> Iterator[Finding]:
    for detail in error.errors(include_url=False, include_input=True):
        path, _ = _walk(model, tuple(detail["loc"]))
        kind = detail["type"]
        if kind == "extra_forbidden":
            hint = _did_you_mean(str(path[-1]), _allowed_keys(_walk(model, path[:-1])[1]))
            yield Finding(path, f"unknown key '{dotted(path)}'{hint}", at_key=True)
        elif kind == "missing":
            yield Finding(path, f"missing required key '{dotted(path)}'", at_key=True)
        elif kind == "union_tag_invalid":
            context = detail.get("ctx", {})
            field = str(context.get("discriminator", "kind")).strip("'")
            where = (*path, field)
            yield Finding(
                where,
                f"{dotted(where)}: unknown {field} '{context.get('tag')}'"
                f" (expected one of: {context.get('expected_tags')})",
            )
        else:
            yield Finding(path, f"{dotted(path) or 'document'}: {_describe(detail)}")


def _describe(detail: ErrorDetails) -> str:
    # The message never quotes the value itself: it may be a secret.
    message = detail["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    message = message.replace("Input should be", "should be")
    found = _TOML_TYPE_NAMES.get(type(detail.get("input")))
    if detail["type"].endswith("_type") and found:
        return f"wrong type: {message}, found {found}"
    return message


def _did_you_mean(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        return f" (did you mean '{close[0]}'?)"
    if allowed:
        return f" (expected one of: {', '.join(allowed)})"
    return ""


def _walk(model: type[BaseModel], loc: PathKey) -> tuple[PathKey, Any]:
    """Follow a pydantic location through the model: the path as the file spells it
    (without the tags pydantic adds for tagged unions) and the annotation found there."""
    path: PathKey = ()
    current: Any = model
    for segment in loc:
        if current is None:
            path = (*path, segment)
            continue
        members = _union_members(current)
        if isinstance(segment, int):
            current = next(
                (typing.get_args(m)[0] for m in members if typing.get_origin(m) is list), None
            )
        elif field := next(
            (
                m.model_fields[segment]
                for m in members
                if _is_model(m) and segment in m.model_fields
            ),
            None,
        ):
            current = field.annotation
        elif tagged := next((m for m in members if _is_model(m) and _has_tag(m, segment)), None):
            current = tagged
            continue  # the tag is pydantic's, not the file's
        else:
            current = None
        path = (*path, segment)
    return path, current


def _allowed_keys(annotation: Any) -> list[str]:
    """The keys a table accepts, to suggest the one a typo meant."""
    models = [m for m in _union_members(annotation) if _is_model(m)]
    return sorted({name for m in models for name in m.model_fields})


def _has_tag(model: type[BaseModel], tag: str | int) -> bool:
    return any(
        typing.get_origin(field.annotation) is typing.Literal
        and tag in typing.get_args(field.annotation)
        for field in model.model_fields.values()
    )


def _union_members(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _union_members(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(annotation) for m in _union_members(a)]
    return [annotation]


def _is_model(candidate: Any) -> bool:
    return isinstance(candidate, type) and issubclass(candidate, BaseModel)


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)
