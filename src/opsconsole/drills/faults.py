"""The faults a drill injects into a sandbox, and how each is undone.

Each fault says, before it is injected, what undoing it takes (`record`): that record is
written first, so a console killed mid-drill leaves nothing behind that the next start
cannot undo. Every undo is safe to run twice, and safe to run for a fault that was only
half injected. Blocking clients: the drill calls these off its event loop."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Protocol

import docker
import psycopg
import redis
from docker.errors import NotFound

from opsconsole.config.model import Config
from opsconsole.drills.demo_faults import DEMO_PREFIX, DemoFault
from opsconsole.drills.model import FaultSpec
from opsconsole.drills.oom import ContainerOom

DRILL_KEY_PREFIX = "opsconsole-drill"
FILL_VALUE_BYTES = 256 * 1024


class Fault(Protocol):
    def record(self) -> dict[str, Any]:
        """All that undoing it needs, besides the configuration: no secret in it."""
        ...

    def inject(self) -> str:
        """Does it; says what it did."""
        ...

    def undo(self) -> str:
        """Undoes it, as far as it went; says what it did."""
        ...


def application_name(run: str) -> str:
    """How the drill's own PostgreSQL sessions are known, to end them after a crash."""
    return f"opsconsole drill {run}"


@dataclass
class PostgresConnections:
    """Idle sessions held open until the pool is nearly exhausted: `leave_free` slots
    remain under max_connections (and the superuser's reserved ones), so the console and
    the runbook can still look."""

    dsn: str
    run: str
    leave_free: int
    held: list[psycopg.Connection[Any]] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        return {"kind": "postgres_connections", "application_name": application_name(self.run)}

    def inject(self) -> str:
        with psycopg.connect(self.dsn, autocommit=True) as probe:
            row = probe.execute(
                "/* opsconsole drill */ SELECT current_setting('max_connections')::int"
                " - current_setting('superuser_reserved_connections')::int"
                " - coalesce(current_setting('reserved_connections', true), '0')::int"
                " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
            ).fetchone()
        wanted = int(row[0] if row else 0) - self.leave_free
        for _ in range(max(0, wanted)):
            self.held.append(
                psycopg.connect(
                    self.dsn, autocommit=True, application_name=application_name(self.run)
                )
            )
        return f"{len(self.held)} idle connections held open"

    def undo(self) -> str:
        closed = len(self.held)
        for connection in self.held:
            with contextlib.suppress(psycopg.Error):
                connection.close()
        self.held.clear()
        ended = _terminate(self.dsn, application_name(self.run))
        return f"{closed} connections closed, {ended} left over ended"


@dataclass
class PostgresLock:
    """A table held under ACCESS EXCLUSIVE by a session idle in its transaction: every
    query of that table waits behind it."""

    dsn: str
    run: str
    table: str
    holder: psycopg.Connection[Any] | None = None

    def record(self) -> dict[str, Any]:
        return {"kind": "postgres_lock", "application_name": application_name(self.run)}

    def inject(self) -> str:
        with psycopg.connect(self.dsn, autocommit=True) as setup:
            setup.execute(f"CREATE TABLE IF NOT EXISTS {self.table} (id int)")  # validated name
        self.holder = psycopg.connect(self.dsn, application_name=application_name(self.run))
        self.holder.execute(f"LOCK TABLE {self.table} IN ACCESS EXCLUSIVE MODE")
        return f"{self.table} locked (ACCESS EXCLUSIVE) by a session idle in its transaction"

    def undo(self) -> str:
        if self.holder is not None:
            with contextlib.suppress(psycopg.Error):
                self.holder.close()
            self.holder = None
        ended = _terminate(self.dsn, application_name(self.run))
        return f"lock released ({ended} left over sessions ended)"


