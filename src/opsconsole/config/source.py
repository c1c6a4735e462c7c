"""The configuration file a console was started on, and whether it has changed since.

An engineer who reads "set status_label = \"code\"" edits the file and presses `r`: the
console must take the new file then, not only at its next start. What changed is judged
by the bytes, not the time stamp: an editor that writes the same text again changes
nothing, and two saves within one second of the file system's clock are still seen."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from opsconsole.config.model import LoadedConfig, load_config


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None  # gone or unreadable: a change, said as such when it is loaded


@dataclass
class ConfigSource:
    path: Path
    loaded_digest: str | None

    @classmethod
    def of(cls, loaded: LoadedConfig) -> ConfigSource:
        """The file `loaded` came from, as it is now (just read: the same bytes)."""
        return cls(loaded.path, _digest(loaded.path))

    def changed(self) -> bool:
        return _digest(self.path) != self.loaded_digest

    def load(self, env: Mapping[str, str] | None = None) -> tuple[LoadedConfig, str | None]:
        """The file as it is now (ProblemsFound if it is not valid), and what to pass to
        `taken` once the console runs on it: until then it still counts as a change, so
        that an invalid save, or one the console could not take yet, is met again."""
        digest = _digest(self.path)
        return load_config(self.path, env), digest

    def taken(self, digest: str | None) -> None:
        self.loaded_digest = digest
