"""`opsconsole run RUNBOOK`: a runbook step by step in this terminal, without the
dashboard. Exit 0 when it completes, 1 when a step fails, 3 when it is stopped, 2 on a
configuration or parameter error."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from opsconsole.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_STOPPED,
    Commands,
    option,
)

if TYPE_CHECKING:
    from opsconsole.engine.runner import Runner, RunResult


def add_parser(commands: Commands, files: argparse.ArgumentParser) -> None:
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
    run.set_defaults(main=main)


def main(args: argparse.Namespace) -> int:
    import asyncio
    import tempfile

    from opsconsole.cli.terminal import TerminalOperator, printer
    from opsconsole.config.locate import ConfigNotFound, find_config
    from opsconsole.config.model import load_config
    from opsconsole.documents.problems import ProblemsFound
    from opsconsole.engine.control import RunOptions
    from opsconsole.engine.probes import ConfiguredProbes
    from opsconsole.engine.render import ParamError
    from opsconsole.engine.runner import Runner, operator_name
    from opsconsole.runbooks.model import find_runbooks, load_runbooks

    environment = "unlabelled"
    configured_runbooks = None
    config = None
    try:
        loaded = load_config(find_config(option(args, "config")))
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
        library = load_runbooks(find_runbooks(option(args, "runbooks"), configured_runbooks))
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
    declared = {param.name for param in book.params}
    service = next((s for s in config.services if s.name == params.get("service")), None) if (
        config is not None
    ) else None  # fmt: skip
    if "service_host" in declared and "service_host" not in params and service and service.host:
        # As the dashboard's offer does: docker run here would act on this machine's engine.
        params["service_host"] = service.host
        print(f"{service.name} runs on {service.host}: its docker steps run there")
    operator = TerminalOperator(operator_name(), assume_yes=getattr(args, "yes", False))
    artifacts = Path(tempfile.mkdtemp(prefix=f"opsconsole-{book.id}-"))
    options = RunOptions(
        environment=environment,
        artifacts=artifacts,
        dry_run=getattr(args, "dry_run", False),
        read_only=getattr(args, "read_only", False),
        hosts=config.hosts_by_name() if config is not None else {},
    )
    record = printer(sys.stdout)
    if incident_prefix := getattr(args, "incident", None):
        from opsconsole.incidents.model import Actor
        from opsconsole.incidents.recorder import IncidentRecorder, chained
        from opsconsole.incidents.store import StoreError
        from opsconsole.incidents.stores import store_for

        store = store_for(loaded if config is not None else None)
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
        runner = Runner(
            book, params, operator, record, options, probes=ConfiguredProbes(config),
            library=library,
        )  # fmt: skip
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
    result = asyncio.run(_interruptible(runner))
    return {"completed": EXIT_OK, "failed": EXIT_FAILED}.get(result.outcome, EXIT_STOPPED)


async def _interruptible(runner: Runner) -> RunResult:
    """The run, with Ctrl+C (or a SIGTERM) as an abort: the command's process group is
    ended, the rollback runs, the record is closed with the run's end, exit 3. Not a
    KeyboardInterrupt that would leave all of that undone."""
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    interrupted = 0

    def interrupt() -> None:
        nonlocal interrupted
        interrupted += 1
        if interrupted == 1:
            print("\nopsconsole: interrupted: aborting the run (its rollback runs)", flush=True)
            runner.abort()
        else:
            print("opsconsole: still ending the run and its rollback", flush=True)

    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, interrupt)
    try:
        return await runner.run()
    finally:
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)
