"""Where opsconsole keeps what must outlive a process: the XDG state directory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def state_directory(*parts: str, env: Mapping[str, str] | None = None) -> Path:
    """$XDG_STATE_HOME/opsconsole/..., or ~/.local/state/opsconsole/..."""
    environ = os.environ if env is None else env
    state = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state, "opsconsole", *parts)
