"""A check asks the server the runbook's commands act on (`on`), not the console's own:
one runbook, one database (a check read the configured [postgres] while its psql steps
acted on pg_host). Against the harness's real PostgreSQL and Redis."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import redis

from opsconsole.config.model import Config
from opsconsole.engine.control import RunOptions
from opsconsole.engine.events import Event, RunFinished, StepFinished, StepStarted
from opsconsole.engine.probes import ConfiguredProbes
from opsconsole.engine.runner import Runner
from tests.support.operators import ScriptedOperator
from tests.support.runbooks import book
from tests.support.runs import of_kind
from tests.support.servers import PostgresServer, RedisServer


@pytest.fixture
def other_database(postgres: PostgresServer) -> str:
    """A second database on the harness's server: what `pg_db` names, not the console."""
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS runbook_target")
        admin.execute("CREATE DATABASE runbook_target")
    return "runbook_target"


async def run_checks(config: Config, steps: list[dict[str, object]], tmp_path: Path,
                     params: dict[str, str]) -> list[Event]:  # fmt: skip
    runbook = book(params=[{"name": name, "description": name} for name in params], steps=steps)
    events: list[Event] = []
    runner = Runner(
        runbook, params, ScriptedOperator(), events.append,
        RunOptions(environment="staging", artifacts=tmp_path / "artifacts"),
        probes=ConfiguredProbes(config),
    )  # fmt: skip
    await runner.run()
    return events


async def test_a_sql_check_asks_the_database_the_runbook_names(
    postgres: PostgresServer, other_database: str, tmp_path: Path
) -> None:
    config = Config.model_validate(
        {"services": [{"name": "api", "health_url": "http://127.0.0.1:9/"}],
         "postgres": {"dsn": postgres.dsn}}
    )  # fmt: skip
    on = "postgresql://{pg_user}@{pg_host}:{pg_port}/{pg_db}"
    events = await run_checks(
        config,
        [{"id": "where", "kind": "check", "title": "Where", "probe": "sql", "on": on,
          "target": "SELECT current_database()", "expect": {"equals": other_database}},
         {"id": "console", "kind": "check", "title": "Console", "probe": "sql",
          "target": "SELECT current_database()", "expect": {"equals": "postgres"}}],
        tmp_path,
        {"pg_user": "postgres", "pg_host": "127.0.0.1", "pg_port": str(postgres.port),
         "pg_db": other_database},
    )  # fmt: skip
    finished = {e.step: e for e in of_kind(events, StepFinished)}
    assert finished["where"].error is None, finished["where"]
    assert finished["where"].value == other_database
    assert finished["console"].error is None  # without `on`: the configured one, as before
    started = {e.step: e for e in of_kind(events, StepStarted)}
    assert started["where"].describe() == (
        f"sql SELECT current_database()  (on postgresql://postgres@127.0.0.1:{postgres.port}"
        f"/{other_database})"
    )


async def test_a_value_that_would_name_another_server_is_refused(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    config = Config.model_validate(
        {"services": [{"name": "api", "health_url": "http://127.0.0.1:9/"}],
         "postgres": {"dsn": postgres.dsn}}
    )  # fmt: skip
    events = await run_checks(
        config,
        [{"id": "where", "kind": "check", "title": "Where", "probe": "sql",
          "on": "postgresql://postgres@{pg_host}:5432/app", "target": "SELECT 1"}],
        tmp_path, {"pg_host": "evil.example@127.0.0.1"},
    )  # fmt: skip
    (ended,) = of_kind(events, RunFinished)
    assert (ended.outcome, ended.reason) == (
        "failed",
        "step 'where' failed: {pg_host} in the backend's URL must be a host, port, user or name",
    )
    assert of_kind(events, StepStarted) == []  # nothing was asked of any server


async def test_a_redis_check_asks_the_database_the_runbook_names(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    client = redis.Redis(host="127.0.0.1", port=redis_server.port, db=3)
    client.set("opsconsole-test-where", "db3")
    try:
        config = Config.model_validate(
            {"services": [{"name": "api", "health_url": "http://127.0.0.1:9/"}],
             "redis": {"url": redis_server.url}}
        )  # fmt: skip
        port = str(redis_server.port)
        events = await run_checks(
            config,
            [{"id": "where", "kind": "check", "title": "Where", "probe": "redis",
              "on": "redis://{redis_host}:{redis_port}/{redis_db}",
              "target": "GET opsconsole-test-where", "expect": {"equals": "db3"}}],
            tmp_path, {"redis_host": "127.0.0.1", "redis_port": port, "redis_db": "3"},
        )  # fmt: skip
        (finished,) = of_kind(events, StepFinished)
        assert finished.error is None, finished
    finally:
        client.delete("opsconsole-test-where")
        client.close()
