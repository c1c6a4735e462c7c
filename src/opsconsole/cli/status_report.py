"""`opsconsole status`: one poll of every source, as a table for people or JSON for scripts."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any, TypeVar

from opsconsole.common.readable import duration, latency
from opsconsole.common.redact import redact_url
from opsconsole.config.model import Config, container_key
from opsconsole.monitoring.snapshot import Snapshot
from opsconsole.sources.base import Reading
from opsconsole.sources.disk import DiskUse
from opsconsole.sources.metrics import MetricsReading, ServiceMetrics
from opsconsole.sources.readings import UNKNOWN, ContainerStatus, PostgresReading, RedisReading

T = TypeVar("T")

EXIT_HEALTHY = 0
EXIT_BREACHED = 1


def render_table(config: Config, snapshot: Snapshot) -> str:
    metrics = snapshot.metrics.value if snapshot.metrics and snapshot.metrics.value else None
    containers = snapshot.containers.value if snapshot.containers else None
    rows = [("SERVICE", "HEALTH", "DETAIL", "LATENCY", "P95", "ERRORS", "REQ/S", "CONTAINER")]
    for service in config.services:
        check = snapshot.health.get(service.name)
        measured = metrics.metrics.get(config.metrics_name(service)) if metrics else None
        key = container_key(service)
        container = containers.get(key) if containers and key else None
        old = "?" if measured and measured.stale else ""  # its target is down: a breach says so
        rows.append(
            (
                service.name,
                check.state.value if check else "?",
                (check.reason or f"HTTP {check.status_code}") if check else "",
                latency(check.latency) if check and check.latency is not None else "-",
                latency(measured.p95_seconds) + old if measured and measured.p95_seconds else "-",
                f"{measured.error_rate:.2%}{old}"
                if measured and measured.error_rate is not None
                else "-",
                f"{measured.request_rate:.1f}{old}" if measured else "-",
                _container_cell(container) if container else "-",
            )
        )
    lines = _aligned(rows)
    down = {c.host or "local": c.unreachable for c in (containers or {}).values() if c.unreachable}
    lines += [f"{'docker':<10} {host} unreachable: {why}" for host, why in down.items()]
    lines += _source_line("postgres", snapshot.postgres, _postgres_summary)
    lines += _disk_line(config, snapshot)
    lines += _source_line("redis", snapshot.redis, _redis_summary)
    if snapshot.metrics is not None and not snapshot.metrics.ok:
        lines.append(f"{'metrics':<10} unreachable: {snapshot.metrics.error}")
    for target in (metrics.down or []) if metrics else []:
        if not target.services:  # a configured service's is its breach, below
            lines.append(f"{'prometheus':<10} {target.said()}, of no configured service")
    for alert in (metrics.alerts or []) if metrics else []:
        lines.append(
            f"{'alert':<10} {alert.name} ({alert.severity or '-'}) {alert.state}: {alert.summary}"
        )
    for breach in snapshot.breaches:
        threshold = (
            f" (threshold {_figure(breach.threshold)})" if breach.threshold is not None else ""
        )
        lines.append(
            f"{'breach':<10} {breach.subject} {breach.signal}: {_figure(breach.value)}{threshold}"
        )
    if not snapshot.breaches:
        lines.append("no breaches")
    return "\n".join(lines)


def _figure(value: object) -> str:
    """Four significant digits are plenty for a person; the JSON keeps more."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _container_cell(container: ContainerStatus) -> str:
    """Its state, on which host, and `?` while that host cannot be reached (the last known)."""
    said = (
        UNKNOWN  # never seen: its engine has not answered
        if container.state == UNKNOWN
        else _container(container.state, container.restart_count, container.oom_killed)
    )
    said = f"{container.host}: {said}" if container.host else said
    # `?`: the last known state; nothing known is said as such, not as a state.
    return said + "?" if container.unreachable and container.state != UNKNOWN else said


def _container(state: str, restarts: int, oom_killed: bool) -> str:
    extra = [f"{restarts} restarts"] if restarts else []
    if oom_killed:
        extra.append("OOMKilled")
    return state + (f" ({', '.join(extra)})" if extra else "")


def _aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[n]) for row in rows) for n in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _source_line(name: str, reading: Reading[T] | None, summary: Callable[[T], str]) -> list[str]:
    if reading is None:
        return []
    if reading.value is None:
        return [f"{name:<10} unreachable: {reading.error}"]
    return [f"{name:<10} {summary(reading.value)}"]


