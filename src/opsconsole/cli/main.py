"""The `opsconsole` command's entry point: one parser, each command's part added by the
command's own module, and the command run. Building the parser imports no command's
work: `--help` and `--version` load no Textual and no backend client."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from opsconsole import __version__
from opsconsole.cli import (
    check,
    dashboard,
    demo,
    doctor,
    drill,
    hosts,
    incidents,
    run,
    status,
)
from opsconsole.config.locate import CONFIG_ENV

COMMANDS = (demo, check, doctor, status, hosts, run, incidents, drill)


def build_parser() -> argparse.ArgumentParser:
    from opsconsole.cli.common import file_options

    files = file_options()
    parser = argparse.ArgumentParser(
        prog="opsconsole",
        description="Terminal operations console for on-call engineers. "
        "With no command, opens the dashboard on the configuration it finds.",
        parents=[files],
    )
    parser.add_argument("--version", action="version", version=f"opsconsole {__version__}")
    parser.set_defaults(main=dashboard.main)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands, files)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if getattr(args, "config", None) is not None:
        # A runbook's step that runs the console (`opsconsole hosts check`) reads the
        # configuration this one was given, not whatever its own lookup finds.
        os.environ[CONFIG_ENV] = str(Path(args.config).resolve())
    code: int = args.main(args)
    return code
