"""What the sources read, without their client libraries: the board, the widgets and
`opsconsole status` hold these, and a console with no [postgres] never loads psycopg to
know what a PostgreSQL reading is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from opsconsole.sources.backups import BackupReading


class HealthState(StrEnum):
    UP = "UP"
    DEGRADED = "DEGRADED"
    DOWN = "DOWN"


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
    certificate_expires: datetime | None = None
    """An https health URL's: when the certificate it was answered with expires (as
    verified: a certificate the host does not trust fails the check instead)."""


MISSING = "missing"
"""The state of a configured container the daemon does not have."""
UNKNOWN = "not seen"
"""The state of a container whose engine has never answered: nothing is known of it yet
(its engine out of reach from the start), which is not the same as missing (a state the
engine says), nor as "unknown" (an answer without a state)."""


@dataclass(frozen=True)
class Statement:
    query: str
    """As pg_stat_statements normalises it: constants are $1, $2..."""
    calls: int
    mean_ms: float
    total_ms: float


@dataclass(frozen=True)
class Replica:
    name: str
    address: str | None
    """None for a replica on a local socket."""
    state: str
    replay_lag_seconds: float | None


@dataclass(frozen=True)
class PostgresReading:
    connections_by_state: dict[str, int]
    """Client sessions but ours, by state: active, idle, idle in transaction..."""
    max_connections: int
    longest_query_seconds: float | None
    longest_query: str | None
    """Its text, literals after PASSWORD redacted, cut to 300 characters."""
    longest_idle_in_transaction_seconds: float | None
    database_size_bytes: int
    cache_hit_ratio: float | None
    top_statements: list[Statement] | None
    """By mean time; None when pg_stat_statements cannot be read (see statements_note)."""
    statements_note: str | None
    in_recovery: bool
    replica_lag_seconds: float | None
    """On a replica: time since the last replayed transaction."""
    replicas: list[Replica]
    """On a primary: its streaming replicas."""
    backup: BackupReading | None = None
    """The newest backup in [postgres] backup_dir, where one is configured."""

    @property
    def connections(self) -> int:
        return sum(self.connections_by_state.values())


@dataclass(frozen=True)
class RedisReading:
    version: str
    role: str
    clients: int
    blocked_clients: int
    used_memory_bytes: int
    max_memory_bytes: int | None
    """None when maxmemory is 0: no limit."""
    hit_ratio: float | None
    """keyspace_hits / (hits + misses) since the server's start or last CONFIG RESETSTAT,
    the console's own look-ups taken out; None before any look-up."""
    keyspace_hits: int
    keyspace_misses: int
    ops_per_second: int
    evicted_keys: int
    queues: dict[str, int | str]
    """Length of each configured queue key, or why it has none ("a hash, not a queue")."""


@dataclass(frozen=True)
class ContainerStatus:
    name: str
    state: str
    """Docker's State.Status (running, exited, paused, restarting, created, dead), or
    "missing" for a configured name the daemon does not have."""
    health: str | None
    """State.Health.Status (starting, healthy, unhealthy); None without a health check."""
    restart_count: int
    """Restarts by the restart policy; a manual `docker restart` does not count."""
    oom_killed: bool
    exit_code: int | None
    """The last exit code of an exited, dead or restarting container; None otherwise."""
    started_at: str | None
    cpu_percent: float | None
    """Since the previous poll, 100 per busy core; None on a container's first poll, and
    unless it is running."""
    memory_bytes: int | None
    """In use, less the inactive file cache the kernel reclaims first (as `docker stats`);
    None unless the container is running or paused."""
    memory_limit_bytes: int | None
    """The container's limit; the host's memory when it has none."""
    host: str | None = None
    """The [[hosts]] entry whose engine runs it; None: this machine's (or [docker])."""
    unreachable: str | None = None
    """Why its host cannot be reached now, and since when: what else it says is the last
    state known, not the present one."""


def missing(name: str) -> ContainerStatus:
    return ContainerStatus(name, MISSING, None, 0, False, None, None, None, None, None)


def unknown(name: str) -> ContainerStatus:
    return ContainerStatus(name, UNKNOWN, None, 0, False, None, None, None, None, None)


STOPPED = "stopped"
"""What a follow of a container's logs returns when it ended because it was asked to."""
