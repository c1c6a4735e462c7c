"""Session-wide real servers. Under CI=true a server that cannot start fails the run."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from tests.servers import (
    DockerDaemon,
    PostgresServer,
    PrometheusServer,
    RedisServer,
    Server,
    ServerUnavailable,
)

OWN_DATABASE = "own"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

S = TypeVar("S", bound=Server)


def _serve(make: Callable[[], S]) -> Iterator[S]:
    server = make()
    try:
        try:
            server.start()
        except ServerUnavailable as missing:
            if IN_CI:
                pytest.fail(f"{server.name} is required under CI=true: {missing}")
            pytest.skip(f"{server.name}: {missing}")
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    yield from _serve(PostgresServer)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    yield from _serve(RedisServer)


@pytest.fixture(scope="session")
def prometheus() -> Iterator[PrometheusServer]:
    yield from _serve(PrometheusServer)


@pytest.fixture(scope="session")
def docker_daemon() -> Iterator[DockerDaemon]:
    yield from _serve(DockerDaemon)


@pytest.fixture
def own_database(postgres: PostgresServer) -> Iterator[str]:
    """The DSN of a database of this test's own (named OWN_DATABASE), with
    pg_stat_statements, so that the sessions and statements it counts are its own."""
    postgres.execute(f"DROP DATABASE IF EXISTS {OWN_DATABASE} WITH (FORCE)")
    postgres.execute(f"CREATE DATABASE {OWN_DATABASE}")
    postgres.execute_in(OWN_DATABASE, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    yield postgres.dsn.rsplit("/", 1)[0] + "/" + OWN_DATABASE
    postgres.execute(f"DROP DATABASE IF EXISTS {OWN_DATABASE} WITH (FORCE)")
