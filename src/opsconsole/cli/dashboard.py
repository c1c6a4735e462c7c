"""`opsconsole` with no command: the dashboard on the configuration it finds.

The first frame goes out before the configuration is validated (pydantic alone costs
more than a whole hello-world Textual app): what can be told without it is told before
the terminal is taken (no file, a file that is not TOML), the rest once it is loaded, in
the app's place, and the app then ends with every problem printed, as before."""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from opsconsole.cli.common import EXIT_OK, EXIT_PROBLEMS, option

if TYPE_CHECKING:
    from opsconsole.tui.app import NotStarted, Parts


def main(args: argparse.Namespace) -> int:
    from opsconsole.config.locate import ConfigNotFound, find_config
    from opsconsole.documents.problems import display_path

    try:
        path = find_config(option(args, "config"))
    except ConfigNotFound as error:
        print(
            f"opsconsole: {error}\n"
            "Copy examples/opsconsole.toml to ./opsconsole.toml and edit it, "
            "or try `opsconsole demo`.",
            file=sys.stderr,
        )
        return EXIT_PROBLEMS
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return _not_started(path)  # said with its line and column, before any frame
    console = raw.get("console")
    environment = console.get("environment") if isinstance(console, dict) else None
    return run_app(
        lambda: load(path, option(args, "runbooks")),
        display_path(path),
        environment if isinstance(environment, str) else "unlabelled",
    )


def run_app(load: Callable[[], Parts], loading: str, environment: str) -> int:
    """The app, drawn at once in a terminal and loaded behind its first frame. Without a
    terminal to draw in, nobody watches a first frame: what it would be made of is loaded
    first, so that a refusal is plain text in a log, not a frame of escape codes."""
    from opsconsole.tui.app import NotStarted, OpsConsoleApp

    parts: Parts | Callable[[], Parts] = load
    if not (sys.stdout.isatty() and sys.stderr.isatty()):
        try:
            parts = load()
        except NotStarted as refused:
            return _refused(refused)
    app = OpsConsoleApp(parts, loading=loading, environment=environment, owns_process=True)
    app.run()
    if app.refused is not None:
        return _refused(app.refused)
    return app.return_code or EXIT_OK


def _refused(refused: NotStarted) -> int:
    print(refused, file=sys.stderr)
    print("opsconsole: not started; `opsconsole check` lists these too.", file=sys.stderr)
    return refused.exit_code


def load(path: Path, runbooks: Path | None) -> Parts:
    """What the dashboard is made of, in the app's loading thread."""
    from opsconsole.cli.common import drills_offered
    from opsconsole.config.model import load_config
    from opsconsole.config.source import ConfigSource
    from opsconsole.documents.problems import ProblemsFound
    from opsconsole.drills.pending import default_directory, recover
    from opsconsole.incidents.session import IncidentSession
    from opsconsole.incidents.stores import store_for
    from opsconsole.monitoring.monitor import Monitor
    from opsconsole.runbooks.model import find_runbooks, load_runbooks
    from opsconsole.tui.app import NotStarted, Parts

    try:
        loaded = load_config(path)
        library_path = find_runbooks(runbooks, loaded.runbooks_path())
        library = load_runbooks(library_path)
    except ProblemsFound as error:
        raise NotStarted(str(error), EXIT_PROBLEMS) from error
    said = [str(each) for each in recover(default_directory(), loaded.config)]  # a killed drill
    drills, why_none = drills_offered(library, library_path)
    if why_none is not None:
        said.append(why_none)
    config = loaded.config
    session = IncidentSession(store_for(loaded), config, library)
    source = ConfigSource.of(loaded)
    return Parts(config, Monitor(config), library, session, drills, said=said, source=source)


def _not_started(path: Path) -> int:
    from opsconsole.config.model import load_config
    from opsconsole.documents.problems import ProblemsFound

    try:
        load_config(path)
    except ProblemsFound as error:
        print(error, file=sys.stderr)
    except OSError as error:
        print(f"opsconsole: {path}: {error.strerror or error}", file=sys.stderr)
    print("opsconsole: not started; `opsconsole check` lists these too.", file=sys.stderr)
    return EXIT_PROBLEMS
