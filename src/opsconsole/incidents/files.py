"""The embedded store: one append-only JSON Lines file per incident.

Every append holds an exclusive lock on the file for the read of the last event, the write
and the fsync, so two consoles on one bastion never interleave or fork the chain. The
file is 0600 in a 0700 directory: an incident log names hosts, commands and people.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from opsconsole.common.paths import state_directory
from opsconsole.incidents.chain import Verification, make_event, to_line, verify_lines
from opsconsole.incidents.model import Actor, Event, Kind
from opsconsole.incidents.store import IncidentExists, IncidentStore, StoreError, UnknownIncident

SUFFIX = ".jsonl"
TORN_SUFFIX = ".torn"
_TAIL_CHUNK = 64 * 1024


class DamagedLog(StoreError):
    """The last whole line of a log is not an event: nothing can be chained to it."""


def default_directory(env: dict[str, str] | None = None) -> Path:
    return state_directory("incidents", env=env)


class FileStore(IncidentStore):
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, incident: str) -> Path:
        if not incident or "/" in incident or incident.startswith("."):
            raise UnknownIncident(f"not an incident id: {incident!r}")
        return self.directory / f"{incident}{SUFFIX}"

    def _create(self, incident: str, data: dict[str, Any], who: Actor) -> Event:
        self._make_directory()
        event = make_event(incident, None, Kind.OPENED, data, who)
        try:
            fd = os.open(
                self.path(incident), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600
            )
        except FileExistsError:
            raise IncidentExists(f"incident {incident} exists already") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            _write_durably(fd, to_line(event))
        finally:
            os.close(fd)
        _fsync_directory(self.directory)  # the new file's name is durable too
        return event

    def append(self, incident: str, kind: str, data: dict[str, Any], who: Actor) -> Event:
        with self._locked(incident) as fd:
            event = make_event(incident, self._last_event(incident, fd), kind, data, who)
            _write_durably(fd, to_line(event))
        return event

    def read(self, incident: str) -> Verification:
        path = self.path(incident)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise UnknownIncident(f"no incident {incident}") from None
        complete = data.endswith(b"\n") or not data
        lines = data.decode("utf-8", "replace").split("\n")
        if complete:
            lines.pop()  # after the last newline: nothing
        result = verify_lines(incident, lines, complete=complete)
        torn = path.with_name(path.name + TORN_SUFFIX)
        if result.torn is None and torn.exists():
            result.torn = f"an incomplete line a crash left was set aside in {torn}"
        return result

    def ids(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.name.removesuffix(SUFFIX) for p in self.directory.glob(f"*{SUFFIX}"))

    def size(self, incident: str) -> int:
        """Bytes written so far."""
        try:
            return self.path(incident).stat().st_size
        except FileNotFoundError:
            return 0

    def fingerprints(self) -> dict[str, object]:
        """Each log's size: a stat per incident, cheap enough to poll every second."""
        if not self.directory.is_dir():
            return {}
        found: dict[str, object] = {}
        for entry in os.scandir(self.directory):
            if entry.name.endswith(SUFFIX):
                try:
                    found[entry.name.removesuffix(SUFFIX)] = entry.stat().st_size
                except FileNotFoundError:
                    continue
        return found

    # -- inside -------------------------------------------------------------------------

    def _make_directory(self) -> None:
        if not self.directory.is_dir():
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.directory.chmod(0o700)  # whatever the umask made of it

    @contextmanager
    def _locked(self, incident: str) -> Iterator[int]:
        try:
            fd = os.open(self.path(incident), os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            raise UnknownIncident(f"no incident {incident}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)  # and with it the lock

    def _last_event(self, incident: str, fd: int) -> Event | None:
        """The last whole event, once a torn tail (a crash mid-write) is set aside."""
        size = os.fstat(fd).st_size
        if size == 0:
            return None
        start = size
        while True:
            start = max(0, start - _TAIL_CHUNK)
            chunk = os.pread(fd, size - start, start)
            if not chunk.endswith(b"\n"):
                cut = chunk.rfind(b"\n")
                if cut < 0 and start > 0:
                    continue  # a torn tail longer than the window: look further back
                if (whole := _event_of(chunk[cut + 1 :])) is not None:
                    # Only its newline is missing: `read` and `verify` count it as an
                    # event, so it is one: completed, never set aside afterwards.
                    _write_durably(fd, "\n")
                    return whole
                self._set_aside(incident, fd, chunk[cut + 1 :], start + cut + 1)
                size = start + cut + 1
                if size == 0:
                    return None  # not even the first line was whole
                chunk = chunk[: cut + 1]
            body = chunk[:-1]
            line_start = body.rfind(b"\n")
            if line_start >= 0 or start == 0:
                line = body[line_start + 1 :]
                break
        try:
            return Event.from_json(json.loads(line))
        except (ValueError, KeyError, TypeError) as error:
            raise DamagedLog(
                f"incident {incident}: its last line is not an event ({error}); "
                f"run `opsconsole incidents verify {incident}`"
            ) from None

    def _set_aside(self, incident: str, fd: int, fragment: bytes, keep: int) -> None:
        """A torn line goes to a file of its own before the log is cut back to its last
        whole line: nothing is thrown away, and the next event chains to a real one."""
        torn = self.path(incident).with_name(f"{incident}{SUFFIX}{TORN_SUFFIX}")
        sidecar = os.open(torn, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            _write_durably(sidecar, fragment.decode("utf-8", "replace") + "\n")
        finally:
            os.close(sidecar)
        os.ftruncate(fd, keep)


def _event_of(line: bytes) -> Event | None:
    """The event a line holds, by the reader's rule (`verify_lines`); None if it holds none."""
    try:
        return Event.from_json(json.loads(line))
    except (ValueError, KeyError, TypeError):
        return None


def _write_durably(fd: int, text: str) -> None:
    data = text.encode("utf-8")
    written = 0
    while written < len(data):
        written += os.write(fd, data[written:])
    os.fsync(fd)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
