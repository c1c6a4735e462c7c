"""Where each placeholder stands in a shell script, a SQL query or a PromQL query: in
which quoting context, so that the value that fills it is quoted for that context and
stays text, never code.

A value quoted without regard to its context is not safe: `shlex.quote` inside the
author's own double quotes (`grep "{msg}"`) ends their quotes, and a captured log line
`ERROR $(touch /tmp/x)` ran as a command. Each lexer here follows only as much of its
language as decides the context of a placeholder; a context it cannot fill safely
(backquotes, a here-document, `${...}`, a SQL dollar-quote) is `Context.UNSAFE` with the
reason, and `opsconsole check` refuses it at its line and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from opsconsole.runbooks.placeholders import PLACEHOLDER


class Context(Enum):
    UNQUOTED = "unquoted"
    DOUBLE = "in double quotes"
    SINGLE = "in single quotes"
    ARITHMETIC = "in an arithmetic expansion"
    UNSAFE = "unsafe"


@dataclass(frozen=True)
class Slot:
    """One placeholder: its name, where it stands (`start`, `end` in the text) and in
    what context; `why` says what makes an UNSAFE one unsafe."""

    name: str
    start: int
    end: int
    context: Context
    why: str = ""


# -- sh -------------------------------------------------------------------------------------

_SHELL_UNSAFE = {
    "`": "inside backquotes (use $(...))",
    "P": "inside ${...}",
    "H": "in or after a here-document",
}


def shell_slots(script: str) -> list[Slot]:
    """The placeholders of a `sh -c` script, each with the quoting it stands in."""
    starts = {m.start(): m for m in PLACEHOLDER.finditer(script)}
    slots: list[Slot] = []
    # Each frame: its kind and, for $( and $((, how many parentheses are open in it.
    # U unquoted (the script, or a $(...)), D "...", S '...', A $((...)), ` `...`,
    # P ${...}, H the rest after a here-document's <<.
    stack: list[list[str | int]] = [["U", -1]]
    i, n = 0, len(script)

    def unsafe(match: re.Match[str], why: str) -> None:
        slots.append(Slot(match[1], match.start(), match.end(), Context.UNSAFE, why))

    while i < n:
        kind = stack[-1][0]
        match = starts.get(i)
        if match is not None:
            if kind in _SHELL_UNSAFE:
                unsafe(match, _SHELL_UNSAFE[str(kind)])
            else:
                context = {"U": Context.UNQUOTED, "D": Context.DOUBLE, "S": Context.SINGLE}
                slots.append(
                    Slot(match[1], i, match.end(), context.get(str(kind), Context.ARITHMETIC))
                )
            i = match.end()
            continue
        c = script[i]
        if kind == "H":
            i += 1
        elif kind == "S":
            if c == "'":
                stack.pop()
            i += 1
        elif c == "\\":
            if i + 1 in starts:
                unsafe(starts[i + 1], "right after a backslash")
                i = starts[i + 1].end()
            else:
                i += 2
        elif kind == "`":
            if c == "`":
                stack.pop()
            i += 1
        elif kind == "P":
            if c == "}":
                stack.pop()
            i += 1
        elif c == "$" and i + 1 in starts:
            unsafe(starts[i + 1], "right after a $ (write $name for a shell variable)")
            i = starts[i + 1].end()
        elif script.startswith("$((", i):
            stack.append(["A", 0])
            i += 3
        elif script.startswith("$(", i):
            stack.append(["U", 0])
            i += 2
        elif script.startswith("${", i):
            stack.append(["P", -1])
            i += 2
        elif c == "`":
            stack.append(["`", -1])
            i += 1
        elif kind == "D":
            if c == '"':
                stack.pop()
            i += 1
        else:  # U or A: parentheses count, and in U quotes and comments begin
            i = _shell_unquoted(script, i, stack)
    return slots


def _shell_unquoted(script: str, i: int, stack: list[list[str | int]]) -> int:
    frame = stack[-1]
    c = script[i]
    if c == "(" and frame[1] != -1:
        frame[1] = int(frame[1]) + 1
    elif c == ")" and frame[1] != -1:
        if frame[1] == 0:
            stack.pop()
            return i + (2 if frame[0] == "A" else 1)
        frame[1] = int(frame[1]) - 1
    elif frame[0] == "A":
        pass
    elif c == "'":
        stack.append(["S", -1])
    elif c == '"':
        stack.append(["D", -1])
    elif c == "#" and (i == 0 or script[i - 1] in " \t\n;&|()"):
        end = script.find("\n", i)
        return len(script) if end == -1 else end
    elif script.startswith("<<", i) and not script.startswith("<<<", i):
        stack.append(["H", -1])
        return i + 2
    return i + 1


# -- SQL ------------------------------------------------------------------------------------


def sql_slots(query: str) -> list[Slot]:
    """The placeholders of a SQL query: unquoted (a literal of its own) or inside a
    '...' string; inside "identifiers", E'...' strings, dollar-quotes or comments they
    are UNSAFE."""
    starts = {m.start(): m for m in PLACEHOLDER.finditer(query)}
    slots: list[Slot] = []
    state = "U"  # U, ' (a string), E (an E'' string), " (an identifier), $ (a dollar-quote)
    dollar = ""
    i, n = 0, len(query)
    while i < n:
        match = starts.get(i)
        if match is not None:
            context, why = {
                "U": (Context.UNQUOTED, ""),
                "'": (Context.SINGLE, ""),
                "E": (Context.UNSAFE, "inside an E'...' string"),
                '"': (Context.UNSAFE, 'inside a "quoted identifier"'),
                "$": (Context.UNSAFE, "inside a dollar-quoted string"),
                "-": (Context.UNSAFE, "inside a comment"),
            }[state]
            slots.append(Slot(match[1], i, match.end(), context, why))
            i = match.end()
            continue
        c = query[i]
        if state == "U":
            if c in "eE" and query.startswith("'", i + 1) and (i == 0 or not _word(query[i - 1])):
                state, i = "E", i + 2
                continue
            if c in "'\"":
                state = c
            elif c == "$" and (found := re.match(r"\$([A-Za-z_]\w*)?\$", query[i:])):
                state, dollar = "$", found[0]
                i += len(dollar)
                continue
            elif query.startswith("--", i) or query.startswith("/*", i):
                state = "-"
        elif state in "'\"":
            if c == state:
                if query.startswith(c, i + 1):  # '' and "" are the quote itself
                    i += 2
                    continue
                state = "U"
        elif state == "E":
            if c == "\\":
                i += 2
                continue
            if c == "'":
                state = "U"
        elif state == "$":
            if query.startswith(dollar, i):
                state = "U"
                i += len(dollar)
                continue
        elif state == "-" and (c == "\n" or query.startswith("*/", i)):
            state = "U"
        i += 1
    return slots


def _word(c: str) -> bool:
    return c.isalnum() or c == "_"


def sql_literal(value: str) -> str:
    """A value as a SQL string literal (standard_conforming_strings, on since
    PostgreSQL 9.1: a backslash is only a backslash)."""
    return "'" + value.replace("'", "''") + "'"


# -- PromQL -----------------------------------------------------------------------------------

PROMQL_BARE = re.compile(r"[A-Za-z0-9_.:]+")
"""What an unquoted PromQL placeholder may hold: a number, a duration, a name."""


def promql_slots(query: str) -> list[Slot]:
    """The placeholders of a PromQL query: unquoted, or inside a "..." or '...' string;
    inside a `raw string` they are UNSAFE."""
    starts = {m.start(): m for m in PLACEHOLDER.finditer(query)}
    slots: list[Slot] = []
    quote = ""
    i, n = 0, len(query)
    while i < n:
        match = starts.get(i)
        if match is not None:
            if quote == "`":
                slots.append(Slot(match[1], i, match.end(), Context.UNSAFE, "inside a `string`"))
            else:
                context = {"": Context.UNQUOTED, '"': Context.DOUBLE, "'": Context.SINGLE}
                slots.append(Slot(match[1], i, match.end(), context[quote]))
            i = match.end()
            continue
        c = query[i]
        if quote and c == "\\" and quote != "`":
            i += 2
            continue
        if quote and c == quote:
            quote = ""
        elif not quote and c in "\"'`":
            quote = c
        i += 1
    return slots


def promql_string(value: str) -> str:
    """A value as the inside of a PromQL "..." or '...' string (Go's escapes)."""
    return (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("'", "\\'")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )
