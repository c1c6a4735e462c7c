"""Every source a configuration asks for, polled together; and what breaches thresholds.

No Textual here: `opsconsole status` uses this on its own, the dashboard through workers.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, TypeVar

from opsconsole.common.redact import redact_url
from opsconsole.config.model import Config, ServiceSection
from opsconsole.sources.base import Reading, read
from opsconsole.sources.docker import ContainerStatus, DockerSource
from opsconsole.sources.health import HealthCheck, HealthChecker, HealthState, HealthTarget
from opsconsole.sources.metrics import MetricsReading, ServiceMetrics
from opsconsole.sources.postgres import PostgresReading, PostgresSource
from opsconsole.sources.prometheus import PrometheusSource
from opsconsole.sources.redis import RedisReading, RedisSource
from opsconsole.sources.scrape import ScrapeSource, ScrapeTarget

T = TypeVar("T")

# Seconds between the two scrapes a one-shot status needs to see a rate.
SCRAPE_GAP_SECONDS = 2.0


@dataclass(frozen=True)
class Breach:
    subject: str
    """A service's name, or "postgres", "redis", "prometheus", "docker"."""
    signal: str
    value: float | int | str | None
    threshold: float | int | str | None


@dataclass(frozen=True)
class Snapshot:
    """One poll of every configured source. A source that is not configured is None."""

    health: dict[str, HealthCheck]
    metrics: Reading[MetricsReading] | None = None
    postgres: Reading[PostgresReading] | None = None
    redis: Reading[RedisReading] | None = None
    containers: Reading[dict[str, ContainerStatus]] | None = None
    breaches: list[Breach] = field(default_factory=list)


def health_targets(config: Config) -> list[HealthTarget]:
    return [
        HealthTarget(
            name=service.name,
            url=service.health_url,
            timeout=config.health_timeout(service),
            slow_after=config.thresholds.health_slow_seconds,
        )
        for service in config.services
    ]


def metrics_name(config: Config, service: ServiceSection) -> str:
    """The name a metrics source knows the service by."""
    if config.prometheus is not None:
        return service.prometheus_label or service.name
    return service.name


class Monitor:
    def __init__(self, config: Config, *, health: HealthChecker | None = None) -> None:
        self.config = config
        self.health = health or HealthChecker(health_targets(config))
        self.metrics: PrometheusSource | ScrapeSource | None = None
        if config.prometheus is not None:
            self.metrics = PrometheusSource(config.prometheus)
        elif scraped := [s for s in config.services if s.metrics_url]:
            self.metrics = ScrapeSource(
                [ScrapeTarget(s.name, s.metrics_url) for s in scraped if s.metrics_url],
                window=_window_seconds(config),
            )
        self.postgres = (
            PostgresSource(config.postgres.dsn.get_secret_value()) if config.postgres else None
        )
        self.redis = (
            RedisSource(config.redis.url.get_secret_value(), config.redis.queues)
            if config.redis
            else None
        )
        self.docker = (
            DockerSource(
                config.docker.base_url,
                containers=[s.container for s in config.services if s.container],
                label=config.docker.label,
            )
            if config.docker
            else None
        )

    async def snapshot(self) -> Snapshot:
        """Polls everything at once, each source under its own deadline."""
        deadline = max(5.0, self.config.thresholds.health_timeout_seconds + 1)
        health, metrics, postgres, redis, containers = await asyncio.gather(
            self.health.check_all(),
            _maybe(self.metrics.poll if self.metrics else None, deadline),
            _maybe(self.postgres.poll if self.postgres else None, deadline),
            _maybe(self.redis.poll if self.redis else None, deadline),
            _maybe(self.docker.poll if self.docker else None, deadline),
        )
        snapshot = Snapshot(
            health={check.name: check for check in health},
            metrics=metrics,
            postgres=postgres,
            redis=redis,
            containers=containers,
        )
        return replace(snapshot, breaches=breaches(self.config, snapshot))

    async def first_snapshot(self) -> Snapshot:
        """For a one-shot status: direct scrapes need two readings to show a rate."""
        if isinstance(self.metrics, ScrapeSource):
            await read(self.metrics.poll, 10)
            await asyncio.sleep(SCRAPE_GAP_SECONDS)
        return await self.snapshot()

    async def aclose(self) -> None:
        await self.health.aclose()
        if isinstance(self.metrics, ScrapeSource):
            await self.metrics.aclose()
        elif isinstance(self.metrics, PrometheusSource):
            self.metrics.close()
        if self.postgres is not None:
            await self.postgres.close()
        if self.redis is not None:
            await self.redis.aclose()
        if self.docker is not None:
            self.docker.close()


async def _maybe(poll: Callable[[], Awaitable[T]] | None, seconds: float) -> Reading[T] | None:
    return None if poll is None else await read(poll, seconds)


def _window_seconds(config: Config) -> float:
    window = config.prometheus.window if config.prometheus else "60s"
    return float(window[:-1]) * {"s": 1, "m": 60, "h": 3600}[window[-1]]


