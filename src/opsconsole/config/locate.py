"""Where the configuration is found. Apart from its schema: a command finds its file (or
says there is none) without loading pydantic."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

CONFIG_FILENAME = "opsconsole.toml"
CONFIG_ENV = "OPSCONSOLE_CONFIG"


def config_candidates(explicit: Path | None, env: Mapping[str, str]) -> list[Path]:
    """Where the configuration is looked for, first match wins."""
    if explicit is not None:
        return [explicit]
    if env.get(CONFIG_ENV):
        return [Path(env[CONFIG_ENV])]
    xdg = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return [Path(CONFIG_FILENAME), xdg / "opsconsole" / CONFIG_FILENAME]


class ConfigNotFound(Exception):
    def __init__(self, looked_in: list[Path], *, named: bool) -> None:
        self.looked_in = looked_in
        self.named = named
        """The user named the file (--config or $OPSCONSOLE_CONFIG): its absence is an error."""
        places = ", ".join(str(p) for p in looked_in)
        super().__init__(f"no configuration found (looked in: {places})")


def find_config(explicit: Path | None, env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    candidates = config_candidates(explicit, env)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ConfigNotFound(candidates, named=explicit is not None or bool(env.get(CONFIG_ENV)))
