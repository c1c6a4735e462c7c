"""`opsconsole incidents list | show | export | verify`."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from opsconsole.cli.common import EXIT_FAILED, EXIT_OK, EXIT_PROBLEMS, Commands, option

if TYPE_CHECKING:
    from opsconsole.config.model import LoadedConfig
    from opsconsole.incidents.store import IncidentStore


def add_parser(commands: Commands, files: argparse.ArgumentParser) -> None:
    incidents = commands.add_parser(
        "incidents",
        parents=[files],
        help="list, show, export and verify incident logs",
        description="The incident logs: `open --severity P1 --title TITLE`, `list`, "
        "`show ID`, `export ID --format md|json`, `verify ID` (exit 1 when the log was "
        "changed). An ID may be shortened to any prefix only it starts with.",
        argument_default=argparse.SUPPRESS,
    )
    incidents.set_defaults(main=main)
    actions = incidents.add_subparsers(dest="action", metavar="ACTION", required=True)
    # The files may be named after the action too: `incidents list --config F`.
    opening = actions.add_parser(
        "open",
        parents=[files],
        help="open an incident; prints its id first, for `run --incident`",
    )
    opening.add_argument("--title", required=True, help="what is wrong, in a line")
    opening.add_argument(
        "--severity", required=True, choices=("P0", "P1", "P2", "P3", "P4"), type=str.upper
    )
    opening.add_argument("--impact", default="", help="who is affected, and how")
    actions.add_parser("list", parents=[files], help="every incident, newest first")
    for name, help_text in (
        ("show", "an incident and its timeline"),
        ("verify", "check the hash chain: exit 1 naming each changed line"),
        ("export", "the incident update and the postmortem timeline"),
    ):
        action = actions.add_parser(name, parents=[files], help=help_text)
        action.add_argument("id", help="the incident's id, or a prefix of it")
        if name == "export":
            action.add_argument(
                "--format",
                choices=("md", "slack", "json"),
                default="md",
                help="md: the update and the postmortem timeline; slack: the update, "
                "to paste into the incident channel; json: every event",
            )


def main(args: argparse.Namespace) -> int:
    from opsconsole.config.locate import ConfigNotFound, find_config
    from opsconsole.config.model import load_config
    from opsconsole.documents.problems import ProblemsFound
    from opsconsole.incidents.store import StoreError
    from opsconsole.incidents.stores import store_for

    try:
        loaded: LoadedConfig | None = load_config(find_config(option(args, "config")))
    except ConfigNotFound as error:
        if error.named:
            print(f"opsconsole: {error}", file=sys.stderr)
            return EXIT_PROBLEMS
        loaded = None  # no configuration: the default directory
    except ProblemsFound as error:
        print(error, file=sys.stderr)
        return EXIT_PROBLEMS
    store = store_for(loaded)
    try:
        if args.action == "open":
            return _open(store, args, loaded)
        return _act(store, args)
    except (StoreError, OSError) as error:
        print(f"opsconsole: {error}", file=sys.stderr)
        return EXIT_PROBLEMS
    finally:
        store.close()


def _open(store: IncidentStore, args: argparse.Namespace, loaded: LoadedConfig | None) -> int:
    from opsconsole.incidents.model import Actor

    title = " ".join(args.title.split())
    if not title:
        print("opsconsole: --title: say in a line what is wrong", file=sys.stderr)
        return EXIT_PROBLEMS
    environment = loaded.config.console.environment if loaded else "unlabelled"
    incident = store.open(
        title, args.severity, Actor.current(), impact=args.impact, environment=environment
    )
    # Written and fsynced before it is said; the id first, for `run --incident "$id"`.
    print(f"{incident.id}  {incident.severity}  {incident.status}  {incident.title}")
    return EXIT_OK


def _act(store: IncidentStore, args: argparse.Namespace) -> int:
    from opsconsole.incidents.export import as_json, describe, markdown, slack, utc
    from opsconsole.incidents.files import FileStore

    if args.action == "list":
        found = sorted(store.incidents(), key=lambda i: i.started, reverse=True)
        if not found:
            where = store.directory if isinstance(store, FileStore) else "the shared store"
            print(f"no incidents in {where}")
        for incident in found:
            mode = "" if incident.mode == "real" else f" [{incident.mode.upper()}]"
            print(
                f"{incident.id}  {incident.severity}  {incident.status:<13}  "
                f"{utc(incident.started)}  {incident.title}{mode}"
            )
        return EXIT_OK
    incident_id = store.resolve(args.id)
    verification = store.read(incident_id)
    if args.action == "verify":
        for problem in verification.problems:
            print(f"✖ {problem}")
        if verification.torn:
            print(f"note: {verification.torn}")
        if not verification.ok:
            print(f"{incident_id}: the log was changed after it was written")
            return EXIT_FAILED
        print(f"ok: {incident_id}: {len(verification.events)} events, the chain holds")
        return EXIT_OK
    incident = store.get(incident_id)
    if args.action == "export":
        if args.format == "md":
            sys.stdout.write(markdown(incident, verification))
        elif args.format == "slack":
            sys.stdout.write(slack(incident))
        else:
            sys.stdout.write(as_json(incident, verification))
        return EXIT_OK
    print(
        f"{incident.id}  {incident.title}\n{incident.severity} · {incident.status} · "
        f"commander {incident.commander} · started {utc(incident.started)}"
    )
    for event in incident.events:
        print(f"{event.at:%H:%M:%S} {event.who.name:<10} {describe(event)}")
    if not verification.ok:
        print(f"✖ the log was changed: `opsconsole incidents verify {incident.id}`")
    return EXIT_OK
