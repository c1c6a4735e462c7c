"""`opsconsole` with no command: the dashboard on the configuration it finds."""

from __future__ import annotations

import argparse

from opsconsole.cli.common import (
    EXIT_OK,
    EXIT_PROBLEMS,
    drills_offered,
    load_or_report,
    option,
)


def main(args: argparse.Namespace) -> int:
    from opsconsole.cli.drill import undo_left_behind
    from opsconsole.incidents.stores import store_for
    from opsconsole.tui.app import make_app  # Textual loads only for the commands that need it

    found = load_or_report(option(args, "config"), option(args, "runbooks"))
    if found is None:
        return EXIT_PROBLEMS
    loaded, library = found
    undo_left_behind(loaded.config)  # a drill killed mid-run
    make_app(
        loaded.config,
        library=library,
        incidents=store_for(loaded),
        drills=drills_offered(library),
        owns_process=True,
    ).run()
    return EXIT_OK
