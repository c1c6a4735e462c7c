"""How full the volume that holds PostgreSQL's data is, as this host sees it ([postgres]
data_dir): statvfs, read as df reads it.

statvfs of a hung network mount (NFS) does not return, and nothing can interrupt it. So
it is read in a thread of its own, one read at a time: a read that has not come back by
the deadline is said as such, with since when and the last good reading, and the next
poll waits on that same read instead of starting another (whichever source asks: a
configuration taken again builds new ones), so threads never pile up on the mount and
the poll never waits longer than the deadline."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opsconsole.common.readable import size
from opsconsole.sources.base import describe_error

DISK_TIMEOUT_SECONDS = 2.0
"""A local disk answers statvfs in microseconds; a network mount that has not answered
in this long is not going to answer this poll."""


@dataclass(frozen=True)
class DiskUse:
    path: str
    size_bytes: int
    used_bytes: int
    free_bytes: int
    """What an unprivileged user may still write (PostgreSQL is one): the blocks kept
    for root are not free to it."""

    @property
    def used_percent(self) -> float:
        """As df's Use%: used, of what is used and what is free to an unprivileged user."""
        usable = self.used_bytes + self.free_bytes
        return 100.0 * self.used_bytes / usable if usable else 0.0

    @property
    def shown_percent(self) -> int:
        """As df shows it, rounded up: the figure a runbook's `df` step will show."""
        return math.ceil(self.used_percent)

    def said(self) -> str:
        """`91% of 3.9 GiB`."""
        return f"{self.shown_percent}% of {size(self.size_bytes)}"


class DiskNotRead(Exception):
    """Why the disk use cannot be said now, with the last good reading."""


@dataclass(frozen=True)
class _Read:
    result: Future[os.statvfs_result]
    started: datetime


_IN_FLIGHT: dict[str, _Read] = {}
"""The read of each path not yet back, in this process."""
_IN_FLIGHT_LOCK = threading.Lock()


Statvfs = Callable[[str], os.statvfs_result]


class DiskSource:
    """`statvfs`: os.statvfs, or a test's own (a mount that hangs cannot be made here)."""

    def __init__(
        self, path: Path, timeout: float = DISK_TIMEOUT_SECONDS, statvfs: Statvfs = os.statvfs
    ) -> None:
        self.path = path
        self.timeout = timeout
        self._statvfs = statvfs
        self._last_good: tuple[datetime, DiskUse] | None = None

    async def poll(self) -> DiskUse:
        key = str(self.path)
        with _IN_FLIGHT_LOCK:
            if key not in _IN_FLIGHT:
                _IN_FLIGHT[key] = _Read(Future(), datetime.now(UTC))
                # A daemon thread, not the loop's executor: a read that never comes back
                # holds no worker the other sources need, nor the console from exiting.
                threading.Thread(
                    target=self._read, args=(_IN_FLIGHT[key].result,), name="statvfs", daemon=True
                ).start()
            asked = _IN_FLIGHT[key]
        pending = asked.result
        if not await _back(pending, self.timeout):
            since = f"{asked.started.astimezone():%H:%M:%S}"
            raise DiskNotRead(f"statvfs has not come back since {since}{self._last()}")
        with _IN_FLIGHT_LOCK:
            if _IN_FLIGHT.get(key) is asked:
                del _IN_FLIGHT[key]
        error = pending.exception()
        if error is not None:
            raise DiskNotRead(f"{describe_error(error)}{self._last()}")
        found = pending.result()
        use = DiskUse(
            str(self.path),
            size_bytes=found.f_blocks * found.f_frsize,
            used_bytes=(found.f_blocks - found.f_bfree) * found.f_frsize,
            free_bytes=found.f_bavail * found.f_frsize,
        )
        self._last_good = (datetime.now(UTC), use)
        return use

    def _read(self, pending: Future[os.statvfs_result]) -> None:
        try:
            pending.set_result(self._statvfs(str(self.path)))
        except Exception as error:  # whatever it is, the poll says it
            pending.set_exception(error)

    def _last(self) -> str:
        if self._last_good is None:
            return "; never read"
        at, use = self._last_good
        return f"; last {use.shown_percent}% at {at.astimezone():%H:%M:%S}"


async def _back(pending: Future[Any], seconds: float) -> bool:
    """Whether the read is back within `seconds`; woken as soon as it is."""
    loop = asyncio.get_running_loop()
    back = asyncio.Event()

    def wake(_: Future[Any]) -> None:
        with contextlib.suppress(RuntimeError):  # that loop has closed: nobody waits now
            loop.call_soon_threadsafe(back.set)

    pending.add_done_callback(wake)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(back.wait(), seconds)
    return pending.done()
