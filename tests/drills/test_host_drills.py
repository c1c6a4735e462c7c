"""Drills on a host behind the bastion: the fault goes into the container on the host's
Docker engine (over ssh, a real sshd on loopback: tests/support/ssh.py), the runbook's
docker steps run there, and the fault is undone there, by the drill or after a crash.

The configuration has no [docker]: this machine's engine is not the one the container
runs on, so a docker step run here would find nothing. That the drill passes is the
proof its steps went to the host."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from opsconsole.config.model import load_config
from opsconsole.drills.container_faults import ContainerFault
from opsconsole.drills.faults import undo_recorded
from tests.drills.test_drills import (
    APP,
    WRONG_TIME_LIMIT,
    sandbox_app,
    service_section,
    write_config,
    wrong_branch,
)
from tests.support.commands import drill
from tests.support.ssh import SshHosts

__all__ = ["sandbox_app"]  # the fixture, shared with the drills of this machine


def on_app1(ssh_hosts: SshHosts, health: str, tmp_path: Path) -> Path:
    host = f'[[hosts]]\nname = "app1"\nssh = "app1"\nssh_config = "{ssh_hosts.config}"\n'
    return write_config(tmp_path, host, service_section(health, APP) + 'host = "app1"\n')


def host_drill(
    scenario: str, ssh_hosts: SshHosts, health: str, tmp_path: Path, ssh_runtime: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    on_app1(ssh_hosts, health, tmp_path)
    # A docker step run here would meet no engine at all, not the host's.
    env = {"XDG_RUNTIME_DIR": str(ssh_runtime), "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    return drill("run", scenario, "--auto", *extra, cwd=tmp_path, env=env)


def test_a_container_stopped_on_a_host_is_found_and_started_there(
    ssh_hosts: SshHosts, sandbox_app: tuple[str, Any], tmp_path: Path, ssh_runtime: Path
) -> None:
    health, container = sandbox_app
    ran = host_drill("container-stopped", ssh_hosts, health, tmp_path, ssh_runtime)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert f"container {APP} on app1: stop" in ran.stdout, ran.stdout
    assert f"app1 $ docker start {APP}" in ran.stdout
    assert "→ The container exited or crashed (as proposed:" in ran.stdout
    assert "✔ container-stopped:" in ran.stdout
    container.reload()
    assert container.status == "running"


def test_a_wrong_branch_on_a_host_fails_and_the_fault_is_undone_there(
    ssh_hosts: SshHosts, sandbox_app: tuple[str, Any], tmp_path: Path, ssh_runtime: Path
) -> None:
    health, container = sandbox_app
    ran = host_drill(
        "container-paused", ssh_hosts, health, tmp_path, ssh_runtime,
        "--overrule", "cause=2", "--time-limit", WRONG_TIME_LIMIT,
    )  # fmt: skip
    wrong_branch(ran, "container-paused", "It is paused (docker pause)")
    assert f"container {APP} on app1 unpaused" in ran.stdout, ran.stdout
    container.reload()
    assert container.status == "running"


def test_a_fault_left_on_a_host_by_a_crash_is_undone_there_from_its_record(
    ssh_hosts: SshHosts, sandbox_app: tuple[str, Any], tmp_path: Path, ssh_runtime: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(ssh_runtime))
    health, container = sandbox_app
    config = load_config(on_app1(ssh_hosts, health, tmp_path)).config
    fault = ContainerFault("", APP, "stop", config.host("app1"))
    record = fault.record()
    assert record == {"kind": "container_stop", "container": APP, "host": "app1"}
    fault.inject()
    container.reload()
    assert container.status == "exited"
    # What the next start does with a record a killed console left behind.
    assert undo_recorded(record, config) == f"container {APP} on app1 started"
    container.reload()
    assert container.status == "running"
    gone = config.model_copy(update={"hosts": []})
    with pytest.raises(Exception, match="host app1 is no longer in the configuration"):
        undo_recorded(record, gone)
