"""Rehearsals of planned-maintenance: the app deployed with a compose file (Compose v1 as
the `docker compose` plugin, tests/support/compose.py) on the harness's Docker, read
through the harness's Prometheus. A good release is kept with the service healthy
throughout; a bad one (its image fails a share of its requests) is rolled back to the
image that ran before, and keeping it instead fails the rehearsal."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.commands import drill
from tests.support.compose import compose_config
from tests.support.servers import (
    HOST_MOUNTS,
    TEST_LABEL,
    DockerDaemon,
    PostgresServer,
    PrometheusServer,
    free_port,
    no_5xx,
)

SUPPORT = Path(__file__).parent.parent / "support"
APP, HAPI = "sandbox-app", "sandbox-hapi"
RELEASES = {
    "current": ["LABEL release=current"],
    "next": ["LABEL release=next"],
    # A release's own bug, built into its image: a share of its requests fail.
    "bad": ["LABEL release=bad", "ENV FAIL_RATE=0.3"],
}


def compose_file(directory: Path, app_port: int, hapi_port: int) -> Path:
    volumes = [*HOST_MOUNTS, f"{SUPPORT / 'fhir_app.py'}:/srv/fhir_app.py:ro"]
    hapi_url = f"http://127.0.0.1:{hapi_port}/fhir/metadata"
    app = ["python3", "/srv/fhir_app.py", "app", "--port", str(app_port), "--name", APP,
           "--hapi", hapi_url, "--clients", "4", "--interval", "0.25"]  # fmt: skip
    hapi = ["python3", "/srv/fhir_app.py", "hapi", "--port", str(hapi_port), "--work", "0.02"]

    def service(name: str, image: str, command: list[str]) -> str:
        return (
            f"  {name}:\n    image: {image}\n    container_name: {name}\n"
            f"    network_mode: host\n    command: {command!r}\n    volumes: {volumes!r}\n"
            f"    labels: {{{TEST_LABEL}: drills}}\n"
        )

    path = directory / "docker-compose.yml"
    path.write_text(
        'version: "3"\nservices:\n'
        # The image comes from the environment, as the runbook's deploy expects.
        + service(APP, "${IMAGE:-opsconsole-sandbox/app:current}", app)
        + service(HAPI, "opsconsole-sandbox/app:current", hapi)
    )
    return path


@pytest.fixture(scope="module")
def deployed(
    docker_daemon: DockerDaemon, prometheus: PrometheusServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:  # fmt: skip
    directory = tmp_path_factory.mktemp("compose")
    client = docker_daemon.client()
    for release, changes in RELEASES.items():
        client.api.import_image(
            src=str(docker_daemon.workdir / "host.tar"), repository="opsconsole-sandbox/app",
            tag=release, changes=changes,
        )  # fmt: skip
    app_port, hapi_port = free_port(), free_port()
    stack = {
        "compose": compose_file(directory, app_port, hapi_port),
        "env": {
            "DOCKER_HOST": docker_daemon.base_url,
            "DOCKER_CONFIG": str(compose_config(directory / "docker")),
        },
        "app": f"http://127.0.0.1:{app_port}/health",
    }
    prometheus.scrape(f"127.0.0.1:{app_port}")
    try:
        yield stack
    finally:
        prometheus.scrape()
        for name in (APP, HAPI):
            for container in client.containers.list(all=True, filters={"name": name}):
                container.remove(force=True)


def up_on_the_current_release(stack: dict[str, Any], prometheus: PrometheusServer) -> None:
    """Each rehearsal starts from the current release, healthy in Prometheus's window."""
    subprocess.run(
        ["docker", "compose", "-f", str(stack["compose"]), "up", "-d"],
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", **stack["env"]},
        check=True, capture_output=True,
    )  # fmt: skip
    prometheus.until(f'rate(http_requests_total{{service="{APP}"}}[15s]) > 0')
    prometheus.until(no_5xx(APP))
    prometheus.until_targets_up()


def rehearse(
    scenario: str, stack: dict[str, Any], docker_daemon: DockerDaemon,
    prometheus: PrometheusServer, postgres: PostgresServer, tmp_path: Path, *extra: str,
) -> subprocess.CompletedProcess[str]:  # fmt: skip
    up_on_the_current_release(stack, prometheus)
    (tmp_path / "opsconsole.toml").write_text(
        '[console]\nenvironment = "drill-sandbox"\n'
        f'[docker]\nbase_url = "{docker_daemon.base_url}"\n'
        f'[prometheus]\nurl = "{prometheus.url}"\nwindow = "15s"\n'
        f'[postgres]\ndsn = "{postgres.dsn}"\n'  # backed up before the change
        f'[[services]]\nname = "{APP}"\nhealth_url = "{stack["app"]}"\n'
        f'container = "{APP}"\ncompose_file = "{stack["compose"]}"\nsandbox = true\n'
    )
    return drill("run", scenario, "--auto", *extra, cwd=tmp_path, env=stack["env"])


def running_release(docker_daemon: DockerDaemon) -> str:
    container = docker_daemon.client().containers.get(APP)
    return str(container.image.labels.get("release"))


def test_a_good_release_is_deployed_and_kept_with_the_service_healthy_throughout(
    deployed: dict[str, Any], docker_daemon: DockerDaemon, prometheus: PrometheusServer,
    postgres: PostgresServer, tmp_path: Path,
) -> None:  # fmt: skip
    ran = rehearse("deploy-rehearsal", deployed, docker_daemon, prometheus, postgres, tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "a rehearsal: no fault goes in" in ran.stdout
    assert "running: opsconsole-sandbox/app:next" in ran.stdout  # deployed-image
    assert "→ Yes, keep it (as proposed:" in ran.stdout, ran.stdout
    assert "· steady state held through the change" in ran.stdout
    assert "✔ deploy-rehearsal:" in ran.stdout
    assert running_release(docker_daemon) == "next"
    # Kept before the change: the database dump and the app's files, in the run's directory.
    assert list(tmp_path.glob("db-backup-*.dump")), list(tmp_path.iterdir())
    assert list(tmp_path.glob("app-backup-*.tar.gz"))


def test_a_bad_release_is_rolled_back_to_the_image_that_ran_before(
    deployed: dict[str, Any], docker_daemon: DockerDaemon, prometheus: PrometheusServer,
    postgres: PostgresServer, tmp_path: Path,
) -> None:  # fmt: skip
    ran = rehearse("deploy-bad-release", deployed, docker_daemon, prometheus, postgres, tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "→ No, roll back: the error rate is above 1 % (as proposed:" in ran.stdout, ran.stdout
    assert "✔ deploy-bad-release:" in ran.stdout
    assert running_release(docker_daemon) == "current"


def test_keeping_a_bad_release_fails_the_rehearsal(
    deployed: dict[str, Any], docker_daemon: DockerDaemon, prometheus: PrometheusServer,
    postgres: PostgresServer, tmp_path: Path,
) -> None:  # fmt: skip
    ran = rehearse(
        "deploy-bad-release", deployed, docker_daemon, prometheus, postgres, tmp_path,
        "--overrule", "watch=1", "--time-limit", "30",
    )  # fmt: skip
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "(over the proposed 'No, roll back: the error rate is above 1 %'" in ran.stdout
    assert "✖ deploy-bad-release:" in ran.stdout
    assert running_release(docker_daemon) == "bad"
