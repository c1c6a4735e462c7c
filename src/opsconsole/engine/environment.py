"""The environment a runbook's commands run in: the console's own, with its own
`opsconsole` first on PATH. Runbooks and drills call the console itself (`opsconsole demo
restart backend`); it must be the one running them, whatever PATH the engineer's shell
holds: `./scripts/demo` never puts `.venv/bin` on it."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path


def own_bin_directory() -> Path | None:
    """Where the running console's `opsconsole` is: beside its interpreter (a virtual
    environment, pipx, a system install)."""
    directory = Path(sys.executable).parent
    return directory if (directory / "opsconsole").is_file() else None


def command_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    environment = dict(os.environ if base is None else base)
    own = own_bin_directory()
    if own is None:
        return environment
    path = [p for p in environment.get("PATH", os.defpath).split(os.pathsep) if p]
    environment["PATH"] = os.pathsep.join([str(own), *(p for p in path if p != str(own))])
    return environment
