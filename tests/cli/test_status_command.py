"""`opsconsole status`, run as a user or a cron job runs it, against real servers."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from opsconsole.demo.faults import Fault
from opsconsole.demo.fleet import DemoFleet
from tests.support.servers import (
    BUSYBOX_IMAGE,
    TEST_LABEL,
    DockerDaemon,
    PostgresServer,
    PrometheusServer,
    RedisServer,
    free_port,
)

OPSCONSOLE = str(Path(sys.executable).parent / "opsconsole")


def status(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OPSCONSOLE, "status", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def report_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.stdout, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


@pytest.fixture
def fleet() -> Iterator[DemoFleet]:
    with DemoFleet(traffic_rate=20) as demo:
        yield demo


def fleet_config(fleet: DemoFleet, tmp_path: Path, extra: str = "") -> Path:
    text = "".join(
        f'[[services]]\nname = "{s.name}"\nhealth_url = "{s.health_url}"\n'
        f'metrics_url = "{s.base_url}/metrics"\n\n'
        for s in fleet.services.values()
    )
    path = tmp_path / "opsconsole.toml"
    path.write_text(text + extra)
    return path


def test_status_json_has_the_promised_shape_and_exit_0_when_all_is_well(
    fleet: DemoFleet, tmp_path: Path
) -> None:
    result = status(fleet_config(fleet, tmp_path), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = report_of(result)
    assert set(report) >= {"services", "postgres", "redis", "alerts", "breaches"}
    assert report["breaches"] == []
    nginx = next(s for s in report["services"] if s["name"] == "nginx")
    assert set(nginx) == {
        "name",
        "health",
        "p95_seconds",
        "error_rate",
        "request_rate",
        "metrics_error",
        "metrics_note",
        "metrics_stale",
        "container",
    }
    assert (nginx["metrics_error"], nginx["metrics_note"], nginx["metrics_stale"]) == (
        None,
        None,
        None,
    )
    assert nginx["health"]["state"] == "UP"
    assert nginx["health"]["status_code"] == 200
    assert nginx["health"]["error"] is None
    assert nginx["request_rate"] > 5  # 20 requests a second of synthetic traffic
    assert 0 < nginx["p95_seconds"] < 0.5


def test_status_exits_1_and_names_each_breach(fleet: DemoFleet, tmp_path: Path) -> None:
    fleet.set_fault("backend", Fault.DOWN)
    fleet.set_fault("nl-fhir", Fault.ERRORING, error_ratio=0.5)
    fleet.set_fault("hapi-fhir", Fault.SLOW, slow_seconds=2.5)
    # Let slow requests finish, so both scrapes of the status see their latency.
    time.sleep(3)
    config = fleet_config(fleet, tmp_path, "[thresholds]\nhealth_timeout_seconds = 5\n")
    result = status(config, "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    breaches = {(b["subject"], b["signal"]): b for b in report_of(result)["breaches"]}
    assert breaches[("backend", "health")]["value"] == "DOWN"
    assert breaches[("nl-fhir", "error_rate")]["threshold"] == 0.01
    assert breaches[("nl-fhir", "error_rate")]["value"] > 0.2
    assert breaches[("hapi-fhir", "p95_seconds")]["value"] > 2.0
    assert breaches[("hapi-fhir", "health")]["value"] == "DEGRADED"  # slow health answers

    table = status(config)
    assert table.returncode == 1
    assert "breach     backend health: DOWN" in table.stdout
    assert "connection refused" in table.stdout


def test_status_with_every_backend_configured(
    tmp_path: Path,
    postgres: PostgresServer,
    redis_server: RedisServer,
    prometheus: PrometheusServer,
    docker_daemon: DockerDaemon,
) -> None:
    config = tmp_path / "opsconsole.toml"
    config.write_text(
        f"""
[[services]]
name = "prometheus-itself"
health_url = "{prometheus.url}/-/healthy"
container = "status-test-sidecar"

[prometheus]
url = "{prometheus.url}"

[postgres]
dsn = "{postgres.dsn}"

[redis]
url = "{redis_server.url}"
queues = ["audit_events_queue"]

