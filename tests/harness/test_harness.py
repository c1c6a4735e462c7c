"""Each real server of the harness answers, through the client the console uses for it."""

from __future__ import annotations

import json
import time
import urllib.request

import psycopg
import redis

from tests.support.servers import (
    BUSYBOX_IMAGE,
    TEST_LABEL,
    DockerDaemon,
    PostgresServer,
    PrometheusServer,
    RedisServer,
)


def test_postgres_answers_with_pg_stat_statements(postgres: PostgresServer) -> None:
    with psycopg.connect(postgres.dsn) as connection:
        version = connection.execute("SHOW server_version_num").fetchone()
        statements = connection.execute("SELECT count(*) FROM pg_stat_statements").fetchone()
        size = connection.execute("SELECT pg_database_size(current_database())").fetchone()
    assert version is not None
    assert int(version[0]) >= 150000
    assert statements is not None
    assert statements[0] >= 1
    assert size is not None
    assert size[0] > 0


def test_redis_answers(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url)
    client.delete("harness_queue")  # the server is the session's: a key of this test's own
    client.rpush("harness_queue", "a", "b")
    assert client.llen("harness_queue") == 2
    client.delete("harness_queue")
    assert "keyspace_hits" in client.info("stats")


def test_prometheus_scrapes_for_real(prometheus: PrometheusServer) -> None:
    url = prometheus.url + "/api/v1/query?query=" + urllib.parse.quote('up{job="prometheus"}')
    deadline = time.monotonic() + 20
    result: list[dict[str, object]] = []
    while time.monotonic() < deadline and not result:
        with urllib.request.urlopen(url, timeout=5) as answer:
            result = json.load(answer)["data"]["result"]
        time.sleep(0.5)
    assert result, "Prometheus never scraped itself"
    assert result[0]["value"][1] == "1"  # type: ignore[index]


def test_docker_runs_a_container(docker_daemon: DockerDaemon) -> None:
    client = docker_daemon.client()
    container = client.containers.run(
        BUSYBOX_IMAGE,
        ["sh", "-c", "echo ready-for-duty"],
        detach=True,
        network_mode="host",
        labels={TEST_LABEL: "harness"},
    )
    try:
        assert container.wait(timeout=30)["StatusCode"] == 0
        assert b"ready-for-duty" in container.logs()
        container.reload()
        assert container.attrs["State"]["OOMKilled"] is False
    finally:
        container.remove(force=True)
