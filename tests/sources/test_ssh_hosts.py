"""Hosts behind the bastion: each host's Docker engine read over ssh (real sshd on loopback,
tests/support/ssh.py), one kept connection a host, one host down said as such while the
other stays live, and an unknown host key refused with its fingerprint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opsconsole.config.model import Config, HostSection
from opsconsole.monitoring.monitor import Monitor
from opsconsole.sources.ssh import Unreachable, control_dir, reach
from tests.support.servers import BUSYBOX_IMAGE, TEST_LABEL, DockerDaemon
from tests.support.ssh import SshHosts, kept_connections

OPSCONSOLE = str(Path(sys.executable).parent / "opsconsole")


@pytest.fixture(autouse=True)
def own_control_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Kept connections of this test's own, under a short path (a socket's path has a
    length limit): one test's never serves another's."""
    with kept_connections() as directory:
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(directory))
        yield directory


@pytest.fixture
def containers(docker_daemon: DockerDaemon) -> Iterator[list[Any]]:
    """web1 runs on app1, web2 on app2 (both hosts reach the harness's one engine: each
    watches the containers of its own services)."""
    client = docker_daemon.client()
    idle = ["sh", "-c", "trap 'exit 0' TERM; while :; do busybox sleep 1; done"]
    try:
        yield [
            client.containers.run(
                BUSYBOX_IMAGE, idle, name=name, detach=True, labels={TEST_LABEL: "ssh"}
            )
            for name in ("web1", "web2")
        ]
    finally:
        for name in ("web1", "web2"):
            for container in client.containers.list(all=True, filters={"name": f"^{name}$"}):
                container.remove(force=True)


def config_text(hosts: SshHosts) -> str:
    return (
        "".join(
            f'[[hosts]]\nname = "{alias}"\nssh = "{alias}"\nssh_config = "{hosts.config}"\n'
            for alias in ("app1", "app2")
        )
        + '[[services]]\nname = "web1"\nhealth_url = "http://127.0.0.1:9/"\n'
        'container = "web1"\nhost = "app1"\n'
        '[[services]]\nname = "web2"\nhealth_url = "http://127.0.0.1:9/"\n'
        'container = "web2"\nhost = "app2"\n'
    )


def config_of(hosts: SshHosts, tmp_path: Path) -> Config:
    from opsconsole.config.model import load_config

    path = tmp_path / "opsconsole.toml"
    path.write_text(config_text(hosts))
    return load_config(path).config


def logins(hosts: SshHosts, alias: str) -> int:
    return hosts.hosts[alias].log_path.read_text(errors="replace").count("Accepted publickey")


async def test_the_containers_of_both_hosts_are_read_over_one_kept_connection_each(
    ssh_hosts: SshHosts, containers: list[Any], tmp_path: Path
) -> None:
    monitor = Monitor(config_of(ssh_hosts, tmp_path))
    before = {alias: logins(ssh_hosts, alias) for alias in ("app1", "app2")}
    try:
        for _ in range(3):
            snapshot = await monitor.snapshot()
    finally:
        await monitor.aclose()
    assert snapshot.containers is not None
    assert snapshot.containers.ok, snapshot.containers.error
    found = snapshot.containers.value or {}
    assert (found["app1/web1"].host, found["app1/web1"].state) == ("app1", "running")
    assert (found["app2/web2"].host, found["app2/web2"].state) == ("app2", "running")
    assert not [b for b in snapshot.breaches if b.signal == "unreachable"]
    # Three polls, one login a host: the connection is kept, not opened per poll.
    assert {a: logins(ssh_hosts, a) - n for a, n in before.items()} == {"app1": 1, "app2": 1}


def test_status_json_shows_the_containers_of_both_hosts(
    ssh_hosts: SshHosts, containers: list[Any], tmp_path: Path, own_control_dir: Path
) -> None:
    (tmp_path / "opsconsole.toml").write_text(config_text(ssh_hosts))
    ran = subprocess.run(
        [OPSCONSOLE, "status", "--json"], cwd=tmp_path, capture_output=True, text=True,
        timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                         "XDG_RUNTIME_DIR": str(own_control_dir)},
    )  # fmt: skip
    said = json.loads(ran.stdout)
    shown = {(c["host"], c["name"], c["state"]) for c in said["containers"]}
    assert {("app1", "web1", "running"), ("app2", "web2", "running")} <= shown, said
    assert ran.stderr == ""  # nothing of ssh's on the screen


