"""PostgreSQL as the runbooks check it with psql: connections against max_connections,
long queries and idle transactions, size, cache hit ratio, slow statements, replication.

Every statement carries an ``/* opsconsole */`` comment, so a DBA can tell the console's
load from the application's, and the console's own session is left out of what it reports.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg.rows import class_row

from opsconsole.common.redact import redact_sql
from opsconsole.sources.backups import read_backups
from opsconsole.sources.readings import PostgresReading, Replica, Statement

TAG = "/* opsconsole */"
R = TypeVar("R")
STATEMENT_TIMEOUT_MS = 5000


@dataclass(frozen=True)
class _Activity:
    state: str
    sessions: int
    oldest_idle_in_transaction: float | None


@dataclass(frozen=True)
class _Longest:
    seconds: float
    query: str


@dataclass(frozen=True)
class _Overview:
    max_connections: int
    size: int
    hit_ratio: float | None
    in_recovery: bool
    replay_lag: float | None
    has_statements: bool


# Column names match the fields of the dataclass each query's rows become. Each starts
# with TAG, written out so that the queries are plain constants.
ACTIVITY = """/* opsconsole */
SELECT coalesce(state, 'unknown') AS state, count(*)::int AS sessions,
       max(extract(epoch FROM now() - state_change)::float8)
           FILTER (WHERE state LIKE 'idle in transaction%') AS oldest_idle_in_transaction
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
GROUP BY 1"""

LONGEST_QUERY = """/* opsconsole */
SELECT extract(epoch FROM now() - query_start)::float8 AS seconds, left(query, 300) AS query
FROM pg_stat_activity
WHERE state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid()
ORDER BY query_start
LIMIT 1"""

OVERVIEW = """/* opsconsole */
SELECT current_setting('max_connections')::int AS max_connections,
       pg_database_size(current_database()) AS size,
       (SELECT sum(blks_hit)::float8 / nullif(sum(blks_hit) + sum(blks_read), 0)
          FROM pg_stat_database) AS hit_ratio,
       pg_is_in_recovery() AS in_recovery,
       CASE WHEN pg_is_in_recovery()
            THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8
       END AS replay_lag,
       EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements')
           AS has_statements"""

TOP_STATEMENTS = """/* opsconsole */
SELECT left(query, 300) AS query, calls, mean_exec_time AS mean_ms, total_exec_time AS total_ms
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND query NOT LIKE '/* opsconsole */%'
ORDER BY mean_exec_time DESC
LIMIT 5"""

REPLICAS = """/* opsconsole */
SELECT application_name AS name, client_addr::text AS address, state,
       extract(epoch FROM replay_lag)::float8 AS replay_lag_seconds
FROM pg_stat_replication"""

Connection = psycopg.AsyncConnection[tuple[Any, ...]]


class PostgresSource:
    """Keeps one connection and opens it again after a failure."""

    def __init__(self, dsn: str, timeout: float = 5.0, backup_dir: Path | None = None) -> None:
        self._dsn = dsn
        self.timeout = timeout
        self.backup_dir = backup_dir
        self._connection: Connection | None = None

    async def poll(self) -> PostgresReading:
        try:
            reading = await self._poll(await self._connect())
        except BaseException:
            await self.close()  # a broken connection is not reused
            raise
        if self.backup_dir is None:
            return reading
        return replace(reading, backup=await asyncio.to_thread(read_backups, self.backup_dir))

    async def _connect(self) -> Connection:
        if self._connection is None or self._connection.closed:
            self._connection = await psycopg.AsyncConnection.connect(
                self._dsn,
                autocommit=True,
                connect_timeout=max(1, round(self.timeout)),
                application_name="opsconsole",
                options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
            )
        return self._connection

    async def _poll(self, db: Connection) -> PostgresReading:
        activity = await _rows(db, ACTIVITY, _Activity)
        longest = next(iter(await _rows(db, LONGEST_QUERY, _Longest)), None)
        (overview,) = await _rows(db, OVERVIEW, _Overview)
        statements, note = await self._statements(db, overview.has_statements)
        idle_in_transaction = [
            a.oldest_idle_in_transaction
            for a in activity
            if a.oldest_idle_in_transaction is not None
        ]
        return PostgresReading(
            connections_by_state={a.state: a.sessions for a in activity},
            max_connections=overview.max_connections,
            longest_query_seconds=longest.seconds if longest else None,
            longest_query=redact_sql(longest.query) if longest else None,
            longest_idle_in_transaction_seconds=max(idle_in_transaction, default=None),
            database_size_bytes=overview.size,
            cache_hit_ratio=overview.hit_ratio,
            top_statements=statements,
            statements_note=note,
            in_recovery=overview.in_recovery,
            replica_lag_seconds=overview.replay_lag,
            replicas=await _rows(db, REPLICAS, Replica),
        )

    async def _statements(
        self, db: Connection, installed: bool
    ) -> tuple[list[Statement] | None, str | None]:
        if not installed:
            return None, "pg_stat_statements not installed"
        try:
            return await _rows(db, TOP_STATEMENTS, Statement), None
        except psycopg.errors.ObjectNotInPrerequisiteState:
            return None, "pg_stat_statements not in shared_preload_libraries"

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()


async def _rows(db: Connection, query: str, row: type[R]) -> list[R]:
    async with db.cursor(row_factory=class_row(row)) as cursor:
        await cursor.execute(query)
        return await cursor.fetchall()
