"""`opsconsole demo [serve | status | fault SERVICE KIND | clear SERVICE]`: the dashboard
on the embedded demo fleet, the fleet alone, and its faults set and cleared from another
terminal, a runbook or a drill."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from opsconsole.cli.common import EXIT_FAILED, EXIT_OK, EXIT_PROBLEMS, Commands, option
from opsconsole.demo.faults import FAULTS

if TYPE_CHECKING:
    from opsconsole.tui.app import Parts


def add_parser(commands: Commands, files: argparse.ArgumentParser) -> None:
    demo = commands.add_parser(
        "demo",
        help="open the dashboard on the embedded demo fleet (no servers, no config)",
        description="Start a demo fleet of real HTTP services on loopback inside this "
        "process and open the dashboard on it. Needs no configuration file. While it "
        "runs, the other actions reach it from any terminal of the same user.",
    )
    demo.set_defaults(main=main)
    actions = demo.add_subparsers(dest="demo_action", metavar="ACTION")
    actions.add_parser(
        "serve",
        help="run the demo fleet without the dashboard, until interrupted",
        description="Run the demo fleet without the dashboard. It writes a configuration "
        "that points at it, for `opsconsole --config FILE` (and drills) in another terminal.",
    )
    actions.add_parser("status", help="each service of the running demo fleet, and its fault")
    fault = actions.add_parser("fault", help="set a fault on a service of the running fleet")
    fault.add_argument("service")
    fault.add_argument("kind", choices=FAULTS)
    clear = actions.add_parser(
        "clear",
        aliases=["restart"],
        help="clear a service's fault (a DOWN one is started again, on the same port)",
    )
    clear.add_argument("service")


def main(args: argparse.Namespace) -> int:
    if args.demo_action is None:
        return dashboard(args)
    if args.demo_action == "serve":
        return serve()
    from opsconsole.demo.control import DemoControlError, call

    try:
        if args.demo_action == "status":
            answer = call({"op": "status"})
            for each in answer["services"]:
                print(f"{each['service']:<12} {each['fault']:<10} {each['health_url']}")
            # Last, after the services: what a script reads of them is its first lines.
            print(f"configuration: {answer['config']} (for --config, here and in drills)")
        elif args.demo_action == "fault":
            print(call({"op": "fault", "service": args.service, "fault": args.kind})["said"])
        else:
            print(call({"op": "clear", "service": args.service})["said"])
    except DemoControlError as error:
        print(f"opsconsole: {error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def dashboard(args: argparse.Namespace) -> int:
    """The dashboard on a fleet of this process's own, started in the app's loading
    thread once the first frame is out, and stopped when the app ends."""
    from opsconsole.cli.dashboard import run_app

    with contextlib.ExitStack() as fleet:
        return run_app(lambda: _demo(fleet, option(args, "runbooks")), "the demo fleet", "demo")


def _demo(fleet: contextlib.ExitStack, runbooks: Path | None) -> Parts:
    from opsconsole.cli.common import drills_offered
    from opsconsole.demo.control import ControlServer
    from opsconsole.demo.fleet import DemoFleet
    from opsconsole.documents.problems import ProblemsFound
    from opsconsole.incidents.files import FileStore, default_directory
    from opsconsole.incidents.session import IncidentSession
    from opsconsole.monitoring.monitor import Monitor
    from opsconsole.runbooks.model import find_runbooks, load_runbooks
    from opsconsole.tui.app import NotStarted, Parts

    try:
        library_path = find_runbooks(runbooks, None)
        library = load_runbooks(library_path)
    except ProblemsFound as error:
        raise NotStarted(str(error), EXIT_PROBLEMS) from error
    drills, why_none = drills_offered(library, library_path)
    demo = fleet.enter_context(DemoFleet())
    # The control channel lets the demo's runbooks and drills set and clear its faults.
    fleet.enter_context(ControlServer(demo))
    config = demo.config()
    session = IncidentSession(FileStore(default_directory()), config, library)
    said = [why_none] if why_none else []
    return Parts(config, Monitor(config), library, session, drills, said=said)


def serve() -> int:
    import signal
    import threading

    from opsconsole.demo.control import ControlServer
    from opsconsole.demo.fleet import DemoFleet

    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    with DemoFleet() as fleet, ControlServer(fleet) as control:
        print(f"demo fleet running; its configuration: {control.config_path}", flush=True)
        for service in fleet.services.values():
            print(f"  {service.name:<12} {service.health_url}", flush=True)
        stop.wait()
    return EXIT_OK
