"""The PostgreSQL, Redis, Docker and alerts panes: a few short lines each, and when the
source fails, what failed, since when, and its last good values, marked stale."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from rich.text import Text
from textual.widgets import Static

from opsconsole.common.readable import age
from opsconsole.common.redact import redact_url
from opsconsole.config.model import Config
from opsconsole.sources.base import Tracked
from opsconsole.sources.metrics import MetricsReading
from opsconsole.sources.readings import UNKNOWN, ContainerStatus, PostgresReading, RedisReading
from opsconsole.tui.widgets import formats

if TYPE_CHECKING:  # the type only: a widget is given readings, it reads nothing
    from opsconsole.sources.backups import BackupReading
    from opsconsole.sources.disk import DiskUse

T = TypeVar("T")
Lines = list[Text]


class SourcePane(Static):
    """Repaints only when what it says has changed."""

    DEFAULT_CSS = """
    SourcePane {
        width: 1fr;
        height: auto;
        min-height: 4;
        max-height: 9;
        border: round $panel-lighten-2;
        border-title-style: bold;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        overflow: hidden;
    }

    SourcePane:focus {
        border: round $accent;
    }

    SourcePane.-failing {
        border: round $error;
    }
    """

    can_focus = True  # the palette's "Pane: …" entries go to it

    def __init__(self, title: str, *, id: str) -> None:
        super().__init__("", id=id, markup=False)
        self.border_title = title
        self._shown: str | None = None
        self.plain = ""
        """What the pane says, as the user reads it."""

    def show(self, lines: Lines) -> None:
        content = Text("\n").join(lines)
        key = content.plain + repr(content.spans) + str(content.style)
        if key != self._shown:
            self._shown = key
            self.plain = content.plain
            self.update(content)
            self.set_class(any(line.plain.startswith(formats.BAD) for line in lines), "-failing")


def describe(
    tracked: Tracked[T],
    now: datetime,
    body: Callable[[T], Lines],
    not_configured: str | None = None,
    target: str | None = None,
) -> Lines:
    """The pane's lines: the body of the latest reading, or the outage (with the address
    it failed at: "no such file or directory" alone does not say which socket) and what
    was last known. `not_configured` is said instead when there is no such source."""
    if not_configured is not None:
        return [
            Text("not configured", style=formats.LOOK.quiet),
            Text(not_configured, style=formats.LOOK.quiet),
        ]
    latest = tracked.latest
    if latest is None:
        return [Text("… connecting", style=formats.LOOK.quiet)]
    if latest.value is not None:
        return body(latest.value)
    since = tracked.failing_since or latest.at
    lines = [
        Text(f"{formats.BAD} unreachable: {latest.error}", style=formats.LOOK.bad),
        Text(f"since {since.astimezone():%H:%M:%S}, {age((now - since).total_seconds())} ago"),
    ]
    if target:
        lines.insert(1, Text(f"at {target}"))
    good = tracked.last_good
    if good is None or good.value is None:
        lines.append(Text("never reached", style=formats.LOOK.quiet))
        return lines
    lines.append(
        Text(f"last good {age((now - good.at).total_seconds())} ago:", style=formats.LOOK.stale)
    )
    lines += [Text(line.plain, style=formats.LOOK.stale) for line in body(good.value)]
    return lines


# -- bodies ----------------------------------------------------------------------------


def postgres_lines(config: Config) -> Callable[[PostgresReading], Lines]:
    limit = config.thresholds.connections_ratio
    rpo_seconds = config.postgres.backup_rpo_hours * 3600 if config.postgres else None

    def lines(pg: PostgresReading) -> Lines:
        ratio = pg.connections / pg.max_connections if pg.max_connections else 0.0
        states = pg.connections_by_state
        out = [
            Text.assemble(
                "conn ",
                formats.judged(f"{pg.connections}/{pg.max_connections}", ratio > limit),
                f" ({formats.percent(ratio)})",
            ),
            Text(
                f"active {states.get('active', 0)} · idle {states.get('idle', 0)}"
                f" · idle tx {states.get('idle in transaction', 0)}"
            ),
        ]
        waits = []
        if pg.longest_query_seconds is not None:
            waits.append(f"longest {age(pg.longest_query_seconds)}")
        if pg.longest_idle_in_transaction_seconds is not None:
            waits.append(f"idle tx {age(pg.longest_idle_in_transaction_seconds)}")
        if waits:
            out.append(Text(" · ".join(waits), style=formats.LOOK.warn))
        hit = f" · hit {formats.percent(pg.cache_hit_ratio)}" if pg.cache_hit_ratio else ""
        out.append(Text(f"size {formats.size(pg.database_size_bytes)}{hit}"))
        if pg.backup is not None and rpo_seconds is not None:
            # Past its RPO it goes up, under the connections: a pane shows few lines.
            shown, late = _backup(pg.backup, rpo_seconds)
            out.insert(1 if late else len(out), formats.judged(shown, late))
        if pg.replica_lag_seconds is not None:
            out.append(Text(f"replica lag {formats.seconds(pg.replica_lag_seconds)}"))
        for replica in pg.replicas:
            lag = replica.replay_lag_seconds
            shown = formats.seconds(lag) if lag is not None else formats.NONE
            out.append(Text(f"replica {replica.name} {replica.state} lag {shown}"))
        if pg.top_statements:
            top = pg.top_statements[0]
            out.append(Text(f"top {formats.seconds(top.mean_ms / 1000)} {top.query}"))
        elif pg.statements_note:
            out.append(Text(pg.statements_note, style=formats.LOOK.quiet))
        return out

    return lines


def _backup(backup: BackupReading, rpo_seconds: float) -> tuple[str, bool]:
    """The newest backup as the pane says it, and whether it is past the RPO."""
    if backup.error is not None:
        return f"backup: {backup.error}", True
    if backup.age_seconds is None:
        return "backup: none", True
    return f"backup {age(backup.age_seconds)} old", backup.age_seconds > rpo_seconds


def with_disk(lines: Lines, config: Config, disk: Tracked[DiskUse] | None) -> Lines:
    """The PostgreSQL pane's lines with its data volume's use: under the first line when
    over disk_percent or unread (even, and most of all, while PostgreSQL does not answer:
    a full disk stops it), else last."""
    latest = disk.latest if disk is not None else None
    if latest is None or config.postgres is None:
        return lines
    if latest.value is None:
        # "statvfs has not come back since 03:12:05; last 42% at 03:12:03": two lines.
        said, _, last = (latest.error or "").partition("; ")
        shown = [Text(f"{formats.BAD} disk: {said}", style=formats.LOOK.bad)]
        shown += [Text(last, style=formats.LOOK.stale)] if last else []
        return [*lines[:1], *shown, *lines[1:]]
    over = latest.value.used_percent > config.postgres.disk_percent
    use = formats.judged(f"disk {latest.value.said()}", over)
    return [*lines[:1], use, *lines[1:]] if over else [*lines, use]


def redis_lines(config: Config) -> Callable[[RedisReading], Lines]:
    memory_limit = config.thresholds.memory_ratio
    queue_limit = config.thresholds.queue_length

    def lines(rd: RedisReading) -> Lines:
        if rd.max_memory_bytes:
            ratio = rd.used_memory_bytes / rd.max_memory_bytes
            memory = Text.assemble(
                "mem ",
                formats.judged(formats.percent(ratio), ratio > memory_limit),
                f" of {formats.size(rd.max_memory_bytes)}",
            )
        else:
            memory = Text(f"mem {formats.size(rd.used_memory_bytes)} (no limit)")
        hit = formats.percent(rd.hit_ratio) if rd.hit_ratio is not None else formats.NONE
        out = [
            memory,
            Text(f"hit {hit} · {formats.rate(rd.ops_per_second)} ops/s"),
            Text(f"clients {rd.clients} · evicted {rd.evicted_keys}"),
        ]
        for queue, length in rd.queues.items():
            if isinstance(length, int):
                out.append(
                    Text.assemble(f"{queue} ", formats.judged(str(length), length > queue_limit))
                )
            else:
                out.append(Text(f"{queue}: {length}", style=formats.LOOK.warn))
        return out

    return lines


def docker_lines(containers: dict[str, ContainerStatus]) -> Lines:
    if not containers:
        return [Text("no containers", style=formats.LOOK.quiet)]
    hosts: dict[str | None, list[ContainerStatus]] = {}
    for container in containers.values():
        hosts.setdefault(container.host, []).append(container)
    if list(hosts) == [None]:
        return _engine_lines(containers.values(), "")
    # Each engine in its own lines, named: a host that cannot be reached says why first,
    # its containers' last known state after it, dimmed.
    out: Lines = []
    for host, found in hosts.items():
        out += _engine_lines(found, f"{host or 'local'}: ")
    return out


def _engine_lines(containers: Iterable[ContainerStatus], name: str) -> Lines:
    containers = list(containers)
    running = sum(1 for c in containers if c.state == "running")
    down = next((c.unreachable for c in containers if c.unreachable), None)
    if down is not None:
        seen = [c for c in containers if c.state != UNKNOWN]
        last = (
            f"last: {running}/{len(containers)} running"
            if seen
            else f"{len(containers)} container{'' if len(containers) == 1 else 's'}: not seen yet"
        )
        return [
            Text(f"{formats.BAD} {name}{down}", style=formats.LOOK.bad),
            Text(last, style=formats.LOOK.stale),
        ]
    out = [Text(f"{name}{running}/{len(containers)} running")]
    for container in containers:
        if container.state == "running" and container.health != "unhealthy":
            continue
        why = "OOMKilled" if container.oom_killed else (container.health or container.state)
        out.append(Text(f"{formats.BAD} {container.name} {why}", style=formats.LOOK.bad))
    if restarted := [c for c in containers if c.restart_count]:
        worst = max(restarted, key=lambda c: c.restart_count)
        out.append(Text(f"↻ {worst.name} {worst.restart_count} restarts", style=formats.LOOK.warn))
    return out


def alert_lines(reading: MetricsReading) -> Lines:
    if reading.alerts is None:
        return [Text("no alerting here (direct scrape)", style=formats.LOOK.quiet)]
    firing = [a for a in reading.alerts if a.state == "firing"]
    pending = len(reading.alerts) - len(firing)
    # A target of a configured service says it in its row; one of none, only here, the
    # address first: a pane is 26 columns wide on a 120-column terminal.
    targets = [
        Text(
            f"{formats.BAD} down {target.instance} (job {target.job}) since {target.when()}",
            style=formats.LOOK.bad,
        )
        for target in reading.down or []
        if not target.services
    ]
    if not firing:
        none = f"{formats.GOOD} none firing" + (f" · {pending} pending" if pending else "")
        return [Text(none), *targets]
    out = []
    for alert in firing:
        subject = alert.labels.get("service") or alert.labels.get("instance") or ""
        severity = f" [{alert.severity}]" if alert.severity else ""
        out.append(Text(f"{formats.BAD} {alert.name} {subject}{severity}", style=formats.LOOK.bad))
    out += targets
    if pending:
        out.append(Text(f"{pending} pending", style=formats.LOOK.quiet))
    return out


def pane_lines(
    config: Config,
    source: str,
    tracked: Tracked[Any],
    now: datetime,
    disk: Tracked[DiskUse] | None = None,
) -> Lines:
    """The lines of the pane for a source, by the source's name on the board; the
    PostgreSQL pane's with the `disk` of its data volume."""
    if source == "postgres":
        if config.postgres is None:
            return describe(tracked, now, postgres_lines(config), 'add [postgres] dsn = "…"')
        dsn = redact_url(config.postgres.dsn.get_secret_value())
        return with_disk(describe(tracked, now, postgres_lines(config), target=dsn), config, disk)
    if source == "redis":
        if config.redis is None:
            return describe(tracked, now, redis_lines(config), 'add [redis] url = "…"')
        url = redact_url(config.redis.url.get_secret_value())
        return describe(tracked, now, redis_lines(config), target=url)
    if source == "containers":
        hosts = [host.name for host in config.hosts if host.docker]
        if config.docker is None and not hosts:
            return describe(tracked, now, docker_lines, 'add [docker] base_url = "…"')
        engines = ([config.docker.base_url] if config.docker else []) + hosts
        return describe(tracked, now, docker_lines, target=", ".join(engines))
    if config.prometheus is None:
        return describe(tracked, now, alert_lines, "needs [prometheus] url")
    return describe(tracked, now, alert_lines, target=str(config.prometheus.url))
