"""Drills on services that run in real containers of the machine's own programs (the host
image, tests/support/servers.py): the audit service whose queue is no longer picked up
(audit-queue-backlog); an app whose dependency is down (high-error-rate) or slow
(high-response-times), read through the harness's real Prometheus. Each proven by
`opsconsole drill run --auto`, and failing when its decision is overruled to the wrong
branch."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.commands import drill
from tests.support.servers import (
    HOST_IMAGE,
    HOST_MOUNTS,
    TEST_LABEL,
    DockerDaemon,
    PostgresServer,
    PrometheusServer,
    RedisServer,
    free_port,
    no_5xx,
)

SUPPORT = Path(__file__).parent.parent / "support"
QUEUE = "audit_events_queue"
WRONG_TIME_LIMIT = "10"


@pytest.fixture(scope="module")
def audit_service(docker_daemon: DockerDaemon, redis_server: RedisServer) -> Iterator[Any]:
    port = free_port()
    client = docker_daemon.client()
    container = client.containers.run(
        HOST_IMAGE,
        ["python3", "/srv/audit_service.py", "--port", str(port),
         "--redis-port", str(redis_server.port), "--queue", QUEUE],
        name="audit-logging", detach=True, network_mode="host",
        volumes=[*HOST_MOUNTS, f"{SUPPORT / 'audit_service.py'}:/srv/audit_service.py:ro"],
        labels={TEST_LABEL: "drills"},
    )  # fmt: skip
    container.health_url = f"http://127.0.0.1:{port}/health"
    try:
        yield container
    finally:
        container.remove(force=True)


def run_audit_drill(
    audit: Any, docker_daemon: DockerDaemon, redis_server: RedisServer,
    postgres: PostgresServer, tmp_path: Path, *extra: str,
) -> subprocess.CompletedProcess[str]:  # fmt: skip
    redis.Redis.from_url(redis_server.url).delete(QUEUE)
    (tmp_path / "opsconsole.toml").write_text(
        '[console]\nenvironment = "drill-sandbox"\n'
        f'[docker]\nbase_url = "{docker_daemon.base_url}"\n'
        f'[redis]\nurl = "{redis_server.url}"\nqueues = ["{QUEUE}"]\nsandbox = true\n'
        # The audit runbook asks whether the database can take the events.
        f'[postgres]\ndsn = "{postgres.dsn}"\n'
        f'[[services]]\nname = "audit-logging"\nhealth_url = "{audit.health_url}"\n'
        'container = "audit-logging"\nsandbox = true\n'
    )
    env = {"DOCKER_HOST": docker_daemon.base_url}  # the runbook's docker CLI
    return drill("run", "audit-queue-stuck", "--auto", *extra, cwd=tmp_path, env=env)


def test_a_queue_no_longer_picked_up_is_drained_by_the_audit_runbook(
    audit_service: Any, docker_daemon: DockerDaemon, redis_server: RedisServer,
    postgres: PostgresServer, tmp_path: Path,
) -> None:  # fmt: skip
    ran = run_audit_drill(audit_service, docker_daemon, redis_server, postgres, tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "· fault injected: 1500 entries pushed onto audit_events_queue" in ran.stdout
    assert "change=0" in ran.stdout  # nothing takes events off: not draining
    assert "HTTP 200" in ran.stdout  # and yet the service is healthy
    assert "→ It is healthy but not picking the queue up (as proposed:" in ran.stdout, ran.stdout
    assert '{"processed": 1500}' in ran.stdout  # the service's own answer
    assert "✔ audit-queue-stuck: broken after" in ran.stdout
    # Drained into the audit log, not deleted: every event is in the trail.
    logged = audit_service.exec_run(["wc", "-l", "/tmp/audit.log"]).output.decode()
    assert logged.split()[0] == "1500", logged


def test_restarting_the_audit_service_leaves_its_backlog(
    audit_service: Any, docker_daemon: DockerDaemon, redis_server: RedisServer,
    postgres: PostgresServer, tmp_path: Path,
) -> None:  # fmt: skip
    ran = run_audit_drill(
        audit_service, docker_daemon, redis_server, postgres, tmp_path,
        "--overrule", "cause=1", "--time-limit", WRONG_TIME_LIMIT,
    )  # fmt: skip
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "(over the proposed 'It is healthy but not picking the queue up'" in ran.stdout
    assert "docker restart audit-logging" in ran.stdout
    assert "✖ audit-queue-stuck:" in ran.stdout
    assert "· fault undone: 1500 drill entries removed from audit_events_queue" in ran.stdout


# -- an app and its dependency, through Prometheus ---------------------------------------------

APP, HAPI = "sandbox-app", "sandbox-hapi"


@pytest.fixture(scope="module")
def fhir_stack(
    docker_daemon: DockerDaemon, prometheus: PrometheusServer
) -> Iterator[dict[str, str]]:
    """HAPI with four workers, 0.3 s a request; the app with ten clients calling it, each
    request a HAPI call: about 0.75 s a request when all is well (P95 under 2 s)."""
    app_port, hapi_port = free_port(), free_port()
    client = docker_daemon.client()
    mounts = [*HOST_MOUNTS, f"{SUPPORT / 'fhir_app.py'}:/srv/fhir_app.py:ro"]
    hapi_url = f"http://127.0.0.1:{hapi_port}/fhir/metadata"
    hapi = ["hapi", "--port", str(hapi_port), "--workers", "4", "--work", "0.3"]
    app = ["app", "--port", str(app_port), "--name", APP, "--hapi", hapi_url,
           "--clients", "10", "--interval", "0.5"]  # fmt: skip
    started = []
    for name, args in ((HAPI, hapi), (APP, app)):
        started.append(
            client.containers.run(
                HOST_IMAGE,
                ["python3", "/srv/fhir_app.py", *args],
                name=name,
                detach=True,
                network_mode="host",
                volumes=mounts,
                labels={TEST_LABEL: "drills"},
            )
        )
    prometheus.scrape(f"127.0.0.1:{app_port}")
    try:
        # The drill's steady state is read through Prometheus: rates need a few scrapes.
        prometheus.until(f'rate(http_requests_total{{service="{APP}"}}[15s]) > 0')
        yield {"app": f"http://127.0.0.1:{app_port}/health", "hapi": hapi_url}
    finally:
        prometheus.scrape()
        for container in started:
            container.remove(force=True)


def run_stack_drill(
    scenario: str, stack: dict[str, str], docker_daemon: DockerDaemon,
    prometheus: PrometheusServer, tmp_path: Path, *extra: str,
) -> subprocess.CompletedProcess[str]:  # fmt: skip
    # What the last test broke must have left the window: no 5xx, P95 under the SLA.
    prometheus.until(no_5xx(APP))
    prometheus.until_targets_up()
    prometheus.until("histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds"
        f'_bucket{{service="{APP}"}}[15s]))) < 2',
    )  # fmt: skip
    (tmp_path / "opsconsole.toml").write_text(
        '[console]\nenvironment = "drill-sandbox"\n'
        f'[docker]\nbase_url = "{docker_daemon.base_url}"\n'
        # A short window, so that the rates move within a test (the runbook reads the same).
        f'[prometheus]\nurl = "{prometheus.url}"\nwindow = "15s"\n'
        f'[[services]]\nname = "{APP}"\nhealth_url = "{stack["app"]}"\n'
        f'container = "{APP}"\nsandbox = true\n'
        f'[[services]]\nname = "{HAPI}"\nhealth_url = "{stack["hapi"]}"\n'
        f'container = "{HAPI}"\nsandbox = true\n'
    )
    env = {"DOCKER_HOST": docker_daemon.base_url}  # the runbook's docker CLI
    return drill("run", scenario, "--auto", *extra, cwd=tmp_path, env=env)


def test_errors_from_a_stopped_dependency_are_fixed_by_restarting_it(
    fhir_stack: dict[str, str], docker_daemon: DockerDaemon, prometheus: PrometheusServer,
    tmp_path: Path,
) -> None:  # fmt: skip
    ran = run_stack_drill("dependency-down-errors", fhir_stack, docker_daemon, prometheus, tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "· fault injected: container sandbox-hapi: stop" in ran.stdout
    broken = next(line for line in ran.stdout.splitlines() if "steady state broken" in line)
    assert "sandbox-app" in broken, broken
    assert "error" in broken.lower(), broken
    assert "ERROR HAPI FHIR validation failed" in ran.stdout  # the app's own log, grouped
    assert "→ FHIR validation errors (HAPI failing) (as proposed: hapi_status = '000'" in ran.stdout
    assert "docker restart sandbox-hapi" in ran.stdout
    assert "✔ dependency-down-errors: broken after" in ran.stdout


def test_a_slow_dependency_is_found_by_timing_it_and_restarted(
    fhir_stack: dict[str, str], docker_daemon: DockerDaemon, prometheus: PrometheusServer,
    tmp_path: Path,
) -> None:  # fmt: skip
    ran = run_stack_drill("dependency-slow", fhir_stack, docker_daemon, prometheus, tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "· fault injected: 3 connections to 127.0.0.1:" in ran.stdout
    broken = next(line for line in ran.stdout.splitlines() if "steady state broken" in line)
    assert "P95" in broken, broken
    assert "→ HAPI FHIR is slow (metadata > 1 s) (as proposed: hapi_seconds = " in ran.stdout
    assert "docker restart sandbox-hapi" in ran.stdout
    assert "✔ dependency-slow: broken after" in ran.stdout


# The time limits leave the runbook time to reach its decision (a slow HAPI is timed,
# and docker stats reads for 2 s), not to recover.
@pytest.mark.parametrize(
    ("scenario", "overrule", "over", "limit"),
    [
        ("dependency-down-errors", "error-type=4", "FHIR validation errors (HAPI failing)", "15"),
        ("dependency-slow", "bottleneck=2", "HAPI FHIR is slow (metadata > 1 s)", "25"),
    ],
)
def test_a_dependencys_wrong_branch_leaves_the_service_broken(
    scenario: str, overrule: str, over: str, limit: str, fhir_stack: dict[str, str],
    docker_daemon: DockerDaemon, prometheus: PrometheusServer, tmp_path: Path,
) -> None:  # fmt: skip
    ran = run_stack_drill(
        scenario, fhir_stack, docker_daemon, prometheus, tmp_path,
        "--overrule", overrule, "--time-limit", limit,
    )  # fmt: skip
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert f"(over the proposed {over!r}" in ran.stdout, ran.stdout
    assert f"✖ {scenario}:" in ran.stdout
    assert "· fault undone:" in ran.stdout
