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
