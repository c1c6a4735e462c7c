"""Drills on services that run in real containers of the machine's own programs (the host
image, tests/support/servers.py): the audit service whose queue is no longer picked up
(audit-queue-backlog). Each proven by `opsconsole drill run --auto`, and failing when its
decision is overruled to the wrong branch."""

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
    RedisServer,
    free_port,
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
