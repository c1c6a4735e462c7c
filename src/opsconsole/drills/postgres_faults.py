"""The PostgreSQL faults of a drill: the pool exhausted, a table locked."""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

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
    """A table held under ACCESS EXCLUSIVE by a session idle in its transaction, and
    `waiters` queries of that table waiting behind it, as an application's would: what the
    slow-queries runbook must find, and end at its head, not at its tail."""

    dsn: str
    run: str
    table: str
    waiters: int = 3
    holder: psycopg.Connection[Any] | None = None
    waiting: list[threading.Thread] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        return {"kind": "postgres_lock", "application_name": application_name(self.run)}

    def inject(self) -> str:
        with psycopg.connect(self.dsn, autocommit=True) as setup:
            setup.execute(f"CREATE TABLE IF NOT EXISTS {self.table} (id int)")  # validated name
        self.holder = psycopg.connect(self.dsn, application_name=application_name(self.run))
        self.holder.execute(f"LOCK TABLE {self.table} IN ACCESS EXCLUSIVE MODE")
        for _ in range(self.waiters):
            # Each waits in its own thread on its own connection: the query returns once
            # the lock is released, or fails once its session is ended by the undo.
            waiter = threading.Thread(target=self._wait, daemon=True, name="drill-waiter")
            waiter.start()
            self.waiting.append(waiter)
        waiting = self._until_waiting(self.waiters, seconds=10)
        return (
            f"{self.table} locked (ACCESS EXCLUSIVE) by a session idle in its transaction, "
            f"{waiting} queries waiting behind it"
        )

    def _wait(self) -> None:
        with contextlib.suppress(psycopg.Error):
            name = application_name(self.run)
            with psycopg.connect(self.dsn, autocommit=True, application_name=name) as waiter:
                query = sql.SQL("/* opsconsole drill */ SELECT count(*) FROM {}")
                waiter.execute(query.format(sql.Identifier(self.table)))

    def _until_waiting(self, count: int, seconds: float) -> int:
        """How many sessions of this drill wait on a lock, once `count` do (the fault is
        in) or `seconds` have passed: what is said is what was seen."""
        deadline = time.monotonic() + seconds
        waiting = 0
        with psycopg.connect(self.dsn, autocommit=True) as probe:
            while waiting < count and time.monotonic() < deadline:
                row = probe.execute(
                    "/* opsconsole drill */ SELECT count(*) FROM pg_stat_activity"
                    " WHERE application_name = %s AND wait_event_type = 'Lock'",
                    [application_name(self.run)],
                ).fetchone()
                waiting = int(row[0]) if row else 0
                if waiting < count:
                    time.sleep(0.1)
        return waiting

    def undo(self) -> str:
        if self.holder is not None:
            with contextlib.suppress(psycopg.Error):
                self.holder.close()
            self.holder = None
        ended = terminate(self.dsn, application_name(self.run))
        for waiter in self.waiting:
            waiter.join(5)
        self.waiting.clear()
        return f"lock released ({ended} left over sessions ended)"


def terminate(dsn: str, name: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as connection:
        rows = connection.execute(
            "/* opsconsole drill */ SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %s AND pid <> pg_backend_pid()",
            [name],
        ).fetchall()
    return len(rows)
