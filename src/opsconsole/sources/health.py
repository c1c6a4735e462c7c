"""HTTP health checks: every service at once, each with its own deadline."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus

import aiohttp

from opsconsole.sources.http import describe_http_error, new_session, read_capped
from opsconsole.sources.readings import HealthCheck, HealthState
from opsconsole.sources.tls import certificate_expires

# Enough for any health document; a server that streams more is not answering health.
MAX_BODY_BYTES = 64 * 1024

_DEGRADED_WORDS = frozenset({"degraded", "warn", "warning", "partial"})
_DOWN_WORDS = frozenset(
    {"down", "fail", "failed", "failing", "unhealthy", "error", "critical", "out_of_service"}
)


@dataclass(frozen=True)
class HealthTarget:
    name: str
    url: str
    timeout: float
    """Seconds before the check counts as DOWN."""
    slow_after: float
    """Seconds after which an answer counts as DEGRADED."""


# What the detail screen shows of a health answer; the rest stays on the wire.
BODY_SHOWN_CHARS = 2000
CERTIFICATE_RECHECK_SECONDS = 3600.0
"""How often an https health URL's certificate is read again: its expiry moves in days."""


class HealthChecker:
    """Checks many services concurrently through one shared HTTP session."""

    def __init__(self, targets: list[HealthTarget]) -> None:
        self.targets = targets
        self._session: aiohttp.ClientSession | None = None
        self._certificates: dict[str, tuple[float, datetime | None]] = {}
        """By URL: when its certificate was last read, and its expiry."""

    async def check_all(self) -> list[HealthCheck]:
        return list(await asyncio.gather(*(self.check(target) for target in self.targets)))

    async def check(self, target: HealthTarget) -> HealthCheck:
        started = time.monotonic()
        checked_at = datetime.now(UTC)

        expires: datetime | None = None

        def result(
            state: HealthState, reason: str, status: int | None = None, body: bytes = b""
        ) -> HealthCheck:
            latency = time.monotonic() - started if status is not None else None
            shown = body[:BODY_SHOWN_CHARS].decode("utf-8", errors="replace")
            return HealthCheck(
                target.name, state, reason, status, latency, checked_at, shown, expires
            )

        try:
            async with asyncio.timeout(target.timeout):
                status, body, content_type, whole = await self._get(target)
        except TimeoutError:
            return result(HealthState.DOWN, f"timeout after {target.timeout:.1f} s")
        except aiohttp.InvalidURL:
            return result(HealthState.DOWN, f"not a URL: {target.url}")
        except aiohttp.ClientError as error:
            return result(HealthState.DOWN, describe_http_error(error))
        latency = time.monotonic() - started
        expires = await self._certificate(target)
        state, reason = judge(status, body, content_type)
        if not whole and state is not HealthState.DOWN:
            # An endless stream or a file, on the health URL: whatever its status, that
            # is not a service answering its health check.
            state = HealthState.DOWN
            reason = f"HTTP {status}, but the answer goes on past {MAX_BODY_BYTES // 1024} KiB"
        if state is HealthState.UP and latency > target.slow_after:
            state, reason = HealthState.DEGRADED, f"slow: {latency:.2f} s > {target.slow_after:g} s"
        return result(state, reason, status, body)

    async def _get(self, target: HealthTarget) -> tuple[int, bytes, str, bool]:
        if self._session is None:
            self._session = new_session(
                {"User-Agent": "opsconsole", "Accept": "application/json, */*;q=0.5"}
            )
        async with self._session.get(target.url, allow_redirects=False) as response:
            body, whole = await read_capped(response, MAX_BODY_BYTES)
            return response.status, body, response.headers.get("Content-Type", ""), whole

    async def _certificate(self, target: HealthTarget) -> datetime | None:
        """When the certificate of an https health URL expires, asked once an hour (a
        handshake of its own: aiohttp has let go of the connection by the time the answer
        is read); None for http, or when it could not be read."""
        if not target.url.startswith("https://"):
            return None
        asked = self._certificates.get(target.url)
        if asked is not None and time.monotonic() - asked[0] < CERTIFICATE_RECHECK_SECONDS:
            return asked[1]
        expires: datetime | None = None
        try:
            # Within the check's own time: a slow handshake must not hold up the round.
            async with asyncio.timeout(target.timeout):
                expires = await asyncio.to_thread(certificate_expires, target.url, target.timeout)
        except (OSError, ValueError, TimeoutError):
            pass  # the check itself said what is wrong with the connection; asked next hour
        self._certificates[target.url] = (time.monotonic(), expires)
        return expires

    def forget_certificates(self) -> None:
        """Each https URL's certificate is read again at its next check (`r` after a
        renewal: the breach goes at once, not within the hour)."""
        self._certificates.clear()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def judge(status: int, body: bytes, content_type: str) -> tuple[HealthState, str]:
    """The state an answer shows: the status code first, then what the body says."""
    if not 200 <= status < 300:
        return HealthState.DOWN, f"HTTP {status} {_phrase(status)}".rstrip()
    reported = _reported_status(body, content_type)
    if reported in _DOWN_WORDS:
        return HealthState.DOWN, f"reports {reported}"
    if reported in _DEGRADED_WORDS:
        return HealthState.DEGRADED, f"reports {reported}"
    return HealthState.UP, ""


def _reported_status(body: bytes, content_type: str) -> str | None:
    """``{"status": "degraded"}`` and its common spellings; None when the body says nothing."""
    if "json" not in content_type:
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    value = document.get("status", document.get("health"))
    return value.strip().lower() if isinstance(value, str) else None


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
