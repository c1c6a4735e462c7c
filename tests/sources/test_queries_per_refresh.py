"""What one refresh costs each backend, counted by the backend itself, with few and with
many services configured: a console watching 40 services must not send Prometheus,
PostgreSQL or Redis 20 times the queries it sends for 2.

Each source is built by Monitor from a configuration, as the dashboard builds it, and
polled once, as the dashboard polls it on every refresh.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
import redis as redis_sync
from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client import Counter as CounterMetric
from prometheus_client.parser import text_string_to_metric_families

from opsconsole.config.model import Config
from opsconsole.monitoring.monitor import Monitor
from opsconsole.sources.metrics import MetricsReading
from opsconsole.sources.postgres import TAG, PostgresSource
from opsconsole.sources.prometheus import PrometheusSource
from opsconsole.sources.readings import RedisReading
from opsconsole.sources.redis import RedisSource
from tests.support.known_app import KnownTrafficApp
from tests.support.servers import OWN_DATABASE, PostgresServer, PrometheusServer, RedisServer

FEW, MANY = 2, 40


def service_names(count: int) -> list[str]:
    return [f"svc-{n:02d}" for n in range(count)]


def fleet_config(services: int, **sections: dict[str, Any]) -> Config:
    """A configuration of this many services, validated as opsconsole.toml would be. Their
    health URLs are never requested here: only the backend sections are polled."""
    return Config.model_validate(
        {
            "services": [
                {"name": name, "health_url": f"http://127.0.0.1:9/{name}/health"}
                for name in service_names(services)
            ],
            **sections,
        }
    )


# -- Prometheus ---------------------------------------------------------------------


class FleetApp:
    """Request metrics of any number of services, behind one exposition on loopback: every
    service records ten requests every 0.1 s, one of them a 500."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.durations = Histogram(
            "http_request_duration_seconds", "Durations.", ["service"], registry=self.registry
        )
        self.requests = CounterMetric(
            "http_requests_total", "Requests.", ["service", "status"], registry=self.registry
        )
        self.services: tuple[str, ...] = ()
        self._stop = threading.Event()

    def start(self) -> FleetApp:
        self._server, _ = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        threading.Thread(target=self._record, daemon=True).start()
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def _record(self) -> None:
        while not self._stop.wait(0.1):
            for service in self.services:
                for n in range(10):
                    self.durations.labels(service).observe(0.01 * (n + 1))
                    self.requests.labels(service, "500" if n == 0 else "200").inc()

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def fleet_app() -> Iterator[FleetApp]:
    app = FleetApp().start()
    yield app
    app.stop()


def api_requests(prometheus: PrometheusServer) -> collections.Counter[str]:
    """Requests Prometheus has answered, by handler, from its own counter. Read from its
    /metrics exposition, which is no API request; /metrics itself (Prometheus scrapes
    itself every second) is left out."""
    with urllib.request.urlopen(prometheus.url + "/metrics", timeout=5) as answer:
        exposition = answer.read().decode()
    counts: collections.Counter[str] = collections.Counter()
    for family in text_string_to_metric_families(exposition):
        if family.name == "prometheus_http_requests":
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels["handler"] != "/metrics":
                    counts[sample.labels["handler"]] += int(sample.value)
    return counts


def settled_api_requests(prometheus: PrometheusServer) -> collections.Counter[str]:
    """Prometheus counts a request just after answering it: read until the count holds."""
    last = api_requests(prometheus)
    for _ in range(20):
        time.sleep(0.2)
        now = api_requests(prometheus)
        if now == last:
            return now
        last = now
    raise AssertionError(f"Prometheus's request count never settled: {last}")


def shows_every_signal(reading: MetricsReading, services: list[str]) -> bool:
    return all(
        (m := reading.metrics.get(service)) is not None
        and m.request_rate > 0
        and m.p95_seconds is not None
        and m.error_rate is not None
        for service in services
    )


async def poll_until_all_shown(
    source: PrometheusSource, services: list[str], seconds: float = 40
) -> None:
    deadline = time.monotonic() + seconds
    while not shows_every_signal(await source.poll(), services):
        assert time.monotonic() < deadline, "Prometheus never had every service's rates"
        await asyncio.sleep(0.5)


