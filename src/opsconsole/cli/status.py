"""`opsconsole status [--json]`: one poll of every configured source, for a quick look or
a cron job; exit 1 when something breaches."""

from __future__ import annotations

import argparse
import sys

from opsconsole.cli.common import EXIT_PROBLEMS, Commands, option


def add_parser(commands: Commands, files: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "status",
        parents=[files],
        help="poll every configured source once and print it (exit 1 on a breach)",
        description="Poll every configured source once: health, metrics, PostgreSQL, Redis, "
        "Docker. Exit 0 when nothing breaches a threshold, 1 when something does, 2 on a "
        "configuration error.",
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts and cron")
    parser.set_defaults(main=main)


def main(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from opsconsole.cli.status_report import (
        EXIT_BREACHED,
        EXIT_HEALTHY,
        render_table,
        snapshot_json,
    )
    from opsconsole.config.locate import ConfigNotFound, find_config
    from opsconsole.config.model import load_config
    from opsconsole.documents.problems import ProblemsFound
    from opsconsole.monitoring.monitor import Monitor

    as_json = getattr(args, "json", False)
    try:
        loaded = load_config(find_config(option(args, "config")))
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