def _postgres_summary(pg: PostgresReading) -> str:
    parts = [f"{pg.connections}/{pg.max_connections} connections"]
    if pg.longest_query_seconds is not None:
        parts.append(f"longest query {duration(pg.longest_query_seconds)}")
    if pg.longest_idle_in_transaction_seconds is not None:
        parts.append(f"idle in transaction {duration(pg.longest_idle_in_transaction_seconds)}")
    parts.append(f"size {pg.database_size_bytes / 2**20:.1f} MiB")
    if pg.cache_hit_ratio is not None:
        parts.append(f"cache hit {pg.cache_hit_ratio:.1%}")
    if pg.statements_note:
        parts.append(pg.statements_note)
    return ", ".join(parts)


def _disk_line(config: Config, snapshot: Snapshot) -> list[str]:
    """PostgreSQL's data volume, on a line of its own: read whether PostgreSQL answers."""
    disk = snapshot.disk
    if disk is None or config.postgres is None:
        return []
    where = f"{'disk':<10} {config.postgres.data_dir}:"
    if disk.value is None:
        return [f"{where} cannot be read: {disk.error}"]
    return [f"{where} {disk.value.said()} used (threshold {config.postgres.disk_percent:g}%)"]


def _disk_json(config: Config, disk: Reading[DiskUse]) -> dict[str, Any]:
    use = disk.value
    return {
        "path": config.postgres.data_dir if config.postgres else None,
        "used_percent": _round(use.used_percent) if use else None,
        "size_bytes": use.size_bytes if use else None,
        "used_bytes": use.used_bytes if use else None,
        "free_bytes": use.free_bytes if use else None,
        "threshold_percent": config.postgres.disk_percent if config.postgres else None,
        "error": disk.error,
    }


def _redis_summary(rd: RedisReading) -> str:
    memory = f"memory {rd.used_memory_bytes / 2**20:.1f} MiB"
    if rd.max_memory_bytes:
        memory += f" of {rd.max_memory_bytes / 2**20:.0f} MiB"
    parts = [f"{rd.clients} clients", memory]
    if rd.hit_ratio is not None:
        parts.append(f"hit {rd.hit_ratio:.1%}")
    parts += [f"{rd.ops_per_second} ops/s", f"{rd.evicted_keys} evicted"]
    parts += [f"{queue}={length}" for queue, length in rd.queues.items()]
    return ", ".join(parts)


def snapshot_json(config: Config, snapshot: Snapshot) -> dict[str, Any]:
    """The shape `opsconsole status --json` promises scripts and cron jobs."""
    metrics = snapshot.metrics.value if snapshot.metrics and snapshot.metrics.value else None
    containers = snapshot.containers.value if snapshot.containers else None
    services = []
    for service in config.services:
        check = snapshot.health.get(service.name)
        measured: ServiceMetrics | None = (
            metrics.metrics.get(config.metrics_name(service)) if metrics else None
        )
        key = container_key(service)
        container = containers.get(key) if containers and key else None
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
                # Why a figure above is null: never a null (nor a 0) without its reason.
                "metrics_error": metrics.errors.get(config.metrics_name(service))
                if metrics
                else None,
                "metrics_note": measured.note if measured else None,
                # The figures above come from samples of a target that is now down.
                "metrics_stale": measured.stale if measured else None,
                "container": _container_json(container) if container else None,
            }
        )
    prometheus = (
        _source_json(snapshot.metrics, config.prometheus.url) if config.prometheus else None
    )
    if prometheus is not None and metrics is not None and metrics.down is not None:
        named = {config.metrics_name(service): service.name for service in config.services}
        prometheus["down_targets"] = [
            {
                "job": target.job,
                "instance": target.instance,
                "labels": target.labels,
                "since": target.since.isoformat(),
                "since_before": target.since_before,
                "services": [named.get(label, label) for label in target.services],
            }
            for target in metrics.down
        ]
    postgres = _source_json(
        snapshot.postgres,
        redact_url(config.postgres.dsn.get_secret_value()) if config.postgres else None,
    )
    if postgres is not None and snapshot.disk is not None:
        postgres["disk"] = _disk_json(config, snapshot.disk)
    return {
        "services": services,
        "prometheus": prometheus,
        "postgres": postgres,
        "redis": _source_json(
            snapshot.redis,
            redact_url(config.redis.url.get_secret_value()) if config.redis else None,
        ),
        # Every container watched, on every engine: this machine's and each host's.
        "containers": [_container_json(c) for c in (containers or {}).values()],
        "alerts": [asdict(a) for a in (metrics.alerts or [])] if metrics else [],
        "breaches": [asdict(b) for b in snapshot.breaches],
    }


def _container_json(container: ContainerStatus) -> dict[str, Any]:
    return {
        "name": container.name,
        "host": container.host,
        "state": container.state,
        "restarts": container.restart_count,
        "oom_killed": container.oom_killed,
        # Its host cannot be reached: the state above is the last known, not the present.
        "unreachable": container.unreachable,
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
