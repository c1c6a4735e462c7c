"""The shared store: the same events, the same lines and the same chain, in PostgreSQL,
so that several engineers (on one bastion or several) work one incident together.

An append takes a transaction-scoped advisory lock on the incident, so two consoles
never fork its chain, and commits before it returns (the event is then as durable as the
database). Every append is announced with NOTIFY; `changes` LISTENs for them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from opsconsole.common.redact import redact_url
from opsconsole.incidents.chain import Verification, make_event, to_line, verify_lines
from opsconsole.incidents.model import Actor, Event, Kind
from opsconsole.incidents.store import (
    LISTENING,
    IncidentExists,
    IncidentStore,
    StoreError,
    UnknownIncident,
)

CHANNEL = "opsconsole_incidents"
TABLE = "opsconsole_incident_events"
_TABLE = sql.Identifier(TABLE)
SCHEMA = sql.SQL("""
CREATE TABLE IF NOT EXISTS {} (
    incident text NOT NULL,
    seq integer NOT NULL,
    line text NOT NULL,
    PRIMARY KEY (incident, seq)
)""").format(_TABLE)
LAST = sql.SQL("SELECT line FROM {} WHERE incident = %s ORDER BY seq DESC LIMIT 1").format(_TABLE)
INSERT = sql.SQL("INSERT INTO {} (incident, seq, line) VALUES (%s, %s, %s)").format(_TABLE)
ALL = sql.SQL("SELECT line FROM {} WHERE incident = %s ORDER BY seq").format(_TABLE)
IDS = sql.SQL("SELECT DISTINCT incident FROM {} ORDER BY incident").format(_TABLE)


class PostgresStore(IncidentStore):
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._connection: psycopg.Connection[Any] | None = None

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """A transaction on the store's connection, connected when need be. A database
        error comes out as a StoreError that names the store (its password masked); a
        lost connection is dropped, so the next call connects again."""
        try:
            if self._connection is None or self._connection.closed:
                self._connection = psycopg.connect(
                    self.dsn, application_name="opsconsole incidents"
                )
                with self._connection.transaction():
                    # Two consoles starting at once must not both create the table.
                    self._connection.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [TABLE])
                    self._connection.execute(SCHEMA)
            with self._connection.transaction():
                yield self._connection
        except psycopg.Error as error:
            if isinstance(error, psycopg.OperationalError) and self._connection is not None:
                self._connection.close()
            raise StoreError(
                f"the shared incident store {redact_url(self.dsn)}: {error}".strip()
            ) from error

    def _create(self, incident: str, data: dict[str, Any], who: Actor) -> Event:
        return self._write(incident, Kind.OPENED, data, who, first=True)

    def append(self, incident: str, kind: str, data: dict[str, Any], who: Actor) -> Event:
        return self._write(incident, kind, data, who, first=False)

    def _write(
        self, incident: str, kind: str, data: dict[str, Any], who: Actor, *, first: bool
    ) -> Event:
        with self._transaction() as connection:
            connection.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [incident])
            row = connection.execute(LAST, [incident]).fetchone()
            if first and row is not None:
                raise IncidentExists(f"incident {incident} exists already")
            if not first and row is None:
                raise UnknownIncident(f"no incident {incident}")
            previous = Event.from_json(json.loads(row[0])) if row else None
            event = make_event(incident, previous, kind, data, who)
            connection.execute(INSERT, [incident, event.seq, to_line(event).rstrip("\n")])
            connection.execute("SELECT pg_notify(%s, %s)", [CHANNEL, f"{incident} {event.seq}"])
        return event  # committed: as durable as the database

    def read(self, incident: str) -> Verification:
        with self._transaction() as connection:
            rows = connection.execute(ALL, [incident]).fetchall()
        if not rows:
            raise UnknownIncident(f"no incident {incident}")
        return verify_lines(incident, [row[0] for row in rows])

    def ids(self) -> list[str]:
        with self._transaction() as connection:
            rows = connection.execute(IDS).fetchall()
        return [row[0] for row in rows]

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()

    async def changes(self, every: float = 1.0) -> AsyncGenerator[str]:
        """The id of each incident any console appends to, as it is committed: told by
        NOTIFY, not polled (`every` is not used)."""
        try:
            async with await psycopg.AsyncConnection.connect(
                self.dsn, autocommit=True, application_name="opsconsole incidents listen"
            ) as connection:
                await connection.execute(f"LISTEN {CHANNEL}")
                yield LISTENING
                async for notice in connection.notifies():
                    yield notice.payload.rpartition(" ")[0]
        except psycopg.Error as error:
            raise StoreError(
                f"the shared incident store {redact_url(self.dsn)}: {error}".strip()
            ) from error
