"""`opsconsole doctor`: every configured backend asked once, each problem with its fix."""

from __future__ import annotations

import argparse
import sys

from opsconsole.cli.common import EXIT_FAILED, EXIT_OK, EXIT_PROBLEMS, Commands, option


def add_parser(commands: Commands, files: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "doctor",
        parents=[files],
        help="ask every configured backend once; each problem with its fix (exit 1)",
        description="Connect to every configured backend once and report what the "
        "dashboard would otherwise show as a dash or a partial figure: health URLs (and "
        "certificates), Prometheus (the metric names and labels, targets down), "
        "PostgreSQL (pg_stat_statements, the role's view of other sessions), Redis "
        "(maxmemory, the queues), Docker (the containers named). Exit 0 when all is "
        "well, 1 when something is not, 2 on a configuration error.",
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.set_defaults(main=main)


def main(args: argparse.Namespace) -> int:
    import asyncio
    import json
    from dataclasses import asdict

    from opsconsole.config.locate import ConfigNotFound, find_config
    from opsconsole.config.model import load_config
    from opsconsole.documents.problems import ProblemsFound, printable
    from opsconsole.monitoring.doctor import diagnose

    try:
        loaded = load_config(find_config(option(args, "config")))
    except (ConfigNotFound, ProblemsFound) as error:
        print(f"opsconsole: {error}", file=sys.stderr)
        return EXIT_PROBLEMS
    found = asyncio.run(diagnose(loaded.config))
    if getattr(args, "json", False):
        print(json.dumps({"findings": [asdict(f) for f in found]}, indent=2))
    else:
        width = max((len(f.subject) for f in found), default=0)
        for finding in found:
            mark = "✔" if finding.ok else "✖"
            fix = (
                f"\n  {' ' * width}   fix: {finding.fix}" if finding.fix and not finding.ok else ""
            )
            print(printable(f"{mark} {finding.subject:<{width}}  {finding.said}") + fix)
        problems = sum(not f.ok for f in found)
        print(f"{problems} problem{'' if problems == 1 else 's'}" if problems else "all well")
    return EXIT_FAILED if any(not f.ok for f in found) else EXIT_OK
