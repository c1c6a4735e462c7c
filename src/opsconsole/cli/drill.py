"""`opsconsole drill list | run SCENARIO --auto | run --all --auto | recover`.

Every `drill` command first undoes what a killed drill left behind."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from opsconsole.cli.common import EXIT_FAILED, EXIT_OK, EXIT_PROBLEMS, Commands, fail, option

if TYPE_CHECKING:
    from opsconsole.config.model import Config, LoadedConfig
    from opsconsole.drills.model import Drill, DrillBook
    from opsconsole.drills.pending import Recovered
    from opsconsole.runbooks.model import Library


ACTIONS = ("list", "recover", "run")


def add_parser(commands: Commands, files: argparse.ArgumentParser) -> None:
    drill = commands.add_parser(
        "drill",
        parents=[files],
        help="training drills: a real fault in a sandbox, and the runbook that fixes it",
        usage="opsconsole drill [list | recover | [run] SCENARIO | run --all] [--auto] "
        "[--overrule STEP=N] [--time-limit SECONDS] [--config FILE] [--runbooks FILE] "
        "[--drills FILE]",
        description="Drills inject a real fault into a target marked `sandbox = true` in "
        "the configuration. `list`: every scenario, and whether this configuration allows "
        "it. `recover`: undo the faults a killed drill left behind. `run SCENARIO --auto` "
        "proves a runbook: the steady state holds, breaks once the fault is in, holds "
        "again after the runbook ran; the fault is undone whatever happens. `SCENARIO` "
        "alone (or `run SCENARIO`) trains on it in the dashboard. Exit 0 when all of that "
        "happened, 1 when it did not, 2 on a configuration error.",
        argument_default=argparse.SUPPRESS,
    )
    drill.add_argument("--drills", type=Path, metavar="FILE", help="scenario file")
    # `drill SCENARIO` is `drill run SCENARIO`, what a trainer types: one parser with two
    # optional words takes both, where subcommands would need the argv rewritten first.
    drill.add_argument("action", nargs="?", metavar="ACTION", help=" | ".join(ACTIONS))
    drill.add_argument("scenario", nargs="?", help="the scenario's id")
    drill.add_argument("--all", action="store_true", help="every scenario, one after another")
    drill.add_argument("--auto", action="store_true", help="run the runbook without a person")
    drill.add_argument(
        "--overrule", action="append", metavar="STEP=N", default=argparse.SUPPRESS,
        help="with --auto: at decision STEP take answer N (from 1), not the proposed one: "
        "a rehearsal of the wrong branch, which must leave the steady state broken "
        "(RUNBOOK/STEP: a decision of a runbook it runs)",
    )  # fmt: skip
    drill.add_argument(
        "--time-limit",
        type=float,
        metavar="SECONDS",
        default=argparse.SUPPRESS,
        help="with --auto: the scenario's time limit, shortened (a wrong branch's rehearsal)",
    )
    drill.set_defaults(main=main)


def main(args: argparse.Namespace) -> int:
    action = getattr(args, "action", None)
    if action is None:
        return fail("name what to do: drill list | recover | run SCENARIO --auto | SCENARIO")
    if action not in ACTIONS:
        if getattr(args, "scenario", None) is not None:
            return fail(f"no action {action!r} (there are: {', '.join(ACTIONS)})")
        args.action, args.scenario = "run", action
    from opsconsole.documents.problems import ProblemsFound
    from opsconsole.drills.model import find_drills, load_drills, target_problem
    from opsconsole.runbooks.model import find_runbooks, load_runbooks

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
        library = load_runbooks(find_runbooks(option(args, "runbooks"), loaded.runbooks_path()))
        book = load_drills(find_drills(option(args, "drills")), library)
    except ProblemsFound as error:
        print(error, file=sys.stderr)
        return EXIT_PROBLEMS
    if args.action == "recover":
        print(f"{len(left_behind)} left-behind faults undone")
        return EXIT_OK
    if args.action == "list":
        # Columns as wide as their longest entry: a scenario file may hold longer names.
        rows = [(d.id, d.target, d.fault.kind) for d in book.drills]
        wide = [max(len(text) for text in column) for column in zip(*rows, strict=True)]
        for drill in book.drills:
            problem = target_problem(config, drill)
            print(
                f"{drill.id:<{wide[0]}}  {drill.target:<{wide[1]}}  {drill.fault.kind:<{wide[2]}}  "
                f"{problem or 'ready'}"
            )
        return EXIT_OK
    return _run(args, config_book=(loaded, book, library))


def _run(args: argparse.Namespace, config_book: tuple[LoadedConfig, DrillBook, Library]) -> int:
    import asyncio
    import tempfile

    from opsconsole.cli.terminal import printer
    from opsconsole.drills.auto import run_drill
    from opsconsole.drills.model import target_problem
    from opsconsole.drills.pending import default_directory

    loaded, book, library = config_book
    if not getattr(args, "auto", False):
        return _in_the_dashboard(args, loaded, book, library)
    overrule: dict[str, int] = {}
    for each in getattr(args, "overrule", []):
        step, _, number = each.partition("=")
        if not number.isdigit() or int(number) < 1:
            return fail(f"--overrule {each!r}: write STEP=N, N the answer's number from 1")
        overrule[step] = int(number)
    skipped: list[str] = []
    if getattr(args, "all", False):
        chosen = []
        for each in book.drills:
            if (problem := target_problem(loaded.config, each)) is not None:
                # Not this configuration's to prove: no failure, and no silence either.
                print(f"-- drill {each.id}: does not apply here: {problem}")
                skipped.append(each.id)
            else:
                chosen.append(each)
        if not chosen:
            print("opsconsole: no scenario applies to this configuration", file=sys.stderr)
            return EXIT_FAILED
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
    if (limit := getattr(args, "time_limit", None)) is not None:
        if not 0 < limit <= 86400:
            return fail(f"--time-limit {limit:g}: seconds, more than 0 and at most 86400")
        chosen = [each.model_copy(update={"time_limit_seconds": limit}) for each in chosen]
    if overrule and (problem := _overrule_problem(overrule, chosen, library)):
        return fail(problem)
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
                emit=printer(sys.stdout, checklists=True),
                overrule=overrule,
            )
        )
        if outcome.passed and outcome.broke_after is None:  # a rehearsal: nothing broken
            print(f"✔ {drill.id}: {outcome.reason}, {outcome.recovered_after:.1f} s")
        elif outcome.passed:
            print(
                f"✔ {drill.id}: broken after {outcome.broke_after:.1f} s, "
                f"back after {outcome.recovered_after:.1f} s: {outcome.reason}"
            )
        else:
            failed.append(drill.id)
    if len(chosen) > 1 or skipped:
        print(
            f"{len(chosen) - len(failed)} of {len(chosen)} drills passed"
            + (f"; failed: {', '.join(failed)}" if failed else "")
            + (f"; {len(skipped)} do not apply here: {', '.join(skipped)}" if skipped else "")
        )
    return EXIT_FAILED if failed else EXIT_OK


def _overrule_problem(
    overrule: dict[str, int], chosen: list[Drill], library: Library
) -> str | None:
    """Why --overrule does not fit every chosen scenario's runbook: a typo would rehearse
    nothing and still report a failure."""
    from opsconsole.runbooks.model import DecisionStep

    for drill in chosen:
        for key, number in overrule.items():
            runbook, _, step = key.rpartition("/")
            runbook = runbook or drill.runbook
            if runbook not in _called(library, drill.runbook):
                return f"--overrule {key}: {drill.runbook} does not run '{runbook}'"
            book = library.get(runbook)
            decisions = {s.id: s for s in book.steps if isinstance(s, DecisionStep)} if book else {}
            decision = decisions.get(step)
            if decision is None:
                known = ", ".join(decisions) or "none"
                return f"--overrule {key}: no decision '{step}' in {runbook} ({known})"
            if number > len(decision.answers):
                return f"--overrule {key}={number}: '{step}' has {len(decision.answers)} answers"
    return None


def _called(library: Library, runbook: str) -> set[str]:
    """The runbook and every runbook it runs, however deep (check refuses cycles)."""
    from opsconsole.runbooks.model import RunbookStep

    found, todo = set(), [runbook]
    while todo:
        book = library.get(todo.pop())
        if book is None or book.id in found:
            continue
        found.add(book.id)
        todo += [s.runbook for s in book.steps if isinstance(s, RunbookStep)]
    return found


def undo_left_behind(config: Config) -> list[Recovered]:
    """Undoes, and says on stderr, the faults a killed drill left behind."""
    from opsconsole.drills.pending import default_directory, recover

    found = recover(default_directory(), config)
    for each in found:
        print(each, file=sys.stderr)
    return found


def _in_the_dashboard(
    args: argparse.Namespace, loaded: LoadedConfig, book: DrillBook, library: Library
) -> int:
    """The trainee's drill: the dashboard in drill mode, the fault injected unseen."""
    from opsconsole.drills.model import DrillPlan, target_problem
    from opsconsole.drills.pending import default_directory
    from opsconsole.incidents.stores import store_for
    from opsconsole.tui.app import make_app

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
    if app.drill_mode.report_path is not None:
        print(f"drill report: {app.drill_mode.report_path}")
    return EXIT_OK


def _config(args: argparse.Namespace) -> LoadedConfig | None:
    from opsconsole.config.locate import ConfigNotFound, find_config
    from opsconsole.config.model import load_config
    from opsconsole.documents.problems import ProblemsFound

    try:
        return load_config(find_config(option(args, "config")))
    except ConfigNotFound as error:
        print(
            f"opsconsole: {error}: a drill needs the configuration that marks its sandbox",
            file=sys.stderr,
        )
    except ProblemsFound as error:
        print(error, file=sys.stderr)
    return None
