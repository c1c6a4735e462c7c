"""Session-wide real servers (under CI=true a server that cannot start fails the run),
and every test in a home of its own."""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import (
    IN_CI,
    OWN_DATABASE,
    DockerDaemon,
    PostgresServer,
    PrometheusServer,
    RedisServer,
    ServerUnavailable,
    serve,
    small_filesystem,
)
from tests.support.ssh import SshHosts, kept_connections


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    yield from serve(PostgresServer)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    yield from serve(RedisServer)


@pytest.fixture(scope="session")
def prometheus() -> Iterator[PrometheusServer]:
    yield from serve(PrometheusServer)


@pytest.fixture(scope="session")
def docker_daemon() -> Iterator[DockerDaemon]:
    yield from serve(DockerDaemon)


@pytest.fixture
def small_volume(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MiB file system (tmpfs) of this test's own, unmounted after it."""
    try:
        with small_filesystem(tmp_path / "volume") as volume:
            yield volume
    except ServerUnavailable as missing:
        if IN_CI:
            pytest.fail(f"a small volume is required under CI=true: {missing}")
        pytest.skip(str(missing))


@pytest.fixture(scope="session")
def ssh_hosts(
    docker_daemon: DockerDaemon, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SshHosts]:
    """Two hosts behind the bastion, app1 and app2: an sshd each, both reaching the
    harness's Docker engine."""
    hosts = SshHosts(tmp_path_factory.mktemp("ssh"))
    try:
        hosts.start(["app1", "app2"], docker_daemon.base_url)
    except ServerUnavailable as missing:
        hosts.cleanup()
        if IN_CI:
            pytest.fail(f"sshd is required under CI=true: {missing}")
        pytest.skip(f"sshd: {missing}")
    try:
        yield hosts
    finally:
        hosts.cleanup()


@pytest.fixture
def ssh_runtime() -> Iterator[Path]:
    """An XDG_RUNTIME_DIR for the test's own kept ssh connections (tests/support/ssh.py)."""
    with kept_connections() as directory:
        yield directory


@pytest.fixture
def own_database(postgres: PostgresServer) -> Iterator[str]:
    """The DSN of a database of this test's own (named OWN_DATABASE), with
    pg_stat_statements, so that the sessions and statements it counts are its own."""
    postgres.execute(f"DROP DATABASE IF EXISTS {OWN_DATABASE} WITH (FORCE)")
    postgres.execute(f"CREATE DATABASE {OWN_DATABASE}")
    postgres.execute_in(OWN_DATABASE, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    yield postgres.dsn.rsplit("/", 1)[0] + "/" + OWN_DATABASE
    postgres.execute(f"DROP DATABASE IF EXISTS {OWN_DATABASE} WITH (FORCE)")


# What a console reads from its environment, which a test must not inherit from the
# engineer who runs the suite: their configuration, their demo fleet.
INHERITED = (
    "OPSCONSOLE_CONFIG",
    "OPSCONSOLE_RUNBOOKS",
    "OPSCONSOLE_DRILLS",
    "OPSCONSOLE_DEMO_SOCKET",
)


@pytest.fixture(autouse=True)
def own_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own HOME, XDG_STATE_HOME and XDG_CONFIG_HOME: a test run never
    touches the incidents, drills or demo fleet of a console an engineer has open."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for name in INHERITED:
        monkeypatch.delenv(name, raising=False)
    return home


def _real_state() -> Path:
    """The state directory of the user running the tests, as a console of theirs uses it."""
    real_home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    return Path(os.environ.get("XDG_STATE_HOME") or real_home / ".local" / "state") / "opsconsole"


def _listing(directory: Path) -> list[tuple[str, int]]:
    if not directory.exists():
        return []
    return sorted(
        (str(path.relative_to(directory)), path.stat().st_mtime_ns)
        for path in directory.rglob("*")
        if not path.is_symlink()
    )


@pytest.fixture(scope="session", autouse=True)
def real_state_untouched() -> Iterator[None]:
    """Fails the run if any test wrote into the real user's opsconsole state."""
    state = _real_state()
    before = _listing(state)
    yield
    assert _listing(state) == before, f"a test wrote into {state}"
