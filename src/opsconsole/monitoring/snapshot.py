"""One poll of every source, and what of it breaches a threshold: the one rule the
dashboard, `opsconsole status`, incidents and drills all judge by."""

from __future__ import annotations

from dataclasses import dataclass, field

from opsconsole.config.model import Config, container_key
from opsconsole.sources.base import Reading
from opsconsole.sources.disk import DiskUse
from opsconsole.sources.metrics import MetricsReading
from opsconsole.sources.readings import (
    ContainerStatus,
    HealthCheck,
    HealthState,
    PostgresReading,
    RedisReading,
)

EXPIRED = "certificate has expired"
"""How a health check's reason says its TLS certificate expired (OpenSSL's words)."""


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
    disk: Reading[DiskUse] | None = None
    """The volume of [postgres] data_dir."""
    breaches: list[Breach] = field(default_factory=list)


def breaches(config: Config, snapshot: Snapshot) -> list[Breach]:
    found: list[Breach] = []
    thresholds = config.thresholds
    metrics = snapshot.metrics.value if snapshot.metrics and snapshot.metrics.value else None
    containers = snapshot.containers.value if snapshot.containers else None
    for service in config.services:
        check = snapshot.health.get(service.name)
        if check is not None and check.state is not HealthState.UP:
            # Down because its certificate expired: one cause, one breach, and the one
            # that offers the runbook that fixes it (not a restart).
            if EXPIRED in check.reason:
                found.append(
                    Breach(service.name, "certificate_days", "expired", thresholds.certificate_days)
                )
            else:
                found.append(Breach(service.name, "health", check.state.value, "UP"))
        if check is not None and check.certificate_expires is not None:
            left = (check.certificate_expires - check.checked_at).days
            if left < thresholds.certificate_days:
                found.append(
                    Breach(service.name, "certificate_days", left, thresholds.certificate_days)
                )
        measured = metrics.metrics.get(config.metrics_name(service)) if metrics else None
        name = config.metrics_name(service)
        down = [t for t in (metrics.down or []) if name in t.services] if metrics else []
        # A target down while the service answers its health check: its figures are old.
        # Down altogether, its health breach says it (one cause, one breach).
        if down and (check is None or check.state is not HealthState.DOWN):
            found.append(Breach(service.name, "target_down", down[0].said(), None))
        # A figure that could not be computed is no figure that holds: said, with why
        # (MetricsReading.misnamed: a failed scrape counts once health has been asked since).
        why = metrics.errors.get(name) if metrics is not None and not down else None
        if why and metrics is not None and snapshot.metrics is not None:
            answers = check is None or check.state is not HealthState.DOWN
            up_since = (
                check is not None
                and check.state is HealthState.UP
                and check.checked_at >= snapshot.metrics.at
            )
            if answers and (name in metrics.misnamed or up_since):
                found.append(Breach(service.name, "metrics", why, None))
        # Figures from samples left in the window are judged no more than a failing
        # source's last good ones: the target being down is the breach.
        if measured is not None and measured.stale is None:
            p95, limit = measured.p95_seconds, config.p95_threshold(service)
            if p95 is not None and p95 > limit:
                found.append(Breach(service.name, "p95_seconds", p95, limit))
            rate, limit = measured.error_rate, config.error_rate_threshold(service)
            if rate is not None and rate > limit:
                found.append(Breach(service.name, "error_rate", rate, limit))
        if containers is not None and (key := container_key(service)):
            container = containers.get(key)
            if container is not None and container.unreachable:
                container = None  # its last known state, not a fact of now: its host breaches
            if container is not None and container.state != "running":
                found.append(Breach(service.name, "container_state", container.state, "running"))
            # Only while it is down, as the table shows it: Docker before 25 keeps the flag
            # of the last exit after a start, and a recovered service would breach forever.
            if container is not None and container.oom_killed and container.state != "running":
                found.append(Breach(service.name, "oom_killed", "true", "false"))
    if containers is not None:
        # One breach a host that cannot be reached (its containers' last states kept).
        hosts = {c.host or "docker": c.unreachable for c in containers.values() if c.unreachable}
        found += [Breach(host, "unreachable", why, None) for host, why in hosts.items()]
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
        if config.postgres is not None and pg.backup is not None:
            rpo = config.postgres.backup_rpo_hours
            age = pg.backup.age_seconds
            if age is None:
                found.append(Breach("postgres", "backup_age", pg.backup.error or "none", rpo))
            elif age > rpo * 3600:
                found.append(Breach("postgres", "backup_age", round(age / 3600, 1), rpo))
        longest = pg.longest_query_seconds
        if longest is not None and longest > thresholds.slow_query_seconds:
            found.append(Breach("postgres", "slow_query", longest, thresholds.slow_query_seconds))
    if config.postgres is not None and snapshot.disk is not None:
        found += _disk(snapshot.disk, config.postgres.disk_percent)
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


def _disk(reading: Reading[DiskUse], limit: float) -> list[Breach]:
    """Over its limit as df would show it; or unread (a hung mount, a path that is not
    there), which is no disk pressure: a breach that offers nothing."""
    if reading.value is None:
        return [Breach("postgres", "disk_unread", reading.error, None)]
    if reading.value.used_percent > limit:
        return [Breach("postgres", "disk_use", reading.value.shown_percent, limit)]
    return []
