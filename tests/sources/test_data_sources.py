"""PostgreSQL and Redis sources against the real servers of the harness."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
import redis as redis_sync

from opsconsole.sources.base import read
from opsconsole.sources.postgres import TAG, PostgresSource
from opsconsole.sources.redis import RedisSource
from tests.support.servers import OWN_DATABASE, PostgresServer, RedisServer, free_port

# -- PostgreSQL --------------------------------------------------------------------


@contextlib.asynccontextmanager
async def sessions(
    dsn: str, count: int
) -> AsyncIterator[list[psycopg.AsyncConnection[tuple[object, ...]]]]:
    connections = [
        await psycopg.AsyncConnection.connect(dsn, autocommit=True) for _ in range(count)
    ]
    try:
        yield connections
    finally:
        for connection in connections:
            await connection.close()


async def test_postgres_reports_sessions_idle_transactions_and_a_slow_query(
    own_database: str,
) -> None:
    source = PostgresSource(own_database)
    async with sessions(own_database, 4) as (_, _, in_transaction, slow):
        await in_transaction.execute("BEGIN")
        await in_transaction.execute("SELECT 1")
        slow_query = asyncio.create_task(slow.execute("SELECT pg_sleep(3), 'slow one'"))
        await asyncio.sleep(1.2)
        try:
            reading = await source.poll()
        finally:
            await slow_query
            await source.close()
    by_state = reading.connections_by_state
    assert by_state.get("idle") == 2
    assert by_state.get("idle in transaction") == 1
    assert by_state.get("active") == 1  # the slow query; the console's own session is not here
    assert reading.connections == 4
    assert reading.max_connections == 100
    assert reading.longest_query is not None
    assert "slow one" in reading.longest_query
    assert reading.longest_query_seconds is not None
    assert reading.longest_query_seconds >= 1.0
    assert reading.longest_idle_in_transaction_seconds is not None
    assert reading.longest_idle_in_transaction_seconds >= 1.0
    assert reading.database_size_bytes > 1_000_000
    assert reading.cache_hit_ratio is not None
    assert 0 < reading.cache_hit_ratio <= 1
    assert reading.in_recovery is False
    assert reading.replicas == []


async def test_postgres_top_statements_leave_out_the_console(
    own_database: str, postgres: PostgresServer
) -> None:
    postgres.execute_in(OWN_DATABASE, "CREATE TABLE t AS SELECT generate_series(1, 50000) AS n")
    for _ in range(3):
        postgres.execute_in(OWN_DATABASE, "SELECT count(*) FROM t WHERE n % 7 = 3")
    source = PostgresSource(own_database)
    try:
        await source.poll()
        reading = await source.poll()
    finally:
        await source.close()
    assert reading.statements_note is None
    assert reading.top_statements
    queries = [s.query for s in reading.top_statements]
    assert any("FROM t WHERE n % $1 = $2" in q for q in queries), queries
    assert not any(TAG in q for q in queries)
    # What the console ran is marked, for a DBA reading pg_stat_statements.
    ((marked,),) = postgres.execute_in(
        OWN_DATABASE, "SELECT count(*) FROM pg_stat_statements WHERE query LIKE '/* opsconsole */%'"
    )
    assert isinstance(marked, int)
    assert marked >= 3


async def test_postgres_without_pg_stat_statements_says_so(
    own_database: str, postgres: PostgresServer
) -> None:
    postgres.execute_in(OWN_DATABASE, "DROP EXTENSION pg_stat_statements")
    source = PostgresSource(own_database)
    try:
        reading = await source.poll()
    finally:
        await source.close()
    assert reading.top_statements is None
    assert reading.statements_note == "pg_stat_statements not installed"


async def test_postgres_down_is_a_reason_and_the_source_reconnects(
    own_database: str, postgres: PostgresServer
) -> None:
    refused = PostgresSource(f"postgresql://postgres:hunter2@127.0.0.1:{free_port()}/app")
    reading = await read(refused.poll, seconds=5)
    assert reading.value is None
    assert reading.error is not None
    assert "refused" in reading.error
    assert "hunter2" not in reading.error

    source = PostgresSource(own_database)
    try:
        await source.poll()
        # The server ends the console's session (as a failover or a DBA would)...
        postgres.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'opsconsole'"
        )
        broken = await read(source.poll, seconds=5)
        assert broken.error is not None
        # ...and the next poll connects again by itself.
        assert (await read(source.poll, seconds=5)).ok
    finally:
        await source.close()


# -- Redis ---------------------------------------------------------------------------


@pytest.fixture
def redis_db(redis_server: RedisServer) -> Iterator[redis_sync.Redis]:
    client = redis_sync.Redis.from_url(redis_server.url)
    client.flushall()
    client.config_resetstat()
    yield client
    client.flushall()


async def test_redis_reports_known_hits_misses_and_queue_lengths_exactly(
    redis_server: RedisServer, redis_db: redis_sync.Redis
) -> None:
    redis_db.rpush("audit_events_queue", *[f"event-{n}" for n in range(37)])
    redis_db.xadd("jobs_stream", {"job": "1"})
    redis_db.hset("not_a_queue", "k", "v")
    redis_db.set("cached", "value")
    source = RedisSource(
        redis_server.url, ["audit_events_queue", "jobs_stream", "empty_queue", "not_a_queue"]
    )
    try:
        first = await source.poll()
        for _ in range(3):
            redis_db.get("cached")  # hits
        redis_db.get("nope")  # a miss
        second = await source.poll()
        third = await source.poll()  # the console's own look-ups must not move the ratio
    finally:
        await source.aclose()
    assert first.queues == {
        "audit_events_queue": 37,
        "jobs_stream": 1,
        "empty_queue": 0,
        "not_a_queue": "a hash, not a queue",
    }
    assert (first.keyspace_hits, first.keyspace_misses) == (0, 0)
    assert first.hit_ratio is None
    assert (second.keyspace_hits, second.keyspace_misses) == (3, 1)
    assert second.hit_ratio == 0.75
    assert (third.keyspace_hits, third.keyspace_misses) == (3, 1)
    assert third.clients >= 2
    assert third.used_memory_bytes > 0
    assert third.max_memory_bytes is None  # no maxmemory set
    assert third.role == "master"


async def test_redis_maxmemory_and_evictions_are_reported(
    redis_server: RedisServer, redis_db: redis_sync.Redis
) -> None:
    redis_db.config_set("maxmemory", "20mb")
    redis_db.config_set("maxmemory-policy", "allkeys-lru")
    try:
        payload = "x" * 10_000
        with redis_db.pipeline(transaction=False) as pipe:
            for n in range(4000):  # 40 MB into 20 MB
                pipe.set(f"fill:{n}", payload)
            pipe.execute()
        source = RedisSource(redis_server.url, [])
        try:
            reading = await source.poll()
        finally:
            await source.aclose()
    finally:
        redis_db.config_set("maxmemory", "0")
    assert reading.max_memory_bytes == 20 * 1024 * 1024
    assert reading.evicted_keys > 0
    assert reading.used_memory_bytes <= reading.max_memory_bytes * 1.1


async def test_redis_down_is_a_reason() -> None:
    source = RedisSource(f"redis://127.0.0.1:{free_port()}/0", ["q"])
    try:
        reading = await read(source.poll, seconds=5)
    finally:
        await source.aclose()
    assert reading.value is None
    assert reading.error is not None
    assert "refused" in reading.error
