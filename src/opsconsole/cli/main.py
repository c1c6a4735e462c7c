"""The ``opsconsole`` command: the TUI, the demo, and ``check``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from opsconsole import __version__
from opsconsole.cli import demo as demo_commands
from opsconsole.cli import drill as drill_commands
from opsconsole.cli import incidents as incidents_commands
from opsconsole.config.model import ConfigNotFound, LoadedConfig, find_config, load_config
from opsconsole.documents.problems import ProblemsFound, display_path
from opsconsole.drills.model import find_drills, load_drills
from opsconsole.runbooks.model import Library, find_runbooks, load_runbooks

EXIT_OK = 0
EXIT_PROBLEMS = 2


def build_parser() -> argparse.ArgumentParser:
    # Given before the command or after it, a file counts: a subcommand's own copy of the
    # option must not put None over the one given before it (see `main`).
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
    parser = argparse.ArgumentParser(
        prog="opsconsole",
        description="Terminal operations console for on-call engineers. "
        "With no command, opens the dashboard on the configuration it finds.",
        parents=[files],
    )
    parser.add_argument("--version", action="version", version=f"opsconsole {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo_commands.add_parser(commands)
    commands.add_parser(
        "check",
        parents=[files],
        help="validate the configuration and the runbook library",
        description="Validate the configuration and the runbook library. Prints every "
        "problem as FILE:LINE:COL: message and exits 2, or exits 0 when all is well.",
        argument_default=argparse.SUPPRESS,
    )
    status = commands.add_parser(
        "status",
        parents=[files],
        help="poll every configured source once and print it (exit 1 on a breach)",
        description="Poll every configured source once: health, metrics, PostgreSQL, Redis, "
        "Docker. Exit 0 when nothing breaches a threshold, 1 when something does, 2 on a "
        "configuration error.",
        argument_default=argparse.SUPPRESS,
    )
    status.add_argument("--json", action="store_true", help="print JSON for scripts and cron")
    run = commands.add_parser(
        "run",
        parents=[files],
        help="run a runbook in this terminal, without the dashboard",
        description="Run a runbook step by step in this terminal: output streams as it "
        "comes, destructive steps ask for a typed confirmation, decisions and notes are "
        "asked here. Exit 0 when it completes, 1 when a step fails, 3 when it is stopped, "
        "2 on a configuration or parameter error.",
        argument_default=argparse.SUPPRESS,
    )
    run.add_argument("runbook", help="the runbook's id (see `opsconsole check`)")
    run.add_argument(
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="a parameter of the runbook; repeat for more",
    )
    run.add_argument("--yes", action="store_true", help="confirm destructive steps unasked")
    run.add_argument("--dry-run", action="store_true", help="print each command; run none")
    run.add_argument(
        "--read-only", action="store_true", help="refuse every destructive step outright"
    )
    run.add_argument(
        "--incident",
        metavar="ID",
        help="record every step into this open incident (its id or a prefix of it)",
    )
    incidents_commands.add_parser(commands, files)
    drill_commands.add_parser(commands, files)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(drill_commands.with_run_implied(arguments))
    for option in ("config", "runbooks"):
        setattr(args, option, getattr(args, option, None))
    if args.command == "check":
        return check(args.config, args.runbooks)
    if args.command == "status":
        return run_status(args.config, getattr(args, "json", False))
    if args.command == "demo":
        if args.demo_action is not None:
            return demo_commands.main(args)
        return run_demo(args.runbooks)
    if args.command == "run":
        return run_runbook(args)
    if args.command == "incidents":
        return incidents_commands.main(args)
    if args.command == "drill":
        return drill_commands.main(args)
    return run_dashboard(args.config, args.runbooks)


def check(config_path: Path | None, runbooks_path: Path | None) -> int:
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

    drills_path = find_drills(None)
    try:
        drills = load_drills(drills_path, library)
        summary.append(f"{display_path(drills_path)}: {len(drills.drills)} drills")
    except ProblemsFound as error:
        problems.extend(str(p) for p in error.problems)

    if problems:
        print("\n".join(problems))
        return EXIT_PROBLEMS
    print("ok: " + "; ".join(summary))
    return EXIT_OK


def _load_or_report(
    config_path: Path | None, runbooks_path: Path | None
) -> tuple[LoadedConfig, Library] | None:
    """Both files valid, or every problem printed on stderr: nothing starts on a bad config."""
    try:
        loaded = load_config(find_config(config_path))
        library = load_runbooks(find_runbooks(runbooks_path, loaded.runbooks_path()))
    except ConfigNotFound as error:
        print(
            f"opsconsole: {error}\n"
            "Copy examples/opsconsole.toml to ./opsconsole.toml and edit it, "
            "or try `opsconsole demo`.",
            file=sys.stderr,
        )
        return None
    except ProblemsFound as error:
        print(error, file=sys.stderr)
        print("opsconsole: not started; `opsconsole check` lists these too.", file=sys.stderr)
        return None
    return loaded, library


def run_dashboard(config_path: Path | None, runbooks_path: Path | None) -> int:
    from opsconsole.tui.app import make_app  # Textual loads only for the commands that need it

    found = _load_or_report(config_path, runbooks_path)
    if found is None:
        return EXIT_PROBLEMS
    loaded, library = found
    drill_commands.undo_left_behind(loaded.config)  # a drill killed mid-run
    try:
        drills = load_drills(find_drills(None), library)
    except ProblemsFound as error:  # the dashboard is needed more than the drills
        print(f"{error}\nopsconsole: no drills offered until that is fixed", file=sys.stderr)
        drills = None
    store = incidents_commands.store_for(loaded)
    make_app(
        loaded.config, library=library, incidents=store, drills=drills, owns_process=True
    ).run()
    return EXIT_OK


def run_demo(runbooks_path: Path | None) -> int:
    from opsconsole.demo.control import ControlServer
    from opsconsole.demo.fleet import DemoFleet
    from opsconsole.tui.app import make_app

    try:
        library = load_runbooks(find_runbooks(runbooks_path, None))
    except ProblemsFound as error:
        print(error, file=sys.stderr)
        return EXIT_PROBLEMS
    try:
        drills = load_drills(find_drills(None), library)
    except ProblemsFound as error:  # the demo is needed more than the drills
        print(f"{error}\nopsconsole: no drills offered until that is fixed", file=sys.stderr)
        drills = None
    # The control channel lets the demo's runbooks and drills set and clear its faults.
    with DemoFleet() as fleet, ControlServer(fleet):
        make_app(fleet.config(), library=library, drills=drills, owns_process=True).run()
    return EXIT_OK


def run_status(config_path: Path | None, as_json: bool) -> int:
    import asyncio
    import json

    from opsconsole.cli.status_report import EXIT_BREACHED, EXIT_HEALTHY, render_table
    from opsconsole.monitoring.monitor import Monitor, snapshot_json

    try:
        loaded = load_config(find_config(config_path))
    except (ConfigNotFound, ProblemsFound) as error:
        print(f"opsconsole: {error}", file=sys.stderr)
        return EXIT_PROBLEMS

    async def poll_once() -> tuple[str, int]:
        monitor = Monitor(loaded.config)
        try:
            snapshot = await monitor.first_snapshot()
        finally:
            await monitor.aclose()
        output = (
            json.dumps(snapshot_json(loaded.config, snapshot), indent=2)
            if as_json
            else render_table(loaded.config, snapshot)
        )
        return output, EXIT_BREACHED if snapshot.breaches else EXIT_HEALTHY

    output, code = asyncio.run(poll_once())
    print(output)
    return code


EXIT_STEP_FAILED = 1
EXIT_STOPPED = 3


def run_runbook(args: argparse.Namespace) -> int:
    import asyncio
    import tempfile

    from opsconsole.cli.terminal import TerminalOperator, printer
    from opsconsole.engine.probes import ConfiguredProbes
    from opsconsole.engine.render import ParamError
    from opsconsole.engine.runner import Runner, RunOptions, operator_name

    environment = "unlabelled"
    configured_runbooks = None
    config = None
    try:
        loaded = load_config(find_config(args.config))
        config = loaded.config
        environment = loaded.config.console.environment
        configured_runbooks = loaded.runbooks_path()
    except ConfigNotFound as error:
        if error.named:
            print(f"opsconsole: {error}", file=sys.stderr)
            return EXIT_PROBLEMS
    except ProblemsFound as error:
        print(error, file=sys.stderr)
        return EXIT_PROBLEMS
    try:
        library = load_runbooks(find_runbooks(args.runbooks, configured_runbooks))
    except ProblemsFound as error:
        print(error, file=sys.stderr)
        return EXIT_PROBLEMS
    book = next((b for b in library.runbooks if b.id == args.runbook), None)
    if book is None:
        known = ", ".join(b.id for b in library.runbooks)
        print(f"opsconsole: no runbook '{args.runbook}' (there are: {known})", file=sys.stderr)
        return EXIT_PROBLEMS
    params: dict[str, str] = {}
    for pair in getattr(args, "param", None) or []:
        name, equals, value = pair.partition("=")
        if not equals:
            print(f"opsconsole: --param {pair!r}: expected NAME=VALUE", file=sys.stderr)
            return EXIT_PROBLEMS
        params[name.strip()] = value
    operator = TerminalOperator(operator_name(), assume_yes=getattr(args, "yes", False))
    artifacts = Path(tempfile.mkdtemp(prefix=f"opsconsole-{book.id}-"))
    options = RunOptions(
        environment=environment,
        artifacts=artifacts,
        dry_run=getattr(args, "dry_run", False),
        read_only=getattr(args, "read_only", False),
    )
    record = printer(sys.stdout)
    if incident_prefix := getattr(args, "incident", None):
        from opsconsole.incidents.model import Actor
        from opsconsole.incidents.recorder import IncidentRecorder, chained
        from opsconsole.incidents.store import StoreError

        store = incidents_commands.store_for(loaded if config is not None else None)
        try:
            incident = store.get(incident_prefix)
        except (StoreError, OSError) as error:
            print(f"opsconsole: {error}", file=sys.stderr)
            return EXIT_PROBLEMS
        # Written before it is printed: what the terminal shows is already on record.
        recorder = IncidentRecorder(store, incident.id, Actor.current())
        record = chained(recorder, record)
        print(f"recording into incident {incident.id}: {incident.title}")
    try:
        runner = Runner(book, params, operator, record, options, probes=ConfiguredProbes(config))
    except ParamError as error:
        print(f"opsconsole: {error}", file=sys.stderr)
        return EXIT_PROBLEMS
    if incident_prefix:

        def unrecorded(reason: str) -> None:
            print(f"opsconsole: {reason}; the run stops after this step", file=sys.stderr)
            runner.stop(reason)

        recorder.on_failure = unrecorded
    kept = "" if options.dry_run else f"; output kept in {artifacts}"
    print(f"{book.title} ({book.id}) on {environment}{kept}")
    result = asyncio.run(runner.run())
    return {"completed": EXIT_OK, "failed": EXIT_STEP_FAILED}.get(result.outcome, EXIT_STOPPED)