def test_a_host_out_of_reach_from_the_start_says_nothing_is_known_of_its_containers(
    ssh_hosts: SshHosts, containers: list[Any], tmp_path: Path, own_control_dir: Path
) -> None:
    """Not "missing" (that is a state the engine reports): not seen, with ssh's reason."""
    (tmp_path / "opsconsole.toml").write_text(config_text(ssh_hosts))
    ssh_hosts.hosts["app2"].down()
    try:
        ran = subprocess.run(
            [OPSCONSOLE, "status"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                 "XDG_RUNTIME_DIR": str(own_control_dir)},
        )  # fmt: skip
    finally:
        ssh_hosts.hosts["app2"].resume()
    assert ran.returncode == 1, ran.stdout + ran.stderr
    rows = {line.split()[0]: line for line in ran.stdout.splitlines() if line.startswith("web")}
    assert rows["web1"].endswith("app1: running"), ran.stdout
    assert rows["web2"].endswith("app2: not seen"), ran.stdout
    assert "missing" not in ran.stdout
    assert "breach     app2 unreachable: ssh: connect to host 127.0.0.1" in ran.stdout


async def test_a_host_that_goes_down_is_said_and_the_other_stays_live(
    ssh_hosts: SshHosts, containers: list[Any], tmp_path: Path
) -> None:
    monitor = Monitor(config_of(ssh_hosts, tmp_path))
    try:
        await monitor.snapshot()
        ssh_hosts.hosts["app2"].down()
        try:
            down = await monitor.snapshot()
        finally:
            ssh_hosts.hosts["app2"].resume()
        back = await monitor.snapshot()
    finally:
        await monitor.aclose()
    found = down.containers.value if down.containers else None
    assert found is not None
    port = ssh_hosts.hosts["app2"].port
    web2 = found["app2/web2"]
    assert web2.unreachable is not None
    assert web2.unreachable.startswith(
        f"ssh: connect to host 127.0.0.1 port {port}: Connection refused, since "
    ), web2.unreachable
    assert web2.state == "running"  # its last known state, kept (and dimmed on screen)
    assert found["app1/web1"].unreachable is None  # the other host is unaffected
    (breach,) = [b for b in down.breaches if b.signal == "unreachable"]
    assert breach.subject == "app2"
    # Not a container breach: its state is not known now.
    assert not [b for b in down.breaches if b.signal == "container_state"]
    recovered = (back.containers.value if back.containers else None) or {}
    assert recovered["app2/web2"].unreachable is None
    assert not [b for b in back.breaches if b.signal == "unreachable"]


async def test_a_host_that_hangs_is_said_within_seconds_and_holds_no_other(
    ssh_hosts: SshHosts, containers: list[Any], tmp_path: Path
) -> None:
    """A host that takes connections and answers nothing (its sshd and sessions stopped):
    the reading comes within the dashboard's deadline, the other host read, and no
    second poll piles up behind the one still waiting."""
    monitor = Monitor(config_of(ssh_hosts, tmp_path))
    try:
        await monitor.snapshot()
        ssh_hosts.hosts["app2"].freeze()
        try:
            started = time.monotonic()
            hung = await monitor.snapshot()
            took = time.monotonic() - started
            again = await monitor.snapshot()
        finally:
            ssh_hosts.hosts["app2"].freeze(False)
    finally:
        await monitor.aclose()
    assert took < 5.0, took  # the Monitor's own deadline for a reading
    found = hung.containers.value if hung.containers else None
    assert found is not None
    assert found["app1/web1"].unreachable is None
    assert found["app2/web2"].unreachable is not None
    assert found["app2/web2"].unreachable.startswith("no answer within 4 s, since ")
    assert again.containers is not None
    assert (again.containers.value or {})["app2/web2"].unreachable is not None


def test_an_unknown_host_key_is_refused_with_its_fingerprint(
    ssh_hosts: SshHosts, tmp_path: Path
) -> None:
    """Never accepted silently, whatever the ssh config says (accept-new here): the key
    the host offers is named, to be checked with its owner."""
    unknown = tmp_path / "known_hosts"
    unknown.write_text("")
    config = tmp_path / "ssh_config"
    config.write_text(
        ssh_hosts.config.read_text()
        .replace(str(ssh_hosts.known_hosts), str(unknown))
        .replace("StrictHostKeyChecking yes", "StrictHostKeyChecking accept-new")
    )
    host = HostSection(name="app1", ssh="app1", ssh_config=str(config))
    with pytest.raises(Unreachable) as refused:
        reach(host)
    offered = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(ssh_hosts.hosts["app1"].workdir / "host_key.pub")],
        capture_output=True, text=True, check=True,
    ).stdout.split()[1]  # fmt: skip
    port = ssh_hosts.hosts["app1"].port
    assert str(refused.value) == (
        f"unknown host key {offered} of 127.0.0.1:{port}: refused, not accepted silently"
    )
    assert unknown.read_text() == ""  # nothing was added to known_hosts


def test_a_changed_host_key_is_refused_as_changed(ssh_hosts: SshHosts, tmp_path: Path) -> None:
    """Not "unknown": a key that differs from the one on record is what a man in the
    middle looks like, and is said so."""
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    port = ssh_hosts.hosts["app1"].port
    changed = tmp_path / "known_hosts"
    changed.write_text(
        f"[127.0.0.1]:{port} {' '.join(other.with_suffix('.pub').read_text().split()[:2])}\n"
    )
    config = tmp_path / "ssh_config"
    config.write_text(
        ssh_hosts.config.read_text().replace(str(ssh_hosts.known_hosts), str(changed))
    )
    with pytest.raises(Unreachable) as refused:
        reach(HostSection(name="app1", ssh="app1", ssh_config=str(config)))
    assert str(refused.value).startswith("the host key has CHANGED since it went into known_hosts")


