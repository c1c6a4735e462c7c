"""`opsconsole hosts check NAME`: whether a host of [[hosts]] can be reached as the console
reaches it (the same ssh, the same options), and if not, why: `cause=refused` and ssh's
own words. Exit 0 when it can, 1 when it cannot, 2 on a configuration error. The
host-unreachable runbook runs it to choose its branch, and again to verify."""

from __future__ import annotations

import argparse
import sys

from opsconsole.cli.common import EXIT_FAILED, EXIT_OK, EXIT_PROBLEMS, Commands, option


def add_parser(commands: Commands, files: argparse.ArgumentParser) -> None:
    hosts = commands.add_parser(
        "hosts",
        help="the hosts behind the bastion: can each be reached, and if not, why",
        description="The hosts of [[hosts]], reached with the console's own ssh options.",
    )
    actions = hosts.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check",
        parents=[files],
        help="reach a host as the console does; say why not (exit 1)",
        description="Reach a host as the console does (BatchMode, StrictHostKeyChecking=yes, "
        "its kept connection) and print cause=none, or the cause (dns, refused, timeout, "
        "host_key_changed, host_key_unknown, auth, jump, other) with ssh's own words. "
        "Exit 0 when it can be reached, 1 when it cannot, 2 on a configuration error.",
        argument_default=argparse.SUPPRESS,
    )
    check.add_argument("name", help="the host's name in [[hosts]]")
    check.set_defaults(main=main)


def main(args: argparse.Namespace) -> int:
    from opsconsole.config.locate import ConfigNotFound, find_config
    from opsconsole.config.model import load_config
    from opsconsole.documents.problems import ProblemsFound
    from opsconsole.sources.ssh import Unreachable, cause_of, reach

    try:
        config = load_config(find_config(option(args, "config"))).config
    except (ConfigNotFound, ProblemsFound) as error:
        print(f"opsconsole: {error}", file=sys.stderr)
        return EXIT_PROBLEMS
    hosts = config.hosts_by_name()
    host = hosts.get(args.name)
    if host is None:
        known = ", ".join(hosts) or "none configured"
        print(f"opsconsole: no host '{args.name}' in [[hosts]] ({known})", file=sys.stderr)
        return EXIT_PROBLEMS
    through = f" through {host.jump}" if host.jump else ""
    print(f"host {host.name}: ssh {host.ssh}{through}")
    try:
        reach(host)
    except Unreachable as error:
        print(f"cause={cause_of(str(error))}\n{error}")
        return EXIT_FAILED
    except (OSError, TimeoutError) as error:  # ssh itself missing, or hung past its timeout
        print(f"cause=other\n{error}")
        return EXIT_FAILED
    print("cause=none\nreached: its kept connection is up")
    return EXIT_OK
