"""The shipped `complete-outage-recovery` calls the other runbooks in its own order
(Docker, PostgreSQL through postgres-unreachable, Redis, then service-down for HAPI FHIR,
the app and nginx) instead of repeating them: listed by a dry run under their own ids,
and run for real against the harness's Docker, PostgreSQL, Redis and Prometheus, where a
stopped container comes back through the called service-down."""

from __future__ import annotations

import os
import pty
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.commands import OPSCONSOLE
from tests.support.servers import (
    BUSYBOX_IMAGE,
    OWN_DATABASE,
    TEST_LABEL,
    DockerDaemon,
    PostgresServer,
    PrometheusServer,
    RedisServer,
    free_port,
)

ROOT = Path(__file__).parent.parent.parent
OUTAGE = "complete-outage-recovery"


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    passed = {name: os.environ[name] for name in ("PYTHONPATH",) if name in os.environ}
    return {
        "PATH": os.environ["PATH"], "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "XDG_STATE_HOME": str(tmp_path / "state"),
        **passed, **extra,
    }  # fmt: skip


def test_a_dry_run_lists_the_called_runbooks_steps_under_their_ids(tmp_path: Path) -> None:
    ran = subprocess.run(
        [OPSCONSOLE, "run", OUTAGE, "--runbooks", str(ROOT / "runbooks.toml"), "--dry-run"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env=environment(tmp_path),
    )  # fmt: skip
    out = ran.stdout
    assert ran.returncode == 0, out + ran.stderr
    assert (
        ">> postgres\n   runbook postgres-unreachable (pg_host=127.0.0.1, pg_port=5432, "
        "pg_user=postgres, pg_db=app, pg_container=postgres)  (dry run: not executed)"
    ) in out
    assert ">> postgres-unreachable: started on unlabelled, dry run" in out
    assert ">> postgres-unreachable/start\n   $ docker start postgres  (DESTRUCTIVE" in out
    assert ">> postgres-unreachable/verify\n" in out
    # postgres-unreachable's own calls, one level further down.
    assert ">> disk-wal-pressure/df\n" in out
    assert ">> db-pool-exhaustion/usage\n" in out
    # service-down once for each service, with that service's names.
    assert out.count(">> service-down: started on unlabelled, dry run") == 3
    for container, url in (
        ("hapi-fhir-production", "http://127.0.0.1:8081/fhir/metadata"),
        ("nl-fhir-production", "http://127.0.0.1:8001/health"),
        ("nginx", "http://127.0.0.1:80/health"),
    ):
        curl = "$ curl --silent --show-error --max-time 5 --include"
        assert f">> service-down/check-health\n   {curl} {url}" in out
        start = f"$ docker start {container}  (DESTRUCTIVE: asks for '{container}'"
        assert f">> service-down/start-container\n   {start}" in out
    # Its own order: Docker, PostgreSQL, Redis, the services, then its own verification.
    order = [
        ">> docker-alive", ">> postgres-unreachable/ready", ">> data-intact", ">> redis-ready",
        ">> hapi\n", ">> app\n", ">> proxy\n", ">> proxy-ready",
    ]  # fmt: skip
    at = [out.index(step) for step in order]
    assert at == sorted(at), out
    assert "== complete-outage-recovery: completed: dry run" in out


@pytest.fixture
def stack(docker_daemon: DockerDaemon) -> Iterator[dict[str, Any]]:
    """The stack's containers on the harness's Docker: PostgreSQL's and Redis's (their
    servers are the harness's, on loopback), and HAPI FHIR, the app and nginx each serving
    its health on loopback (host network); the app's stopped."""
    client = docker_daemon.client()
    made: dict[str, Any] = {}
    urls: dict[str, str] = {}
    try:
        for role, path in (("pg", ""), ("redis", ""), ("hapi", "fhir/metadata"),
                           ("app", "health"), ("proxy", "health")):  # fmt: skip
            if path:
                port = free_port()
                script = (
                    f"mkdir -p /www/fhir && echo ok > /www/{path} && "
                    f"exec httpd -f -p 127.0.0.1:{port} -h /www"
                )
                urls[role] = f"http://127.0.0.1:{port}/{path}"
            else:
                script = "echo ready; exec sleep 300"
            container = client.containers.create(
                BUSYBOX_IMAGE, ["sh", "-c", script], name=f"opsconsole-test-outage-{role}",
                network_mode="host", labels={TEST_LABEL: "outage"},
            )  # fmt: skip
            made[role] = container
            container.start()
        made["app"].stop(timeout=0)
        yield {"containers": made, "urls": urls}
    finally:
        for container in made.values():
            container.remove(force=True)


def test_a_real_outage_run_brings_the_stopped_app_back_through_service_down(
    docker_daemon: DockerDaemon,
    own_database: str,
    postgres: PostgresServer,
    redis_server: RedisServer,
    prometheus: PrometheusServer,
    stack: dict[str, Any],
    tmp_path: Path,
) -> None:
    postgres.execute_in(OWN_DATABASE, "CREATE TABLE patients (id int)")
    containers, urls = stack["containers"], stack["urls"]
    app = containers["app"].name
    params = {
        "pg_port": str(postgres.port), "pg_db": OWN_DATABASE,
        "pg_container": containers["pg"].name, "redis_port": str(redis_server.port),
        "redis_container": containers["redis"].name, "hapi_container": containers["hapi"].name,
        "hapi_url": urls["hapi"], "app_container": app, "health_url": urls["app"],
        "proxy_container": containers["proxy"].name, "proxy_url": urls["proxy"],
        "prometheus_url": prometheus.url,
    }  # fmt: skip
    # What the operator types, prompt by prompt: the P0 declared; the host usable (as
    # proposed); PostgreSQL: its proposal, its note; the data intact (as proposed);
    # HAPI FHIR: its proposal, its note; the app: its proposal, its name to start it, its
    # note; nginx: its proposal, its note; the compose file's name for the rest; stand
    # down; the outage's own note.
    typed = [
        "y", "", "", "it answers", "", "", "it answers", "", app, "started", "", "it answers",
        "docker-compose.prod.yml", "y", "the app's container was stopped",
    ]  # fmt: skip
    keyboard, terminal = pty.openpty()
    try:
        os.write(keyboard, "".join(f"{line}\n" for line in typed).encode())
        ran = subprocess.run(
            [OPSCONSOLE, "run", OUTAGE, "--runbooks", str(ROOT / "runbooks.toml"),
             *(arg for name, value in params.items() for arg in ("--param", f"{name}={value}"))],
            cwd=tmp_path, stdin=terminal, capture_output=True, text=True, timeout=240,
            env=environment(tmp_path, DOCKER_HOST=docker_daemon.base_url),
        )  # fmt: skip
    finally:
        os.close(keyboard)
        os.close(terminal)
    out = ran.stdout
    assert ran.returncode == 0, out + ran.stderr
    # PostgreSQL through postgres-unreachable: it answers, so nothing is started.
    assert (
        "→ It accepts connections again: nothing to bring back (as proposed: ready = "
        "'accepting connections' (equals accepting connections))" in out
    ), out
    assert "== postgres-unreachable: completed: every step done" in out
    # The app through service-down: its container exited, started, its health answers.
    assert (
        "→ The container exited or crashed (as proposed: state = 'exited' (one of exited, "
        "dead, created); oom = 'false' (equals false))" in out
    ), out
    assert f">> service-down/start-container\n   $ docker start {app}\n" in out
    # HAPI FHIR and nginx answer: service-down leaves them as they are.
    assert out.count("→ It runs and answers again: nothing to bring back (as proposed") == 2
    assert out.count("== service-down: completed: every step done") == 3
    assert out.count(">> service-down/start-container") == 1  # the app's, and nothing else
    assert ">> postgres-unreachable/start" not in out
    assert "-- start-redis: skipped (its conditions do not hold)" in out
    # Its own order, and its own verification at the end.
    at = [
        out.index(step)
        for step in (">> postgres-unreachable/ready", ">> redis-ready", f"docker start {app}",
                     ">> proxy-ready")
    ]  # fmt: skip
    assert at == sorted(at), out
    assert "== complete-outage-recovery: completed: every step done" in out
    containers["app"].reload()
    assert containers["app"].status == "running"
