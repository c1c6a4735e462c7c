"""The newest backup in a directory, and how old it is: what an RPO is measured against.
Read on this host's file system (a mounted backup volume, or where pg_dump writes)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BackupReading:
    directory: str
    newest: str | None
    """The newest file's name; None when there is none."""
    age_seconds: float | None
    error: str | None = None
    """Why the directory could not be read."""


UNFINISHED = (".partial", ".tmp")
"""A dump still being written (postgres-backup writes to NAME.partial, then renames it)."""


def read_backups(directory: Path) -> BackupReading:
    """The newest backup: a file that is whole (not empty, not one still being written),
    so that a dump in progress never reads as a fresh backup."""
    try:
        files = [
            entry
            for entry in directory.iterdir()
            if entry.is_file() and not entry.name.endswith(UNFINISHED) and entry.stat().st_size > 0
        ]
    except OSError as error:
        return BackupReading(str(directory), None, None, error.strerror or str(error))
    if not files:
        return BackupReading(str(directory), None, None)
    newest = max(files, key=lambda entry: entry.stat().st_mtime)
    return BackupReading(str(directory), newest.name, time.time() - newest.stat().st_mtime)