def _terminate(dsn: str, name: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as connection:
        rows = connection.execute(
            "/* opsconsole drill */ SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %s AND pid <> pg_backend_pid()",
            [name],
        ).fetchall()
    return len(rows)


@dataclass
class RedisMemory:
    """Keys of the drill's own prefix written until used memory reaches maxmemory. Refused
    on a Redis without maxmemory: filling it would eat the host."""

    url: str
    run: str

    @property
    def prefix(self) -> str:
        return f"{DRILL_KEY_PREFIX}:{self.run}:"

    def record(self) -> dict[str, Any]:
        return {"kind": "redis_memory", "prefix": self.prefix}

    def inject(self) -> str:
        client = redis.Redis.from_url(self.url)
        try:
            limit = int(client.config_get("maxmemory").get("maxmemory") or 0)
            if limit == 0:
                raise FaultRefused("this Redis has no maxmemory: filling it would fill the host")
            value = b"x" * FILL_VALUE_BYTES
            written = 0
            while int(client.info("memory")["used_memory"]) < limit * 0.98:
                try:
                    client.set(f"{self.prefix}{written}", value)
                except redis.exceptions.OutOfMemoryError:
                    break  # noeviction: full is full
                written += 1
                if written > limit // FILL_VALUE_BYTES + 1000:
                    break  # evicting as fast as it fills: as full as it gets
            return f"{written} keys of {FILL_VALUE_BYTES // 1024} KiB under {self.prefix}*"
        finally:
            client.close()

    def undo(self) -> str:
        return f"{_delete_prefixed(self.url, self.prefix)} keys {self.prefix}* deleted"


@dataclass
class RedisQueue:
    """A backlog: `items` marked entries pushed onto the queue; undo removes those only."""

    url: str
    run: str
    queue: str
    items: int

    @property
    def marker(self) -> str:
        return f"{DRILL_KEY_PREFIX}:{self.run}"

    def record(self) -> dict[str, Any]:
        return {"kind": "redis_queue", "queue": self.queue, "marker": self.marker}

    def inject(self) -> str:
        client = redis.Redis.from_url(self.url)
        try:
            pipe = client.pipeline(transaction=False)
            for start in range(0, self.items, 1000):
                pipe.rpush(self.queue, *([self.marker] * min(1000, self.items - start)))
            pipe.execute()
        finally:
            client.close()
        return f"{self.items} entries pushed onto {self.queue}"

    def undo(self) -> str:
        client = redis.Redis.from_url(self.url)
        try:
            removed = int(client.lrem(self.queue, 0, self.marker))
        finally:
            client.close()
        return f"{removed} drill entries removed from {self.queue}"


def _delete_prefixed(url: str, prefix: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        deleted = 0
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            batch.append(key)
            if len(batch) == 1000:
                deleted += int(client.unlink(*batch))
                batch = []
        if batch:
            deleted += int(client.unlink(*batch))
        return deleted
    finally:
        client.close()


@dataclass
class ContainerFault:
    """A container stopped, killed (SIGKILL) or paused; undo starts or unpauses it."""

    base_url: str
    container: str
    action: str

    def record(self) -> dict[str, Any]:
        return {"kind": f"container_{self.action}", "container": self.container}

    def inject(self) -> str:
        client = docker.DockerClient(base_url=self.base_url, timeout=30)
        try:
            found = client.containers.get(self.container)
            if self.action == "stop":
                found.stop(timeout=5)
            elif self.action == "kill":
                found.kill()
            else:
                found.pause()
        finally:
            client.close()
        return f"container {self.container}: {self.action}"

    def undo(self) -> str:
        client = docker.DockerClient(base_url=self.base_url, timeout=30)
        try:
            found = client.containers.get(self.container)
            if found.status == "paused":
                found.unpause()
                return f"container {self.container} unpaused"
            if found.status != "running":
                found.start()
                return f"container {self.container} started"
            return f"container {self.container} was running"
        except NotFound:
            return f"container {self.container} is gone: nothing to start"
        finally:
            client.close()


class FaultRefused(Exception):
    """The fault would do harm beyond the drill, or the target cannot take it."""


def make_fault(spec: FaultSpec, config: Config, target: str, run: str) -> Fault:
    kind = spec.kind
    if kind.startswith("postgres_"):
        assert config.postgres is not None
        dsn = config.postgres.dsn.get_secret_value()
        if kind == "postgres_connections":
            return PostgresConnections(dsn, run, spec.leave_free)
        return PostgresLock(dsn, run, spec.table)
    if kind.startswith("redis_"):
        assert config.redis is not None
        url = config.redis.url.get_secret_value()
        if kind == "redis_memory":
            return RedisMemory(url, run)
        queue = spec.queue or config.redis.queues[0]
        return RedisQueue(url, run, queue, spec.items)
    if kind.startswith(DEMO_PREFIX):
        return DemoFault(target, kind.removeprefix(DEMO_PREFIX))
    assert config.docker is not None
    service = next(s for s in config.services if s.name == target)
    assert service.container is not None
    if kind == "container_oom":
        return ContainerOom(config.docker.base_url, service.container)
    action = kind.removeprefix("container_")
    return ContainerFault(config.docker.base_url, service.container, action)


def undo_recorded(record: dict[str, Any], config: Config) -> str:
    """Undoes a fault from its record alone: after a crash, by the next start."""
    kind = str(record["kind"])
    run = str(record.get("run", ""))
    if kind in ("postgres_connections", "postgres_lock"):
        if config.postgres is None:
            raise FaultRefused("no [postgres] in the configuration to undo it with")
        dsn = config.postgres.dsn.get_secret_value()
        ended = _terminate(dsn, str(record["application_name"]))
        return f"{ended} drill sessions ended"
    if kind in ("redis_memory", "redis_queue"):
        if config.redis is None:
            raise FaultRefused("no [redis] in the configuration to undo it with")
        url = config.redis.url.get_secret_value()
        if kind == "redis_memory":
            return f"{_delete_prefixed(url, str(record['prefix']))} drill keys deleted"
        return RedisQueue(url, run, str(record["queue"]), 0).undo()
    if kind.startswith(DEMO_PREFIX):
        return DemoFault(str(record["service"]), kind.removeprefix(DEMO_PREFIX)).undo()
    if config.docker is None:
        raise FaultRefused("no [docker] in the configuration to undo it with")
    if kind == "container_oom":
        return ContainerOom(config.docker.base_url, str(record["container"])).undo()
    action = kind.removeprefix("container_")
    return ContainerFault(config.docker.base_url, str(record["container"]), action).undo()
