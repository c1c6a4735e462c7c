"""`docker compose` for the tests: Debian's Compose v1 (`docker-compose`, installed by
scripts/bootstrap) given to the docker CLI as its compose plugin, in a DOCKER_CONFIG of
the test's own (never the user's ~/.docker). Compose v2 is not packaged for Debian 12;
the runbooks' `docker compose -f FILE up -d SERVICE` means the same to both."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.servers import IN_CI

PLUGIN = """#!/bin/sh
# Docker's CLI plugin protocol: metadata when asked, else the command after its name.
if [ "$1" = docker-cli-plugin-metadata ]; then
  echo '{"SchemaVersion":"0.1.0","Vendor":"opsconsole tests","Version":"1.29.2"}'
  exit 0
fi
shift
exec docker-compose "$@"
"""


def compose_config(directory: Path) -> Path:
    """A DOCKER_CONFIG whose CLI knows `docker compose`."""
    if shutil.which("docker-compose") is None:
        missing = "docker-compose is not installed (scripts/bootstrap --servers installs it)"
        if IN_CI:
            pytest.fail(missing)
        pytest.skip(missing)
    plugins = directory / "cli-plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    plugin = plugins / "docker-compose"
    plugin.write_text(PLUGIN)
    plugin.chmod(0o755)
    return directory
