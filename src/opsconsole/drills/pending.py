"""Faults injected and not yet undone, on disk: written (and fsynced) before a fault is
injected and removed once it is undone, so that the next start undoes what a killed
console left behind. Each record names the process that owns it: a drill still running
in another console is not one left behind."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opsconsole.common.paths import state_directory
from opsconsole.config.model import Config
from opsconsole.drills.fault import FaultRefused
from opsconsole.drills.faults import undo_recorded

SUFFIX = ".pending.json"


def default_directory(env: dict[str, str] | None = None) -> Path:
    return state_directory("drills", env=env)


def write_pending(directory: Path, run: str, record: dict[str, Any]) -> Path:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / f"{run}{SUFFIX}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    owner = {"pid": os.getpid(), "started": _started(os.getpid())}
    try:
        os.write(fd, json.dumps({**record, "run": run, "owner": owner}).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the new name is durable too
    finally:
        os.close(dir_fd)
    return path


def done(path: Path) -> None:
    path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Recovered:
    run: str
    said: str
    undone: bool

    def __str__(self) -> str:
        state = "undone" if self.undone else "STILL IN PLACE"
        return f"drill {self.run} left a fault behind, {state}: {self.said}"


def recover(directory: Path, config: Config) -> list[Recovered]:
    """Undoes every fault a drill left behind. One that cannot be undone now stays on
    record, to be tried again, and says why."""
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        run = path.name.removesuffix(SUFFIX)
        try:
            record = json.loads(path.read_text())
            if _owner_alive(record.get("owner")):
                continue
            said = undo_recorded(record, config)
        except (OSError, ValueError, KeyError, FaultRefused) as error:
            found.append(Recovered(run, f"not undone: {error}", undone=False))
            continue
        except Exception as error:  # a server down now: tried again at the next start
            found.append(Recovered(run, f"not undone yet: {error}", undone=False))
            continue
        done(path)
        found.append(Recovered(run, said, undone=True))
    return found


def _started(pid: int) -> int | None:
    """When the process started (clock ticks since boot): with the pid, who it is, since
    a pid is reused. None where /proc does not tell, and for a killed process its parent
    has not yet reaped (a zombie runs nothing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields 3 and 22, counted after the command name, which may hold spaces and ")".
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else int(fields[19])


def _owner_alive(owner: object) -> bool:
    """Whether the process that wrote the record still runs (then its drill does too)."""
    if not isinstance(owner, dict) or not isinstance(owner.get("pid"), int):
        return False  # written before records named their owner: left behind
    pid: int = owner["pid"]
    started = _started(pid)
    if started is not None or owner.get("started") is not None:
        return started == owner.get("started")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True