async def test_prometheus_requests_per_refresh_do_not_grow_with_services(
    prometheus: PrometheusServer, fleet_app: FleetApp
) -> None:
    prometheus.scrape(fleet_app.address)
    per_poll: dict[int, collections.Counter[str]] = {}
    signals: dict[int, int] = {}
    for count in (FEW, MANY):
        services = service_names(count)
        fleet_app.services = tuple(services)
        monitor = Monitor(fleet_config(count, prometheus={"url": prometheus.url, "window": "10s"}))
        source = monitor.metrics
        assert isinstance(source, PrometheusSource)
        try:
            await poll_until_all_shown(source, services)
            before = settled_api_requests(prometheus)
            reading = await source.poll()
            after = settled_api_requests(prometheus)
        finally:
            await monitor.aclose()
        # The poll that was counted brought P95, request and error rate of every service.
        assert shows_every_signal(reading, services), reading
        per_poll[count] = after - before
        signals[count] = len(source.queries())

    # One query per signal, one for the targets down (`up == 0`), one look at the alerts:
    # the same for 2 services and for 40.
    assert signals[FEW] == signals[MANY] == 3
    expected = {"/api/v1/query": signals[FEW] + 1, "/api/v1/alerts": 1}
    assert per_poll[FEW] == expected, per_poll
    assert per_poll[MANY] == expected, per_poll


async def test_services_with_names_of_their_own_cost_one_query_a_signal_per_set(
    prometheus: PrometheusServer,
) -> None:
    """Three services on two sets of names (two share prometheus_client's, one has the
    NL-FHIR seed's own): a query per signal for each set, not one per service."""
    apps = [
        KnownTrafficApp("plain-a").start(),
        KnownTrafficApp("plain-b").start(),
        KnownTrafficApp("fhir", histogram="nl_fhir_request_duration_seconds",
                        counter="nl_fhir_requests_total").start(),
    ]  # fmt: skip
    try:
        prometheus.scrape(*(f"127.0.0.1:{app.port}" for app in apps))
        own = {"latency_histogram": "nl_fhir_request_duration_seconds",
               "requests_total": "nl_fhir_requests_total"}  # fmt: skip
        config = Config.model_validate(
            {"prometheus": {"url": prometheus.url, "window": "10s"},
             "services": [{"name": app.service, "health_url": "http://127.0.0.1:9/h",
                           **(own if app.service == "fhir" else {})} for app in apps]}
        )  # fmt: skip
        monitor = Monitor(config)
        source = monitor.metrics
        assert isinstance(source, PrometheusSource)
        try:
            await poll_until_all_shown(source, ["plain-a", "plain-b", "fhir"])
            before = settled_api_requests(prometheus)
            reading = await source.poll()
            after = settled_api_requests(prometheus)
        finally:
            await monitor.aclose()
    finally:
        for app in apps:
            app.stop()
    assert shows_every_signal(reading, ["plain-a", "plain-b", "fhir"]), reading
    assert after - before == {"/api/v1/query": 2 * 3 + 1, "/api/v1/alerts": 1}


# -- PostgreSQL ---------------------------------------------------------------------


def statements_in_own_database(postgres: PostgresServer) -> list[tuple[str, int]]:
    """Each statement run in the own database since the last reset, and how often; read from
    another database, so reading is not counted."""
    rows = postgres.execute(
        "SELECT query, calls FROM pg_stat_statements "  # noqa: S608 (a constant of the tests)
        f"WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '{OWN_DATABASE}')"
    )
    return [(str(query), int(str(calls))) for query, calls in rows]


@contextlib.asynccontextmanager
async def idle_sessions(dsn: str, count: int) -> AsyncIterator[None]:
    connections = [
        await psycopg.AsyncConnection.connect(dsn, autocommit=True) for _ in range(count)
    ]
    try:
        yield
    finally:
        for connection in connections:
            await connection.close()


