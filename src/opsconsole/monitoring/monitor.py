"""Every source a configuration asks for, polled together into one snapshot.

No Textual here: `opsconsole status` uses this on its own, the dashboard through the
poller. A backend's client library is loaded only when its section is configured: a
console with no [postgres] never imports psycopg."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from opsconsole.config.model import Config, ServiceSection, watched_containers
from opsconsole.monitoring.snapshot import Snapshot, breaches
from opsconsole.sources.base import Reading, read
from opsconsole.sources.health import HealthChecker, HealthTarget

if TYPE_CHECKING:
    from opsconsole.sources.disk import DiskSource
    from opsconsole.sources.docker import DockerSource
    from opsconsole.sources.postgres import PostgresSource
    from opsconsole.sources.prometheus import PrometheusSource
    from opsconsole.sources.redis import RedisSource
    from opsconsole.sources.scrape import ScrapeSource

T = TypeVar("T")

# Seconds between the two scrapes a one-shot status needs to see a rate.
SCRAPE_GAP_SECONDS = 2.0


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


class Monitor:
    def __init__(
        self,
        config: Config,
        *,
        health: HealthChecker | None = None,
        metrics: PrometheusSource | ScrapeSource | None = None,
    ) -> None:
        """The sources the configuration names; `health` and `metrics`, if given, instead
        of the configured ones (a test's own, wrapping them)."""
        self.config = config
        self.health = health or HealthChecker(health_targets(config))
        self.metrics = metrics or _metrics_source(config)
        self.postgres: PostgresSource | None = None
        self.redis: RedisSource | None = None
        self.docker: DockerSource | None = None
        self.disk: DiskSource | None = None
        if config.postgres is not None:
            from opsconsole.sources.postgres import PostgresSource

            backups = config.postgres.backup_dir
            self.postgres = PostgresSource(
                config.postgres.dsn.get_secret_value(),
                backup_dir=Path(backups).expanduser() if backups else None,
            )
        if config.postgres is not None and config.postgres.data_dir:
            from opsconsole.sources.disk import DiskSource

            # A source of its own, not a figure of PostgreSQL's reading: a full disk is
            # what stops PostgreSQL, and its use must show while PostgreSQL does not answer.
            self.disk = DiskSource(Path(config.postgres.data_dir).expanduser())
        if config.redis is not None:
            from opsconsole.sources.redis import RedisSource

            self.redis = RedisSource(config.redis.url.get_secret_value(), config.redis.queues)
        if config.docker is not None:
            from opsconsole.sources.docker import DockerSource

            self.docker = DockerSource(
                config.docker.base_url,
                containers=watched_containers(config),
                label=config.docker.label,
            )
        if any(host.docker for host in config.hosts):
            from opsconsole.sources.hosts import Containers, host_sources

            self.fleet: Containers | None = Containers(self.docker, host_sources(config, 10.0))
        else:
            self.fleet = None

    def polls(self) -> dict[str, Callable[[], Awaitable[Any]]]:
        """Each configured source's poll, by the name the board files it under."""
        found: dict[str, Callable[[], Awaitable[Any]]] = {}
        if self.metrics is not None:
            found["metrics"] = self.metrics.poll
        if self.postgres is not None:
            found["postgres"] = self.postgres.poll
        if self.redis is not None:
            found["redis"] = self.redis.poll
        if self.containers_poll is not None:
            found["containers"] = self.containers_poll
        if self.disk is not None:
            found["disk"] = self.disk.poll
        return found

    async def snapshot(self) -> Snapshot:
        """Polls everything at once, each source under its own deadline."""
        deadline = max(5.0, self.config.thresholds.health_timeout_seconds + 1)
        health, metrics, postgres, redis, containers, disk = await asyncio.gather(
            self.health.check_all(),
            _maybe(self.metrics.poll if self.metrics else None, deadline),
            _maybe(self.postgres.poll if self.postgres else None, deadline),
            _maybe(self.redis.poll if self.redis else None, deadline),
            _maybe(self.containers_poll, deadline),
            _maybe(self.disk.poll if self.disk else None, deadline),
        )
        snapshot = Snapshot(
            health={check.name: check for check in health},
            metrics=metrics,
            postgres=postgres,
            redis=redis,
            containers=containers,
            disk=disk,
        )
        return replace(snapshot, breaches=breaches(self.config, snapshot))

    async def first_snapshot(self) -> Snapshot:
        """For a one-shot status: direct scrapes need two readings to show a rate."""
        if self.metrics is not None and self.config.prometheus is None:
            await read(self.metrics.poll, 10)
            await asyncio.sleep(SCRAPE_GAP_SECONDS)
        return await self.snapshot()

    @property
    def containers_poll(self) -> Callable[[], Awaitable[Any]] | None:
        """Every engine's containers as one reading: this machine's and each host's."""
        if self.fleet is not None:
            return self.fleet.poll
        return self.docker.poll if self.docker is not None else None

    def docker_for(self, service: ServiceSection) -> DockerSource | None:
        """The engine that runs the service's container: its host's, or this machine's."""
        if service.host is None:
            return self.docker
        if self.fleet is None:
            return None
        return next((h.source for h in self.fleet.hosts if h.host.name == service.host), None)

    def rediscover(self) -> None:
        """The backends asked again what they hold, at their next poll."""
        self.health.forget_certificates()
        if self.metrics is not None:
            self.metrics.forget()

    async def aclose(self) -> None:
        await self.health.aclose()
        if self.metrics is not None:
            await self.metrics.aclose()
        if self.postgres is not None:
            await self.postgres.close()
        if self.redis is not None:
            await self.redis.aclose()
        if self.fleet is not None:
            self.fleet.close()  # this machine's engine with the hosts'
        elif self.docker is not None:
            self.docker.close()


def _metrics_source(config: Config) -> PrometheusSource | ScrapeSource | None:
    if config.prometheus is not None:
        from opsconsole.sources.prometheus import PrometheusSource

        services = [(config.metrics_name(s), config.metric_names(s)) for s in config.services]
        return PrometheusSource(config.prometheus, services)
    scraped = [s for s in config.services if s.metrics_url]
    if not scraped:
        return None
    from opsconsole.sources.scrape import ScrapeSource, ScrapeTarget

    targets = []
    for service in scraped:
        names = config.metric_names(service)
        targets.append(
            ScrapeTarget(service.name, str(service.metrics_url), names.latency_histogram,
                         names.requests_total, names.status_label)
        )  # fmt: skip
    return ScrapeSource(targets, window=_window_seconds(config))


async def _maybe(poll: Callable[[], Awaitable[T]] | None, seconds: float) -> Reading[T] | None:
    return None if poll is None else await read(poll, seconds)


def _window_seconds(config: Config) -> float:
    window = config.prometheus.window if config.prometheus else "60s"
    return float(window[:-1]) * {"s": 1, "m": 60, "h": 3600}[window[-1]]
