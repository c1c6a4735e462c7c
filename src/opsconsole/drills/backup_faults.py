"""A backup older than its RPO: every file in the backup directory dated back past it, as
when the nightly job has not run for a day and more. Undone by giving each file its own
time again; what the runbook wrote meanwhile (a new backup) stays."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsconsole.drills.fault import FaultRefused


@dataclass
class BackupStale:
    directory: str
    rpo_hours: float
    times: dict[str, float] = field(default_factory=dict)
    """Each file's modification time before the fault: what undo gives back."""

    def record(self) -> dict[str, Any]:
        self.times = _times(Path(self.directory))
        return {"kind": "postgres_backup_stale", "directory": self.directory, "times": self.times}

    def inject(self) -> str:
        if not self.times:
            raise FaultRefused(f"no backup in {self.directory} to make stale")
        then = time.time() - (self.rpo_hours + 1) * 3600
        for name in self.times:
            os.utime(Path(self.directory) / name, (then, then))
        return f"{len(self.times)} backups in {self.directory} dated {self.rpo_hours + 1:g} h back"

    def undo(self) -> str:
        return restore_times(self.directory, self.times)


def _times(directory: Path) -> dict[str, float]:
    try:
        return {e.name: e.stat().st_mtime for e in directory.iterdir() if e.is_file()}
    except OSError:
        return {}


def restore_times(directory: str, times: dict[str, Any]) -> str:
    """Gives each file still there its time again (safe to run twice)."""
    restored = 0
    for name, mtime in times.items():
        path = Path(directory) / name
        if path.is_file():
            os.utime(path, (float(mtime), float(mtime)))
            restored += 1
    return f"{restored} backups in {directory} given their times again"
