"""The PostgreSQL faults of a drill: the pool exhausted, a table locked."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import psycopg

from opsconsole.drills.fault import application_name


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
        ended = terminate(self.dsn, application_name(self.run))
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
        ended = terminate(self.dsn, application_name(self.run))
        return f"lock released ({ended} left over sessions ended)"


def terminate(dsn: str, name: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as connection:
        rows = connection.execute(
            "/* opsconsole drill */ SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %s AND pid <> pg_backend_pid()",
            [name],
        ).fetchall()
    return len(rows)
