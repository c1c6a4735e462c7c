"""`opsconsole drill list | run SCENARIO --auto | run --all --auto | recover`.

Every `drill` command first undoes what a killed drill left behind."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from opsconsole.cli.terminal import printer
from opsconsole.config.model import Config, ConfigNotFound, LoadedConfig, find_config, load_config
from opsconsole.documents.problems import ProblemsFound
from opsconsole.drills.auto import run_drill
from opsconsole.drills.model import DrillBook, find_drills, load_drills, target_problem
from opsconsole.drills.pending import Recovered, default_directory, recover
from opsconsole.runbooks.model import Library, find_runbooks, load_runbooks

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_PROBLEMS = 2


def add_parser(commands: argparse._SubParsersAction, files: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    drill_files = argparse.ArgumentParser(
        add_help=False, parents=[files], argument_default=argparse.SUPPRESS
    )
    drill_files.add_argument("--drills", type=Path, metavar="FILE", help="scenario file")
    drill = commands.add_parser(
        "drill",
        parents=[drill_files],
        help="training drills: a real fault in a sandbox, and the runbook that fixes it",
        description="Drills inject a real fault into a target marked `sandbox = true` in "
        "the configuration. `run SCENARIO --auto` proves a runbook: the steady state "
        "holds, breaks once the fault is in, holds again after the runbook ran; the fault "
        "is undone whatever happens. Exit 0 when all of that happened, 1 when it did not, "
        "2 on a configuration error.",
        argument_default=argparse.SUPPRESS,
    )
    actions = drill.add_subparsers(dest="action", metavar="ACTION", required=True)
    # The files may be named after the action too: `drill run X --config F`.
    actions.add_parser(
        "list",
        parents=[drill_files],
        help="every scenario, and whether this configuration allows it",
    )
    actions.add_parser(
        "recover", parents=[drill_files], help="undo the faults a killed drill left behind"
    )
    run = actions.add_parser("run", parents=[drill_files], help="run a scenario")
    run.add_argument("scenario", nargs="?", help="the scenario's id")
    run.add_argument("--all", action="store_true", help="every scenario, one after another")
    run.add_argument("--auto", action="store_true", help="run the runbook without a person")


ACTIONS = ("list", "recover", "run")


def with_run_implied(argv: list[str]) -> list[str]:
    """`opsconsole drill SCENARIO` is `opsconsole drill run SCENARIO`: what a trainer types."""
    command = _first_word(argv, 0)
    if command is None or argv[command] != "drill":
        return argv
    action = _first_word(argv, command + 1)
    if action is not None and argv[action] not in ACTIONS:
        return [*argv[:action], "run", *argv[action:]]
    return argv


def _first_word(argv: list[str], start: int) -> int | None:
    """Where the first word that is neither an option nor an option's value is."""
    position = start
    while position < len(argv) and argv[position].startswith("-"):
        position += 2 if argv[position] in VALUED_OPTIONS else 1
    return position if position < len(argv) else None


VALUED_OPTIONS = ("--config", "--runbooks", "--drills")


def main(args: argparse.Namespace) -> int:
    loaded = _config(args)
    if loaded is None:
        return EXIT_PROBLEMS
    config = loaded.config
    left_behind = undo_left_behind(config)
    if any(not each.undone for each in left_behind):
        print(
            "opsconsole: a drill's fault is still in place; no drill starts until "
            "`opsconsole drill recover` has undone it",
            file=sys.stderr,
        )
        return EXIT_FAILED
    try:
        library = load_runbooks(
            find_runbooks(getattr(args, "runbooks", None), loaded.runbooks_path())
        )
        book = load_drills(find_drills(getattr(args, "drills", None)), library)
    except ProblemsFound as error:
        print(error, file=sys.stderr)
        return EXIT_PROBLEMS
    if args.action == "recover":
        print(f"{len(left_behind)} left-behind faults undone")
        return EXIT_OK
    if args.action == "list":
        for drill in book.drills:
            problem = target_problem(config, drill)
            print(f"{drill.id:<28} {drill.target:<12} {drill.fault.kind:<22} {problem or 'ready'}")
        return EXIT_OK
    return _run(args, config_book=(loaded, book, library))