def test_the_kept_connections_directory_must_be_the_users_own(
    own_control_dir: Path,
) -> None:
    """A link in its place (another user's, in /tmp) is refused, not followed."""
    elsewhere = Path(tempfile.mkdtemp(prefix="oc-other-"))
    (own_control_dir / f"opsconsole-ssh-{os.getuid()}").symlink_to(elsewhere)
    with pytest.raises(PermissionError, match="is not this user's own directory"):
        control_dir()


def test_runbooks_offered_for_a_service_on_a_host_run_their_docker_steps_there(
    ssh_hosts: SshHosts, tmp_path: Path
) -> None:
    """A runbook whose docker steps run here would act on this machine's engine, perhaps
    on a container of the same name: offered only when each goes to the service's host."""
    from opsconsole.monitoring.offers import offers
    from opsconsole.monitoring.snapshot import Breach
    from opsconsole.runbooks.model import CommandStep, load_runbooks, shipped_runbooks

    config = config_of(ssh_hosts, tmp_path)
    library = load_runbooks(shipped_runbooks())
    breaches = [Breach("web1", signal, "x", "y") for signal in
                ("health", "container_state", "p95_seconds", "error_rate")]  # fmt: skip
    found = offers(library, breaches, config=config)
    assert {"service-down", "high-response-times", "high-error-rate"} <= {
        o.runbook.id for o in found
    }
    for offer in found:
        assert offer.params.get("service_host") == "app1", offer.runbook.id
        steps = [*offer.runbook.steps, *offer.runbook.rollback]
        here = [
            s.id for s in steps
            if isinstance(s, CommandStep) and "docker" in " ".join(s.argv) and s.host is None
        ]  # fmt: skip
        assert here == [], f"{offer.runbook.id}: docker steps run here: {here}"
    # One that acts on a container and says nothing of hosts: not offered there.
    local_only = library.get("service-down")
    assert local_only is not None
    bare = local_only.model_copy(
        update={"params": [p for p in local_only.params if p.name != "service_host"]}
    )
    lone = library.model_copy(update={"runbooks": [bare]})
    assert offers(lone, breaches[:1], config=config) == []
    here_config = config.model_copy(
        update={"services": [s.model_copy(update={"host": None}) for s in config.services]}
    )
    assert [o.runbook.id for o in offers(lone, breaches[:1], config=here_config)] == [
        "service-down"
    ]


def test_a_jump_host_is_reached_with_the_same_care(
    ssh_hosts: SshHosts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """app2 through app1: it answers, the jump counted in app1's log; and an unknown key of
    the jump host is refused too, whatever the ssh config says of it (ssh's own -J would
    give the hop the config's accept-new)."""
    through = HostSection(name="app2", ssh="app2", ssh_config=str(ssh_hosts.config), jump="app1")
    before = logins(ssh_hosts, "app1")
    reach(through)
    assert logins(ssh_hosts, "app1") == before + 1
    app1, app2 = (ssh_hosts.hosts[a].port for a in ("app1", "app2"))
    known = tmp_path / "known_hosts"  # app2's key only: the bastion's is unknown
    known.write_text(
        "".join(
            line + "\n"
            for line in ssh_hosts.known_hosts.read_text().splitlines()
            if line.startswith(f"[127.0.0.1]:{app2} ")
        )
    )
    config = tmp_path / "ssh_config"
    config.write_text(
        ssh_hosts.config.read_text()
        .replace(str(ssh_hosts.known_hosts), str(known))
        .replace("StrictHostKeyChecking yes", "StrictHostKeyChecking accept-new")
    )
    careless = HostSection(name="app2", ssh="app2", ssh_config=str(config), jump="app1")
    # Not through the connection kept a moment ago: a new one, which checks the keys.
    monkeypatch.setenv("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="oc-run-"))
    with pytest.raises(Unreachable) as refused:
        reach(careless)
    assert str(refused.value).startswith("the way through app1 failed before app2 answered")
    assert str(app1) not in known.read_text()  # nothing added


async def test_a_closed_hosts_poll_still_in_its_thread_opens_nothing_new(
    ssh_hosts: SshHosts, containers: list[Any], tmp_path: Path
) -> None:
    """`r` with a new configuration closes the old sources while a poll of a hung host
    may still be in its thread: it must not make a new client, and a session with it."""
    monitor = Monitor(config_of(ssh_hosts, tmp_path))
    await monitor.snapshot()
    assert monitor.fleet is not None
    host = next(h for h in monitor.fleet.hosts if h.host.name == "app1")
    await monitor.aclose()
    with pytest.raises(ConnectionError, match="closed"):
        await host.source.poll()
    assert host.source._client is None
