"""The probes a runbook's `check` steps ask: an HTTP status, a PromQL value, a SQL scalar,
a Redis reply, from the backends the configuration names. A probe's client library is
loaded when a check first asks it: most consoles never run a SQL check."""

from __future__ import annotations

import asyncio
import shlex

from opsconsole.config.model import Config

PROBE_TIMEOUT_SECONDS = 10.0


class ProbeUnavailable(LookupError):
    """The configuration has no backend for this probe."""


class ConfiguredProbes:
    def __init__(self, config: Config | None) -> None:
        self.config = config

    async def probe(self, kind: str, target: str) -> object:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            if kind == "http":
                return await self._http(target)
            if kind == "promql":
                return await asyncio.to_thread(self._promql, target)
            if kind == "sql":
                return await self._sql(target)
            if kind == "redis":
                return await self._redis(target)
        raise ProbeUnavailable(f"no probe of kind {kind!r}")

    async def _http(self, url: str) -> int:
        from opsconsole.sources.http import new_session

        async with new_session() as session, session.get(url, allow_redirects=False) as answer:
            return answer.status

    def _promql(self, query: str) -> float | None:
        if self.config is None or self.config.prometheus is None:
            raise ProbeUnavailable("no [prometheus] url in the configuration")
        from prometheus_api_client import PrometheusConnect

        prometheus = PrometheusConnect(url=str(self.config.prometheus.url), disable_ssl=False)
        result = prometheus.custom_query(query)
        # A scalar query answers [time, "value"]; a vector, a list of samples: take the first.
        if isinstance(result, list) and result and isinstance(result[0], dict):
            return float(result[0]["value"][1])
        if isinstance(result, list) and len(result) == 2:
            return float(result[1])
        return None

    async def _sql(self, query: str) -> object:
        if self.config is None or self.config.postgres is None:
            raise ProbeUnavailable("no [postgres] dsn in the configuration")
        import psycopg

        dsn = self.config.postgres.dsn.get_secret_value()
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as db:
            await db.execute("SET statement_timeout = 5000")
            cursor = await db.execute(f"/* opsconsole check */ {query}".encode())
            row = await cursor.fetchone()
            return row[0] if row else None

    async def _redis(self, command: str) -> object:
        if self.config is None or self.config.redis is None:
            raise ProbeUnavailable("no [redis] url in the configuration")
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(self.config.redis.url.get_secret_value())
        try:
            reply = await client.execute_command(*shlex.split(command))  # type: ignore[no-untyped-call]
        finally:
            await client.aclose()
        return reply.decode(errors="replace") if isinstance(reply, bytes) else reply
