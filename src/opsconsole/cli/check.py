"""`opsconsole check`: the configuration, the runbook library and the drills, validated."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from opsconsole.cli.common import EXIT_OK, EXIT_PROBLEMS, Commands, option

if TYPE_CHECKING:
    from opsconsole.config.model import Config
    from opsconsole.runbooks.model import Library


def add_parser(commands: Commands, files: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "check",
        parents=[files],
        help="validate the configuration and the runbook library",
        description="Validate the configuration and the runbook library. Prints every "
        "problem as FILE:LINE:COL: message and exits 2, or exits 0 when all is well.",
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("--drills", type=Path, metavar="FILE", help="drill scenarios to check")
    parser.set_defaults(main=main)


def main(args: argparse.Namespace) -> int:
    return check(option(args, "config"), option(args, "runbooks"), option(args, "drills"))


def check(
    config_path: Path | None, runbooks_path: Path | None, drills_option: Path | None = None
) -> int:
    from opsconsole.config.locate import ConfigNotFound, find_config
    from opsconsole.config.model import LoadedConfig, load_config
    from opsconsole.documents.problems import ProblemsFound, display_path
    from opsconsole.drills.model import drills_apply, find_drills, load_drills
    from opsconsole.runbooks.model import find_runbooks, load_runbooks

    problems: list[str] = []
    summary: list[str] = []
    loaded: LoadedConfig | None = None
    try:
        loaded = load_config(find_config(config_path))
        summary.append(f"{display_path(loaded.path)}: {len(loaded.config.services)} services")
    except ConfigNotFound as error:
        if error.named:
            problems.append(f"{error.looked_in[0]}:1:1: no such file")
        else:
            print(f"note: {error}; checking the runbooks only", file=sys.stderr)
    except ProblemsFound as error:
        problems.extend(str(p) for p in error.problems)

    library_path = find_runbooks(runbooks_path, loaded.runbooks_path() if loaded else None)
    library: Library | None = None
    try:
        library = load_runbooks(library_path)
        summary.append(f"{display_path(library_path)}: {len(library.runbooks)} runbooks")
    except ProblemsFound as error:
        problems.extend(str(p) for p in error.problems)

    drills_path = find_drills(drills_option)
    if not drills_apply(drills_path, library_path):
        summary.append(
            f"{display_path(drills_path)}: for the shipped runbooks, not checked against "
            f"{display_path(library_path)} (--drills FILE checks scenarios of your own)"
        )
    else:
        try:
            drills = load_drills(drills_path, library)
            summary.append(f"{display_path(drills_path)}: {len(drills.drills)} drills")
        except ProblemsFound as error:
            problems.extend(str(p) for p in error.problems)

    if problems:
        print("\n".join(problems))
        return EXIT_PROBLEMS
    if loaded is not None and library is not None:
        for warning in _unread_names(library, library_path, loaded.config):
            print(warning)
    print("ok: " + "; ".join(summary))
    return EXIT_OK


def _unread_names(library: Library, path: Path, config: Config) -> list[str]:
    """Warnings, FILE:LINE:COL: a PromQL check that asks for a metric no service's
    figures are read by (it is not a problem: the seeds' own gauges are such)."""
    from opsconsole.documents.positions import TomlPositions
    from opsconsole.documents.problems import Problem, display_path
    from opsconsole.runbooks.promql_names import unread_names

    found = list(unread_names(library, config))
    if not found:
        return []
    positions = TomlPositions.of(path.read_text(encoding="utf-8"))
    warnings = []
    for each in found:
        where = positions.locate(("runbooks", each.runbook, "steps", each.step, "target"))
        at = positions.inside(where, each.offset)
        warnings.append(str(Problem(display_path(path), at.line, at.col, each.message)))
    return warnings