[docker]
base_url = "{docker_daemon.base_url}"
"""
    )
    sidecar = docker_daemon.client().containers.run(
        BUSYBOX_IMAGE,
        ["busybox", "sleep", "60"],
        name="status-test-sidecar",
        detach=True,
        network_mode="host",
        labels={TEST_LABEL: "status"},
    )
    queue = redis.Redis.from_url(redis_server.url)
    queue.delete("audit_events_queue")
    queue.rpush("audit_events_queue", *range(5))
    with contextlib.ExitStack() as sessions:
        idle = sessions.enter_context(psycopg.connect(postgres.dsn))
        idle.execute("SELECT 1")  # a transaction left open
        slow = sessions.enter_context(psycopg.connect(postgres.dsn, autocommit=True))
        sleeper = threading.Thread(target=slow.execute, args=("SELECT pg_sleep(4)",))
        sleeper.start()
        for _ in range(3):
            sessions.enter_context(psycopg.connect(postgres.dsn))
        time.sleep(1.5)  # so the slow statement has been running a while
        try:
            report = report_of(status(config, "--json"))
        finally:
            sidecar.remove(force=True)
            sleeper.join()
            queue.close()
    assert report["services"][0]["container"] == {
        "name": "status-test-sidecar",
        "host": None,  # this machine's engine
        "state": "running",
        "restarts": 0,
        "oom_killed": False,
        "unreachable": None,
    }
    assert report["containers"] == [report["services"][0]["container"]]
    assert report["postgres"]["error"] is None
    assert report["postgres"]["max_connections"] == 100
    assert report["postgres"]["target"] == postgres.dsn
    assert report["redis"]["error"] is None
    assert report["redis"]["queues"]["audit_events_queue"] == 5
    sessions_by_state = report["postgres"]["connections_by_state"]
    assert sessions_by_state["idle in transaction"] == 1
    assert sessions_by_state["active"] >= 1  # the slow statement
    assert sum(sessions_by_state.values()) >= 5
    assert report["postgres"]["longest_query_seconds"] >= 1.0
    assert "pg_sleep" in report["postgres"]["longest_query"]
    assert report["postgres"]["longest_idle_in_transaction_seconds"] >= 1.0
    assert report["prometheus"]["error"] is None
    assert report["services"][0]["health"]["state"] == "UP"


def test_status_says_which_backend_is_unreachable(tmp_path: Path) -> None:
    config = tmp_path / "opsconsole.toml"
    config.write_text(
        f"""
[[services]]
name = "api"
health_url = "http://127.0.0.1:{free_port()}/health"

[postgres]
dsn = "postgresql://app:hunter2@127.0.0.1:{free_port()}/app"
data_dir = "{tmp_path}"
disk_percent = 99.9

[redis]
url = "redis://127.0.0.1:{free_port()}/0"
"""
    )
    result = status(config)
    assert result.returncode == 1
    assert "postgres   unreachable: " in result.stdout
    # Its data volume is read all the same: a full disk is what stops PostgreSQL.
    assert re.search(
        rf"^disk       {tmp_path}: \d+% of \S+ \w+ used \(threshold 99.9%\)$",
        result.stdout,
        re.MULTILINE,
    ), result.stdout
    assert "redis      unreachable: " in result.stdout
    assert "hunter2" not in result.stdout + result.stderr
    report = report_of(status(config, "--json"))
    assert (
        report["postgres"]["target"]
        == f"postgresql://app:***@127.0.0.1:{config.read_text().split('127.0.0.1:')[2].split('/')[0]}/app"
    )
    assert {(b["subject"], b["signal"]) for b in report["breaches"]} == {
        ("api", "health"),
        ("postgres", "unreachable"),
        ("redis", "unreachable"),
    }
    disk = report["postgres"]["disk"]
    assert (disk["path"], disk["error"], disk["threshold_percent"]) == (str(tmp_path), None, 99.9)
    assert disk["used_bytes"] + disk["free_bytes"] <= disk["size_bytes"]


def test_status_on_an_invalid_config_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "opsconsole.toml"
    config.write_text("[[services]]\nname = 'x'\n")
    result = status(config)
    assert result.returncode == 2
    assert "missing required key 'services[0].health_url'" in result.stderr