async def test_postgres_statements_per_refresh_are_few_and_do_not_grow(
    postgres: PostgresServer, own_database: str
) -> None:
    per_poll: dict[int, list[int]] = {}
    # Many services, and many more sessions for the console to report on.
    for services, sessions in ((FEW, 1), (MANY, 20)):
        monitor = Monitor(fleet_config(services, postgres={"dsn": own_database}))
        source = monitor.postgres
        assert isinstance(source, PostgresSource)
        per_poll[services] = []
        async with idle_sessions(own_database, sessions):
            try:
                for _ in range(3):  # the first one connects, too
                    postgres.execute("SELECT pg_stat_statements_reset()")
                    reading = await source.poll()
                    statements = statements_in_own_database(postgres)
                    # Everything the console ran says so, for a DBA reading this view...
                    assert all(query.startswith(TAG) for query, _ in statements), statements
                    # ...and each of its statements ran once: none is repeated per row.
                    assert all(calls == 1 for _, calls in statements), statements
                    per_poll[services].append(sum(calls for _, calls in statements))
            finally:
                await monitor.aclose()
        assert reading.connections >= sessions  # the sessions were there to be reported

    # Activity, longest query, overview, top statements, replicas: five at most, every time.
    assert per_poll[FEW] == per_poll[MANY], per_poll
    assert len(set(per_poll[FEW])) == 1, per_poll
    assert 0 < per_poll[FEW][0] <= 5, per_poll


# -- Redis --------------------------------------------------------------------------


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis_sync.Redis]:
    client = redis_sync.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.flushall()
    client.close()


def redis_counts(client: redis_sync.Redis) -> tuple[collections.Counter[str], int]:
    """Commands the server has run, by name, and the requests it has read off its sockets:
    one per round trip, a pipeline's commands arriving together."""
    info = client.info("stats", "commandstats")
    commands = collections.Counter(
        {
            name.removeprefix("cmdstat_"): int(stat["calls"])
            for name, stat in info.items()
            if name.startswith("cmdstat_")
        }
    )
    return commands, int(info["total_reads_processed"])


async def one_poll(
    client: redis_sync.Redis, source: RedisSource
) -> tuple[RedisReading, collections.Counter[str], int]:
    """A poll, and the commands and round trips it cost Redis: what measuring costs is
    measured first and taken out."""
    commands_0, reads_0 = redis_counts(client)
    commands_1, reads_1 = redis_counts(client)
    reading = await source.poll()
    commands_2, reads_2 = redis_counts(client)
    commands = (commands_2 - commands_1) - (commands_1 - commands_0)
    return reading, commands, (reads_2 - reads_1) - (reads_1 - reads_0)


async def test_redis_commands_per_refresh_do_not_grow_with_services(
    redis_server: RedisServer, redis_client: redis_sync.Redis
) -> None:
    redis_client.rpush("orders_queue", *range(12))
    redis_client.xadd("jobs_stream", {"job": "1"})
    queues = ["orders_queue", "jobs_stream", "empty_queue"]
    per_poll: dict[int, tuple[collections.Counter[str], int]] = {}
    for count in (FEW, MANY):
        monitor = Monitor(fleet_config(count, redis={"url": redis_server.url, "queues": queues}))
        source = monitor.redis
        assert isinstance(source, RedisSource)
        try:
            await source.poll()  # a new connection's handshake is not a refresh's cost
            reading, commands, round_trips = await one_poll(redis_client, source)
        finally:
            await monitor.aclose()
        assert reading.queues == {"orders_queue": 12, "jobs_stream": 1, "empty_queue": 0}
        per_poll[count] = commands, round_trips
    assert per_poll[FEW] == per_poll[MANY], per_poll


async def test_watching_more_queues_costs_no_more_round_trips(
    redis_server: RedisServer, redis_client: redis_sync.Redis
) -> None:
    commands: dict[int, int] = {}
    round_trips: dict[int, int] = {}
    for count in (1, 20):
        queues = [f"queue-{count}-{n:02d}" for n in range(count)]
        for n, queue in enumerate(queues):
            redis_client.rpush(queue, *range(n + 1))
        source = RedisSource(redis_server.url, queues)
        try:
            await source.poll()
            reading, sent, round_trips[count] = await one_poll(redis_client, source)
        finally:
            await source.aclose()
        assert reading.queues == {queue: n + 1 for n, queue in enumerate(queues)}
        commands[count] = sum(sent.values())
    # INFO, then the type of every queue, then the length of every queue: three round
    # trips however many queues are watched...
    assert round_trips[1] == round_trips[20], round_trips
    assert round_trips[20] <= 3, round_trips
    # ...and within them, no more than two commands a queue.
    assert commands[1] <= 1 + 2 * 1, commands
    assert commands[20] <= 1 + 2 * 20, commands
