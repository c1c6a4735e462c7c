"""The drill of the whole stack down (complete-outage-recovery): PostgreSQL, Redis, HAPI
FHIR and the app, each in a real container on the harness's Docker (the host image runs
the machine's own programs), all stopped as a reboot leaves them; the outage runbook must
bring them back in order through the runbooks it calls, until nothing breaches."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.commands import drill
from tests.support.sandbox_postgres import SandboxPostgres, sandbox_postgres
from tests.support.servers import (
    HOST_IMAGE,
    HOST_MOUNTS,
    TEST_LABEL,
    DockerDaemon,
    PrometheusServer,
    free_port,
    no_5xx,
)

SUPPORT = Path(__file__).parent.parent / "support"
APP, HAPI, REDIS = "sandbox-app", "sandbox-hapi", "sandbox-redis"


@pytest.fixture(scope="module")
def stack(docker_daemon: DockerDaemon, prometheus: PrometheusServer) -> Iterator[dict[str, Any]]:
    client = docker_daemon.client()
    app_port, hapi_port, redis_port = free_port(), free_port(), free_port()
    hapi_url = f"http://127.0.0.1:{hapi_port}/fhir/metadata"
    mounts = [*HOST_MOUNTS, f"{SUPPORT / 'fhir_app.py'}:/srv/fhir_app.py:ro"]
    commands = {
        REDIS: ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", ""],
        HAPI: ["python3", "/srv/fhir_app.py", "hapi", "--port", str(hapi_port), "--name", HAPI,
               "--work", "0.05"],
        APP: ["python3", "/srv/fhir_app.py", "app", "--port", str(app_port), "--name", APP,
              "--hapi", hapi_url, "--clients", "2", "--interval", "0.5"],
    }  # fmt: skip
    with sandbox_postgres(docker_daemon) as postgres:
        started = []
        try:
            for name, command in commands.items():
                started.append(
                    client.containers.run(
                        HOST_IMAGE,
                        command,
                        name=name,
                        detach=True,
                        network_mode="host",
                        volumes=mounts,
                        labels={TEST_LABEL: "drills"},
                    )
                )
            prometheus.scrape(f"127.0.0.1:{app_port}", f"127.0.0.1:{hapi_port}")
            prometheus.until(f'rate(http_requests_total{{service="{HAPI}"}}[15s]) > 0')
            yield {
                "postgres": postgres,
                "redis": f"redis://127.0.0.1:{redis_port}/0",
                "app": f"http://127.0.0.1:{app_port}/health",
                "hapi": hapi_url,
                "containers": started,
            }
        finally:
            prometheus.scrape()
            for container in started:
                container.remove(force=True)


def run_stack_drill(
    stack: dict[str, Any], docker_daemon: DockerDaemon, prometheus: PrometheusServer,
    tmp_path: Path, *extra: str,
) -> subprocess.CompletedProcess[str]:  # fmt: skip
    postgres: SandboxPostgres = stack["postgres"]
    # The app's first calls may have met HAPI starting (502s): out of the window first.
    prometheus.until(no_5xx(APP))
    prometheus.until_targets_up()
    (tmp_path / "opsconsole.toml").write_text(
        '[console]\nenvironment = "drill-sandbox"\n'
        f'[docker]\nbase_url = "{docker_daemon.base_url}"\n'
        f'[prometheus]\nurl = "{prometheus.url}"\nwindow = "15s"\n'
        + postgres.section()
        + f'[redis]\nurl = "{stack["redis"]}"\ncontainer = "{REDIS}"\nsandbox = true\n'
        f'[[services]]\nname = "{APP}"\nhealth_url = "{stack["app"]}"\n'
        f'container = "{APP}"\nsandbox = true\n'
        f'[[services]]\nname = "{HAPI}"\nhealth_url = "{stack["hapi"]}"\n'
        f'container = "{HAPI}"\nsandbox = true\n'
    )
    env = {"DOCKER_HOST": docker_daemon.base_url}  # the runbook's docker CLI
    return drill("run", "stack-stopped", "--auto", *extra, cwd=tmp_path, env=env)


def test_the_whole_stack_is_brought_back_in_order_by_the_outage_runbook(
    stack: dict[str, Any], docker_daemon: DockerDaemon, prometheus: PrometheusServer,
    tmp_path: Path,
) -> None:  # fmt: skip
    ran = run_stack_drill(stack, docker_daemon, prometheus, tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert (
        "· fault injected: 4 containers stopped: sandbox-postgres, sandbox-redis, "
        "sandbox-app, sandbox-hapi" in ran.stdout
    ), ran.stdout
    out = ran.stdout
    # In its order, each through the runbook that knows it: PostgreSQL first.
    starts = [
        out.index(">> postgres-unreachable/start"),
        out.index("docker start sandbox-redis"),
        out.index("docker start sandbox-hapi"),
        out.index("docker start sandbox-app"),
    ]
    assert starts == sorted(starts), out
    assert "→ Yes (as proposed: tables = '1'" in out  # the application's data is there
    assert "✔ stack-stopped: broken after" in out
    for container in stack["containers"]:
        container.reload()
        assert container.status == "running", container.name


def test_postgres_taken_for_a_network_problem_leaves_the_stack_down(
    stack: dict[str, Any], docker_daemon: DockerDaemon, prometheus: PrometheusServer,
    tmp_path: Path,
) -> None:  # fmt: skip
    """The outage's own decisions lead back to its path whatever is chosen (a new host is
    rebuilt, then the same steps); the branch that matters is in the runbooks it calls:
    PostgreSQL overruled to 'network', nothing starts it and the stack stays broken."""
    ran = run_stack_drill(
        stack, docker_daemon, prometheus, tmp_path,
        "--overrule", "postgres-unreachable/cause=5", "--time-limit", "20",
    )  # fmt: skip
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "(over the proposed 'Its container is stopped: start it'" in ran.stdout, ran.stdout
    assert "✖ stack-stopped:" in ran.stdout
    assert "· fault undone:" in ran.stdout
