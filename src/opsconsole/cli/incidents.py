"""`opsconsole incidents list | show | export | verify`."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from opsconsole.cli.common import EXIT_FAILED, EXIT_OK, EXIT_PROBLEMS, Commands, option

if TYPE_CHECKING:
    from opsconsole.incidents.store import IncidentStore


def add_parser(commands: Commands, files: argparse.ArgumentParser) -> None:
    incidents = commands.add_parser(
        "incidents",
        parents=[files],
        help="list, show, export and verify incident logs",
        description="The incident logs: `list`, `show ID`, `export ID --format md|json`, "
        "`verify ID` (exit 1 when the log was changed). An ID may be shortened to any "
        "prefix only it starts with.",
        argument_default=argparse.SUPPRESS,
    )
    incidents.set_defaults(main=main)
    actions = incidents.add_subparsers(dest="action", metavar="ACTION", required=True)
    # The files may be named after the action too: `incidents list --config F`.
    actions.add_parser("list", parents=[files], help="every incident, newest first")
    for name, help_text in (
        ("show", "an incident and its timeline"),
        ("verify", "check the hash chain: exit 1 naming each changed line"),
        ("export", "the incident update and the postmortem timeline"),
    ):
        action = actions.add_parser(name, parents=[files], help=help_text)
        action.add_argument("id", help="the incident's id, or a prefix of it")
        if name == "export":
            action.add_argument("--format", choices=("md", "json"), default="md")


def main(args: argparse.Namespace) -> int:
    from opsconsole.config.locate import ConfigNotFound, find_config
    from opsconsole.config.model import LoadedConfig, load_config
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
        return _act(store, args)
    except (StoreError, OSError) as error:
        print(f"opsconsole: {error}", file=sys.stderr)
        return EXIT_PROBLEMS
    finally:
        store.close()


def _act(store: IncidentStore, args: argparse.Namespace) -> int:
    from opsconsole.incidents.export import as_json, describe, markdown, utc
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
        text = (
            markdown(incident, verification)
            if args.format == "md"
            else as_json(incident, verification)
        )
        sys.stdout.write(text)
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
