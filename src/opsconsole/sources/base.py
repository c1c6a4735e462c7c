"""What every source shares: a reading with its time and cost, failures tracked with
backoff, and the last good value kept for when the source is unreachable."""

from __future__ import annotations

import asyncio
import http.client
import os
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Generic, TypeVar

T = TypeVar("T")

BACKOFF_CAP_SECONDS = 60.0


@dataclass(frozen=True)
class Reading(Generic[T]):
    """One poll of one source: a value, or the reason there is none."""

    value: T | None
    error: str | None
    at: datetime
    """When the poll started (UTC)."""
    took: float
    """Seconds the poll took: the console's own cost on the server."""

    @property
    def ok(self) -> bool:
        return self.error is None


async def read(poll: Callable[[], Awaitable[T]], seconds: float) -> Reading[T]:
    """Run one poll under a deadline; any failure becomes a Reading with its reason."""
    at = datetime.now(UTC)
    started = time.monotonic()
    try:
        async with asyncio.timeout(seconds):
            value = await poll()
    except TimeoutError:
        return Reading(None, f"timeout after {seconds:g} s", at, time.monotonic() - started)
    except Exception as error:  # any failure of the world is a reading, never a crash
        return Reading(None, describe_error(error), at, time.monotonic() - started)
    return Reading(value, None, at, time.monotonic() - started)


@dataclass(frozen=True)
class Tracked(Generic[T]):
    """A source over time: what a pane needs to say "unreachable: <reason>, last good 2m ago"."""

    latest: Reading[T] | None = None
    last_good: Reading[T] | None = None
    failing_since: datetime | None = None
    failures: int = 0
    """Consecutive failed polls."""

    def observe(self, reading: Reading[T]) -> Tracked[T]:
        if reading.ok:
            return Tracked(latest=reading, last_good=reading)
        return replace(
            self,
            latest=reading,
            failing_since=self.failing_since or reading.at,
            failures=self.failures + 1,
        )

    def next_delay(self, interval: float, cap: float = BACKOFF_CAP_SECONDS) -> float:
        """The refresh interval while all is well; doubling per failure, capped, after."""
        if self.failures == 0:
            return interval
        return min(max(cap, interval), interval * 2.0 ** min(self.failures, 16))


def describe_error(error: BaseException) -> str:
    """A failure in the few words an on-call engineer needs: "connection refused",
    "host name not found", or the library's own message."""
    cause = _root_os_error(error)
    if isinstance(cause, socket.gaierror):
        return "host name not found"
    # TLS errors are OSErrors whose errno is the library's, not the system's: strerror
    # would call a bad certificate "operation not permitted".
    if isinstance(cause, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {cause.verify_message}"
    if isinstance(cause, ssl.SSLError):
        return f"TLS failed: {(cause.reason or str(cause)).replace('_', ' ').lower()}"
    if cause is not None and cause.errno:
        return os.strerror(cause.errno).lower()
    if _among(error, http.client.RemoteDisconnected):
        # requests says it as "('Connection aborted.', RemoteDisconnected('Remote end …'))".
        return "the connection was closed without an answer"
    text = " ".join(str(error).split())  # one line, whatever the library sent
    return text or type(error).__name__


def _among(error: BaseException, kind: type[BaseException]) -> bool:
    """Whether an error of `kind` is in the chain, or among the arguments of one in it
    (urllib3 carries the socket's error as an argument, not as a cause)."""
    todo: list[object] = [error]
    seen: set[int] = set()
    while todo:
        current = todo.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return True
        todo += [current.__cause__, current.__context__, *current.args]
    return False


def _root_os_error(error: BaseException) -> OSError | None:
    """Clients wrap the socket's error two or three times; the errno is at the bottom."""
    found: OSError | None = None
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and (current.errno or isinstance(current, socket.gaierror)):
            found = current
        current = current.__cause__ or current.__context__
    return found
