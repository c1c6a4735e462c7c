"""The probes a runbook's `check` steps ask: an HTTP status, a PromQL value, a SQL scalar,
a Redis reply, from the backends the configuration names. A probe's client library is
loaded when a check first asks it: most consoles never run a SQL check."""

from __future__ import annotations

import asyncio
import os
import shlex
from urllib.parse import urlsplit

from opsconsole.config.model import Config

PROBE_TIMEOUT_SECONDS = 10.0


class ProbeUnavailable(LookupError):
    """The configuration has no backend for this probe."""


class ConfiguredProbes:
    def __init__(self, config: Config | None) -> None:
        self.config = config

    async def probe(self, kind: str, target: str, on: str | None = None) -> object:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            if kind == "http":
                return await self._http(target)
            if kind == "promql":
                return await asyncio.to_thread(self._promql, target, on)
            if kind == "sql":
                return await self._sql(target, on)
            if kind == "redis":
                return await self._redis(target, on)
        raise ProbeUnavailable(f"no probe of kind {kind!r}")

    async def _http(self, url: str) -> int:
        from opsconsole.sources.http import new_session

        async with new_session() as session, session.get(url, allow_redirects=False) as answer:
            return answer.status

    def _promql(self, query: str, on: str | None) -> float | None:
        if on is None and (self.config is None or self.config.prometheus is None):
            raise ProbeUnavailable("no [prometheus] url in the configuration")
        from prometheus_api_client import PrometheusConnect

        url = on or str(self.config.prometheus.url)  # type: ignore[union-attr]
        prometheus = PrometheusConnect(url=url, disable_ssl=False)
        result = prometheus.custom_query(query)
        # A scalar query answers [time, "value"]; a vector, a list of samples: take the first.
        if isinstance(result, list) and result and isinstance(result[0], dict):
            return float(result[0]["value"][1])
        if isinstance(result, list) and len(result) == 2:
            return float(result[1])
        return None

    async def _sql(self, query: str, on: str | None) -> object:
        configured = self.config.postgres if self.config is not None else None
        if on is None and configured is None:
            raise ProbeUnavailable("no [postgres] dsn in the configuration")
        import psycopg

        dsn = configured.dsn.get_secret_value() if configured is not None else ""
        if on is not None and not same_postgres(on, dsn):
            dsn = on  # another server: libpq takes PGPASSWORD from the environment, as psql
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as db:
            await db.execute("SET statement_timeout = 5000")
            cursor = await db.execute(f"/* opsconsole check */ {query}".encode())
            row = await cursor.fetchone()
            return row[0] if row else None

    async def _redis(self, command: str, on: str | None) -> object:
        configured = self.config.redis if self.config is not None else None
        if on is None and configured is None:
            raise ProbeUnavailable("no [redis] url in the configuration")
        import redis.asyncio as aioredis

        url = configured.url.get_secret_value() if configured is not None else ""
        if on is not None and not same_redis(on, url):
            # Another server: its password as redis-cli takes it.
            client = aioredis.Redis.from_url(on, password=os.environ.get("REDISCLI_AUTH"))
        else:
            client = aioredis.Redis.from_url(url)
        try:
            reply = await client.execute_command(*shlex.split(command))  # type: ignore[no-untyped-call]
        finally:
            await client.aclose()
        return reply.decode(errors="replace") if isinstance(reply, bytes) else reply


def same_postgres(on: str, dsn: str) -> bool:
    """Whether `on` names the server and database of the configured DSN: then the
    configured credentials are used, not the environment's."""
    if not dsn:
        return False
    from psycopg.conninfo import conninfo_to_dict

    mine, theirs = conninfo_to_dict(on), conninfo_to_dict(dsn)
    if mine.get("user") not in (None, theirs.get("user")):
        return False  # another role: what it may see is its own (pg_stat_activity)
    keys = ("host", "port", "dbname")
    defaults = {"port": "5432"}
    return all(
        str(mine.get(k) or defaults.get(k, "")) == str(theirs.get(k) or defaults.get(k, ""))
        for k in keys
    )


def same_redis(on: str, url: str) -> bool:
    if not url:
        return False
    mine, theirs = urlsplit(on), urlsplit(url)
    return (mine.hostname, mine.port or 6379, mine.path.strip("/") or "0") == (
        theirs.hostname, theirs.port or 6379, theirs.path.strip("/") or "0",
    )  # fmt: skip