# -- breaches ---------------------------------------------------------------------------


def breaches(config: Config, snapshot: Snapshot) -> list[Breach]:
    found: list[Breach] = []
    thresholds = config.thresholds
    metrics = snapshot.metrics.value if snapshot.metrics and snapshot.metrics.value else None
    containers = snapshot.containers.value if snapshot.containers else None
    for service in config.services:
        check = snapshot.health.get(service.name)
        if check is not None and check.state is not HealthState.UP:
            found.append(Breach(service.name, "health", check.state.value, "UP"))
        measured = metrics.metrics.get(metrics_name(config, service)) if metrics else None
        if measured is not None:
            p95, limit = measured.p95_seconds, config.p95_threshold(service)
            if p95 is not None and p95 > limit:
                found.append(Breach(service.name, "p95_seconds", p95, limit))
            rate, limit = measured.error_rate, config.error_rate_threshold(service)
            if rate is not None and rate > limit:
                found.append(Breach(service.name, "error_rate", rate, limit))
        if containers is not None and service.container:
            container = containers.get(service.container)
            if container is not None and container.state != "running":
                found.append(Breach(service.name, "container_state", container.state, "running"))
            # Only while it is down, as the table shows it: Docker before 25 keeps the flag
            # of the last exit after a start, and a recovered service would breach forever.
            if container is not None and container.oom_killed and container.state != "running":
                found.append(Breach(service.name, "oom_killed", "true", "false"))
    for name, reading in (
        ("prometheus" if config.prometheus else "metrics", snapshot.metrics),
        ("postgres", snapshot.postgres),
        ("redis", snapshot.redis),
        ("docker", snapshot.containers),
    ):
        if reading is not None and not reading.ok:
            found.append(Breach(name, "unreachable", reading.error, None))
    if snapshot.postgres and (pg := snapshot.postgres.value):
        ratio = pg.connections / pg.max_connections
        if ratio > thresholds.connections_ratio:
            found.append(
                Breach("postgres", "connections_ratio", ratio, thresholds.connections_ratio)
            )
    if snapshot.redis and (rd := snapshot.redis.value):
        if (
            rd.max_memory_bytes
            and rd.used_memory_bytes / rd.max_memory_bytes > thresholds.memory_ratio
        ):
            ratio = rd.used_memory_bytes / rd.max_memory_bytes
            found.append(Breach("redis", "memory_ratio", ratio, thresholds.memory_ratio))
        for queue, length in rd.queues.items():
            if isinstance(length, int) and length > thresholds.queue_length:
                found.append(Breach("redis", f"queue:{queue}", length, thresholds.queue_length))
    return found


# -- JSON ---------------------------------------------------------------------------------


def snapshot_json(config: Config, snapshot: Snapshot) -> dict[str, Any]:
    """The shape `opsconsole status --json` promises scripts and cron jobs."""
    metrics = snapshot.metrics.value if snapshot.metrics and snapshot.metrics.value else None
    containers = snapshot.containers.value if snapshot.containers else None
    services = []
    for service in config.services:
        check = snapshot.health.get(service.name)
        measured: ServiceMetrics | None = (
            metrics.metrics.get(metrics_name(config, service)) if metrics else None
        )
        container = containers.get(service.container) if containers and service.container else None
        services.append(
            {
                "name": service.name,
                "health": {
                    "state": check.state.value if check else None,
                    "status_code": check.status_code if check else None,
                    "latency_ms": _round(check.latency * 1000) if check and check.latency else None,
                    "error": (check.reason or None) if check else None,
                },
                "p95_seconds": _round(measured.p95_seconds) if measured else None,
                "error_rate": _round(measured.error_rate) if measured else None,
                "request_rate": _round(measured.request_rate) if measured else None,
                "container": {
                    "state": container.state,
                    "restarts": container.restart_count,
                    "oom_killed": container.oom_killed,
                }
                if container
                else None,
            }
        )
    return {
        "services": services,
        "prometheus": _source_json(
            snapshot.metrics, config.prometheus.url if config.prometheus else None
        )
        if config.prometheus
        else None,
        "postgres": _source_json(
            snapshot.postgres,
            redact_url(config.postgres.dsn.get_secret_value()) if config.postgres else None,
        ),
        "redis": _source_json(
            snapshot.redis,
            redact_url(config.redis.url.get_secret_value()) if config.redis else None,
        ),
        "alerts": [asdict(a) for a in (metrics.alerts or [])] if metrics else [],
        "breaches": [asdict(b) for b in snapshot.breaches],
    }


def _source_json(reading: Reading[Any] | None, target: str | None) -> dict[str, Any] | None:
    if reading is None:
        return None
    body: dict[str, Any] = {
        "target": target,
        "error": reading.error,
        "took_ms": _round(reading.took * 1000),
    }
    if reading.value is not None and not isinstance(reading.value, MetricsReading):
        body.update(asdict(reading.value))
    return body


def _round(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, 4)
