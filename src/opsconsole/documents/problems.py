"""A problem found in a file, reported the way compilers do: FILE:LINE:COL: message."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# What a terminal acts on rather than shows (C0 and C1 controls, DEL) and what reorders
# the text around it (bidirectional controls), wherever a file's text is quoted.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with each control character written as its escape (`\\x1b`): a key or a
    value quoted from a file must not set the window title or clear the screen."""
    return _UNPRINTABLE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{printable(self.file)}:{self.line}:{self.col}: {printable(self.message)}"


class ProblemsFound(Exception):
    """Raised where a caller needs a valid document and got problems instead."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def display_path(path: Path) -> str:
    """Paths relative to the working directory read best in an editor's quickfix list."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
