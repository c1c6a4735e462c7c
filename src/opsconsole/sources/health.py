"""HTTP health checks: every service at once, each with its own deadline."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from http import HTTPStatus

import httpx

from opsconsole.sources.base import describe_error
from opsconsole.sources.http import PoolPerOrigin

# Enough for any health document; a server that streams more is not answering health.
MAX_BODY_BYTES = 64 * 1024

_DEGRADED_WORDS = frozenset({"degraded", "warn", "warning", "partial"})
_DOWN_WORDS = frozenset(
    {"down", "fail", "failed", "failing", "unhealthy", "error", "critical", "out_of_service"}
)


class HealthState(StrEnum):
    UP = "UP"
    DEGRADED = "DEGRADED"
    DOWN = "DOWN"


@dataclass(frozen=True)
class HealthTarget:
    name: str
    url: str
    timeout: float
    """Seconds before the check counts as DOWN."""
    slow_after: float
    """Seconds after which an answer counts as DEGRADED."""


@dataclass(frozen=True)
class HealthCheck:
    """One observation of one service."""

    name: str
    state: HealthState
    reason: str
    """Why it is not UP, in words an on-call engineer reads at a glance; empty when UP."""
    status_code: int | None
    latency: float | None
    """Seconds until the whole answer was read; None when there was no answer."""
    checked_at: datetime
    body: str = ""
    """The start of what the service answered, for the detail screen."""


# What the detail screen shows of a health answer; the rest stays on the wire.
BODY_SHOWN_CHARS = 2000


class HealthChecker:
    """Checks many services concurrently through one shared HTTP client."""

    def __init__(self, targets: list[HealthTarget], client: httpx.AsyncClient | None = None):
        self.targets = targets
        # Health checks must not queue behind each other in the pool.
        limits = httpx.Limits(max_connections=max(10, 2 * len(targets)))
        self._client = client or httpx.AsyncClient(
            follow_redirects=False,
            headers={"User-Agent": "opsconsole", "Accept": "application/json, */*;q=0.5"},
            limits=limits,
            transport=PoolPerOrigin(limits),  # not one pool for all: see why there
        )

    async def check_all(self) -> list[HealthCheck]:
        return list(await asyncio.gather(*(self.check(target) for target in self.targets)))

    async def check(self, target: HealthTarget) -> HealthCheck:
        started = time.monotonic()
        checked_at = datetime.now(UTC)

        def result(
            state: HealthState, reason: str, status: int | None = None, body: bytes = b""
        ) -> HealthCheck:
            latency = time.monotonic() - started if status is not None else None
            shown = body[:BODY_SHOWN_CHARS].decode("utf-8", errors="replace")
            return HealthCheck(target.name, state, reason, status, latency, checked_at, shown)

        try:
            # httpx's timeout is per phase; the deadline here covers the whole check.
            async with asyncio.timeout(target.timeout):
                status, body, content_type = await self._get(target)
        except (TimeoutError, httpx.TimeoutException):
            return result(HealthState.DOWN, f"timeout after {target.timeout:.1f} s")
        except httpx.HTTPError as error:
            return result(HealthState.DOWN, describe_http_error(error))
        latency = time.monotonic() - started
        state, reason = judge(status, body, content_type)
        if state is HealthState.UP and latency > target.slow_after:
            state, reason = HealthState.DEGRADED, f"slow: {latency:.2f} s > {target.slow_after:g} s"
        return result(state, reason, status, body)

    async def _get(self, target: HealthTarget) -> tuple[int, bytes, str]:
        async with self._client.stream("GET", target.url, timeout=target.timeout) as response:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) >= MAX_BODY_BYTES:
                    break
            return response.status_code, bytes(body), response.headers.get("content-type", "")

    async def aclose(self) -> None:
        await self._client.aclose()


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


def describe_http_error(error: httpx.HTTPError) -> str:
    """The cause in a few words: "connection refused", not "All connection attempts failed"."""
    if isinstance(error, httpx.RemoteProtocolError):
        return f"bad HTTP answer: {error}"
    described = describe_error(error)
    if isinstance(error, httpx.ConnectError) and described == str(error):
        return f"cannot connect: {described}"
    return described
