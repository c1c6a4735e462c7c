"""The shipped `service-logs` runbook against the harness's real Docker daemon: errors of
every container of a service, counted per container and by type, found by the compose
label a service's replicas carry."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.commands import OPSCONSOLE
from tests.support.servers import BUSYBOX_IMAGE, TEST_LABEL, DockerDaemon

LOG = "echo 'ERROR db timeout after 3000 ms'; echo 'INFO ok'; echo 'ERROR db timeout after 2990 ms'"


@pytest.fixture
def replicas(docker_daemon: DockerDaemon) -> Iterator[list[Any]]:
    """Two replicas of `ledger` (as compose labels them), each logging two timeouts, and a
    container of another service logging an error that must not be counted."""
    client = docker_daemon.client()
    made = []
    for name, service in (("ledger-1", "ledger"), ("ledger-2", "ledger"), ("other-1", "other")):
        container = client.containers.create(
            BUSYBOX_IMAGE, ["sh", "-c", f"{LOG}; sleep 300"], name=f"opsconsole-test-{name}",
            labels={TEST_LABEL: "logs", "com.docker.compose.service": service},
            network_mode="none",
        )  # fmt: skip
        container.start()
        made.append(container)
    try:
        yield made
    finally:
        for container in made:
            container.remove(force=True)


def test_errors_are_counted_per_container_and_by_type_across_the_service(
    docker_daemon: DockerDaemon, replicas: list[Any], tmp_path: Path
) -> None:
    ran = subprocess.run(
        [OPSCONSOLE, "run", "service-logs", "--param", "service=ledger", "--param", "since=10m"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path),
             "XDG_STATE_HOME": str(tmp_path / "state"), "DOCKER_HOST": docker_daemon.base_url},
    )  # fmt: skip
    out = ran.stdout
    # The note at its end has nobody to write it: the run stops there, as it says.
    assert ran.returncode == 3, out + ran.stderr
    assert "no note for 'Record what you found'" in out
    assert "containers=2" in out
    assert "opsconsole-test-ledger-1: 2" in out
    assert "opsconsole-test-ledger-2: 2" in out
    assert "total=4" in out
    assert "opsconsole-test-other-1" not in out
    # One type, whatever the numbers in it, from both replicas.
    assert "      4 ERROR db timeout after N ms" in out
    assert "errors in the last 5 minutes: 4" in out