def _run(args: argparse.Namespace, config_book: tuple[LoadedConfig, DrillBook, Library]) -> int:
    loaded, book, library = config_book
    if not getattr(args, "auto", False):
        return _in_the_dashboard(args, loaded, book, library)
    if getattr(args, "all", False):
        chosen = list(book.drills)
    else:
        chosen = [d for d in book.drills if d.id == getattr(args, "scenario", None)]
        if not chosen:
            known = ", ".join(d.id for d in book.drills)
            print(
                f"opsconsole: no scenario {getattr(args, 'scenario', '')!r} (there are: {known})",
                file=sys.stderr,
            )
            return EXIT_PROBLEMS
    failed = []
    for drill in chosen:
        print(f"== drill {drill.id}: {drill.title}")
        artifacts = Path(tempfile.mkdtemp(prefix=f"opsconsole-drill-{drill.id}-"))
        outcome = asyncio.run(
            run_drill(
                drill,
                loaded.config,
                library,
                pending=default_directory(),
                artifacts=artifacts,
                say=lambda line: print(line, flush=True),
                emit=printer(sys.stdout),
            )
        )
        if outcome.passed:
            print(
                f"✔ {drill.id}: broken after {outcome.broke_after:.1f} s, "
                f"back after {outcome.recovered_after:.1f} s: {outcome.reason}"
            )
        else:
            failed.append(drill.id)
    if len(chosen) > 1:
        print(
            f"{len(chosen) - len(failed)} of {len(chosen)} drills passed"
            + (f"; failed: {', '.join(failed)}" if failed else "")
        )
    return EXIT_FAILED if failed else EXIT_OK


def undo_left_behind(config: Config) -> list[Recovered]:
    """Undoes, and says on stderr, the faults a killed drill left behind."""
    found = recover(default_directory(), config)
    for each in found:
        state = "undone" if each.undone else "STILL IN PLACE"
        print(f"drill {each.run} left a fault behind, {state}: {each.said}", file=sys.stderr)
    return found


def _in_the_dashboard(
    args: argparse.Namespace, loaded: LoadedConfig, book: DrillBook, library: Library
) -> int:
    """The trainee's drill: the dashboard in drill mode, the fault injected unseen."""
    from opsconsole.cli.incidents import store_for
    from opsconsole.tui.app import make_app
    from opsconsole.tui.drill_desk import DrillPlan

    scenario = getattr(args, "scenario", None)
    chosen = next((d for d in book.drills if d.id == scenario), None)
    if chosen is None or getattr(args, "all", False):
        known = ", ".join(d.id for d in book.drills)
        print(f"opsconsole: name one scenario to train on (there are: {known})", file=sys.stderr)
        return EXIT_PROBLEMS
    if problem := target_problem(loaded.config, chosen):
        print(f"opsconsole: refused: {problem}", file=sys.stderr)
        return EXIT_PROBLEMS
    plan = DrillPlan(chosen, default_directory(), default_directory() / "reports")
    app = make_app(
        loaded.config,
        library=library,
        incidents=store_for(loaded),
        drill=plan,
        owns_process=True,
    )
    app.run()
    if app.report_path is not None:
        print(f"drill report: {app.report_path}")
    return EXIT_OK


def _config(args: argparse.Namespace) -> LoadedConfig | None:
    try:
        return load_config(find_config(getattr(args, "config", None)))
    except ConfigNotFound as error:
        print(
            f"opsconsole: {error}: a drill needs the configuration that marks its sandbox",
            file=sys.stderr,
        )
    except ProblemsFound as error:
        print(error, file=sys.stderr)
    return None
