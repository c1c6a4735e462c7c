"""What every command shares: the file options, the exit codes, and loading the
configuration and the runbook library with every problem printed. Imports nothing heavy:
`--help` and `--version` build every parser."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeAlias

    from opsconsole.drills.model import DrillBook
    from opsconsole.runbooks.model import Library

    # Generic to the type checker only: at run time argparse's class takes no parameter.
    Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Commands = argparse._SubParsersAction

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_PROBLEMS = 2
EXIT_STOPPED = 3


def file_options() -> argparse.ArgumentParser:
    """--config and --runbooks, for the top parser and every command's: given before the
    command or after it, a file counts, and a command's own copy of an option never puts
    None over the one given before it (SUPPRESS)."""
    files = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    files.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="configuration file (default: $OPSCONSOLE_CONFIG, ./opsconsole.toml, "
        "$XDG_CONFIG_HOME/opsconsole/opsconsole.toml)",
    )
    files.add_argument(
        "--runbooks",
        type=Path,
        metavar="FILE",
        help="runbook library (default: $OPSCONSOLE_RUNBOOKS, [console] runbooks, "
        "./runbooks.toml, the shipped library)",
    )
    return files


def option(args: argparse.Namespace, name: str) -> Path | None:
    value: Path | None = getattr(args, name, None)
    return value


def fail(message: str) -> int:
    print(f"opsconsole: {message}", file=sys.stderr)
    return EXIT_PROBLEMS


def drills_offered(library: Library, library_path: Path) -> tuple[DrillBook | None, str | None]:
    """The scenarios the dashboard offers, or why there are none: a broken drills file
    costs the drills, never the dashboard, which is needed more; the shipped scenarios are
    offered only with the shipped runbooks they prove."""
    from opsconsole.documents.problems import ProblemsFound
    from opsconsole.drills.model import drills_apply, find_drills, load_drills

    path = find_drills(None)
    if not drills_apply(path, library_path):
        return None, None
    try:
        return load_drills(path, library), None
    except ProblemsFound as error:
        return None, f"{error}\nopsconsole: no drills offered until that is fixed"
