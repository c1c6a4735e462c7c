"""What the dashboard knows, source by source, over time. No Textual, no I/O: the screen
feeds it readings as they come back and the widgets draw from it."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opsconsole.config.model import Config, ServiceSection, container_key
from opsconsole.monitoring.service_state import ServiceStatus, observe_all
from opsconsole.monitoring.snapshot import Breach, Snapshot, breaches
from opsconsole.sources.base import Reading, Tracked
from opsconsole.sources.disk import DiskUse
from opsconsole.sources.metrics import MetricsReading, ServiceMetrics
from opsconsole.sources.readings import ContainerStatus, HealthCheck, PostgresReading, RedisReading

# A trend point sums up this many seconds, so a sparkline moves on once a bucket is whole
# rather than on every poll: steady for the eye, and cheap on a slow SSH link.
TREND_BUCKET_SECONDS = 30.0
TREND_POINTS = 6
HISTORY_POINTS = 240
"""Polls kept for the detail screen: at 2 s, the last eight minutes."""


@dataclass
class Trend:
    """One signal of one service: every recent sample, and its whole buckets."""

    samples: deque[tuple[datetime, float]] = field(
        default_factory=lambda: deque(maxlen=HISTORY_POINTS)
    )
    buckets: deque[float] = field(default_factory=lambda: deque(maxlen=TREND_POINTS))
    _bucket_start: datetime | None = None
    _bucket_values: list[float] = field(default_factory=list)

    def add(self, at: datetime, value: float) -> None:
        self.samples.append((at, value))
        if self._bucket_start is None:
            self._bucket_start = at
        elif (at - self._bucket_start).total_seconds() >= TREND_BUCKET_SECONDS:
            # The worst of the bucket: a spike must not average away.
            self.buckets.append(max(self._bucket_values))
            self._bucket_start, self._bucket_values = at, []
        self._bucket_values.append(value)


@dataclass
class ServiceHistory:
    p95: Trend = field(default_factory=Trend)
    error_rate: Trend = field(default_factory=Trend)


class Board:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.services: dict[str, ServiceSection] = {s.name: s for s in config.services}
        self.order = {s.name: index for index, s in enumerate(config.services)}
        self.statuses = {s.name: ServiceStatus(s.name) for s in config.services}
        self.history = {s.name: ServiceHistory() for s in config.services}
        self.metrics: Tracked[MetricsReading] = Tracked()
        self.postgres: Tracked[PostgresReading] = Tracked()
        self.redis: Tracked[RedisReading] = Tracked()
        self.containers: Tracked[dict[str, ContainerStatus]] = Tracked()
        self.disk: Tracked[DiskUse] = Tracked()

    def carry_over(self, old: Board) -> None:
        """What `old` knew of the services this board shares with it, when the
        configuration is taken again: how long each has been in its state (a service DOWN
        for 20 minutes is not DOWN for 0 s after an edit), and its P95 and error-rate
        history where its figures are read by the same names."""
        for name, service in self.services.items():
            before = old.services.get(name)
            if before is None:
                continue
            if str(before.health_url) == str(service.health_url):
                self.statuses[name] = old.statuses[name]
            same_names = old.config.metric_names(before) == self.config.metric_names(service)
            if same_names and old.config.metrics_name(before) == self.config.metrics_name(service):
                self.history[name] = old.history[name]
        # A backend's last readings, where it is the same backend read the same way: the
        # first poll on the new file then tells what really changed, not a source's absence
        # (an incident would record every breach cleared and seen again).
        same = {
            "postgres": old.config.postgres == self.config.postgres,
            "redis": old.config.redis == self.config.redis,
            # Which engines are read, and which container of whom on which host.
            "containers": old.config.docker == self.config.docker
            and old.config.hosts == self.config.hosts
            and [(s.name, s.container, s.host) for s in old.config.services]
            == [(s.name, s.container, s.host) for s in self.config.services],
            "disk": old.config.postgres == self.config.postgres,
            "metrics": old.config.prometheus == self.config.prometheus
            and [(s.name, s.metrics_url, self.config.metric_names(s)) for s in self.config.services]
            == [(s.name, s.metrics_url, old.config.metric_names(s)) for s in old.config.services],
        }
        for source, unchanged in same.items():
            if unchanged:
                setattr(self, source, getattr(old, source))

    def observe_health(self, checks: list[HealthCheck]) -> None:
        self.statuses = observe_all(self.statuses, checks)

    def observe(self, source: str, reading: Reading[Any]) -> Tracked[Any]:
        """Files a reading under its source ("metrics", "postgres", "redis", "containers",
        "disk")."""
        tracked: Tracked[Any] = getattr(self, source).observe(reading)
        setattr(self, source, tracked)
        if source == "metrics" and reading.value is not None:
            self._record_history(reading.value, reading.at)
        return tracked

    def _record_history(self, reading: MetricsReading, at: datetime) -> None:
        for service in self.config.services:
            measured = reading.metrics.get(self.config.metrics_name(service))
            if measured is None or measured.stale is not None:
                continue  # old samples again are no new point of the trend
            history = self.history[service.name]
            if measured.p95_seconds is not None:
                history.p95.add(at, measured.p95_seconds)
            if measured.error_rate is not None:
                history.error_rate.add(at, measured.error_rate)

    def service_metrics(self, name: str) -> ServiceMetrics | None:
        """The last good metrics of a service: stale when the source is failing."""
        good = self.metrics.last_good
        if good is None or good.value is None:
            return None
        return good.value.metrics.get(self.config.metrics_name(self.services[name]))

    def metrics_error(self, name: str) -> str | None:
        """Why this one service has no metrics while the source itself answers."""
        latest = self.metrics.latest
        if latest is None or latest.value is None:
            return None
        return latest.value.errors.get(self.config.metrics_name(self.services[name]))

    def container(self, name: str) -> ContainerStatus | None:
        container = container_key(self.services[name])
        good = self.containers.last_good
        if container is None or good is None or good.value is None:
            return None
        return good.value.get(container)

    def breaches(self) -> list[Breach]:
        """What breaches a threshold now, as `opsconsole status` would report it."""
        snapshot = Snapshot(
            health={n: s.latest for n, s in self.statuses.items() if s.latest is not None},
            metrics=self.metrics.latest,
            postgres=self.postgres.latest,
            redis=self.redis.latest,
            containers=self.containers.latest,
            disk=self.disk.latest,
        )
        found = breaches(self.config, snapshot)
        flapping = [name for name, status in self.statuses.items() if status.flapping]
        if not flapping:
            return found
        # One breach while it flaps, up or down at this instant: the offer and the
        # incident's "breach seen" stay put instead of coming and going with each flap.
        kept = [b for b in found if not (b.subject in flapping and b.signal == "health")]
        flaps = [Breach(name, "health", "FLAPPING", "UP") for name in flapping]
        last = len(self.order)
        return sorted(
            [*flaps, *kept], key=lambda b: (self.order.get(b.subject, last), b.signal != "health")
        )
