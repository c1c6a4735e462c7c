"""PostgreSQL in a real Docker container, on a data volume of its own: what the drills of
`postgres-unreachable` (stop its container) and `disk-wal-pressure` (fill its volume)
act on. No registry is reachable: the container runs the machine's own PostgreSQL from
the host's /usr (HOST_IMAGE), and its volume is a small tmpfs mounted on the host, so
that its disk use is that of a real filesystem that can fill, and survives the
container's stop and start."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from tests.support.servers import HOST_IMAGE, HOST_MOUNTS, TEST_LABEL, DockerDaemon, free_port

CONTAINER = "sandbox-postgres"
DATA_IN_CONTAINER = "/var/lib/postgresql/data"
VOLUME_MIB = 256


@dataclass
class SandboxPostgres:
    container: Any
    port: int
    volume: Path
    """The volume's mount point on this host (the console reads its use here)."""

    @property
    def name(self) -> str:
        return str(self.container.name)

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def section(self) -> str:
        return (
            f'[postgres]\ndsn = "{self.dsn}"\ncontainer = "{self.name}"\n'
            f'data_dir = "{self.volume}"\nsandbox = true\n'
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.dsn, connect_timeout=2) as connection:
                    connection.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


@contextmanager
def sandbox_postgres(docker_daemon: DockerDaemon) -> Iterator[SandboxPostgres]:
    if os.geteuid() != 0:  # mount and initdb as postgres
        raise RuntimeError("a sandbox PostgreSQL container needs root (tmpfs mount)")
    bindir = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)[0]
    owner = pwd.getpwnam("postgres")
    workdir = Path(tempfile.mkdtemp(prefix="opsconsole-pgvol-"))
    workdir.chmod(0o755)
    volume = workdir / "volume"
    volume.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={VOLUME_MIB}m,mode=0755", "tmpfs", str(volume)],
        check=True,
    )
    client = docker_daemon.client()
    try:
        shutil.chown(volume, "postgres", "postgres")
        subprocess.run(
            # PGDATA is the volume itself, as in the postgres image; 1 MiB WAL segments,
            # so that WAL held fills the volume by small steps, never past the drill's mark.
            [f"{bindir}/initdb", "-D", str(volume), "-A", "trust", "-U", "postgres",
             "--no-sync", "--wal-segsize=1"],
            check=True, capture_output=True, user="postgres", group="postgres", extra_groups=[],
        )  # fmt: skip
        port = free_port()
        # A small max_wal_size, so that the WAL a slot holds is soon more than it keeps.
        container = client.containers.run(
            HOST_IMAGE,
            [f"{bindir}/postgres", "-D", DATA_IN_CONTAINER, "-p", str(port),
             "-k", "/tmp", "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
             "-c", "max_wal_size=32MB", "-c", "min_wal_size=32MB"],
            name=CONTAINER, detach=True, network_mode="host",
            user=f"{owner.pw_uid}:{owner.pw_gid}", stop_signal="SIGINT",
            volumes=[*HOST_MOUNTS, f"{volume}:{DATA_IN_CONTAINER}"],
            labels={TEST_LABEL: "sandbox-postgres"},
        )  # fmt: skip
        sandbox = SandboxPostgres(container, port, volume)
        sandbox.wait_ready()
        # An application's data: what a recovery checks is still there.
        with psycopg.connect(sandbox.dsn, autocommit=True) as connection:
            connection.execute("CREATE TABLE patients (id serial PRIMARY KEY, name text)")
            connection.execute("INSERT INTO patients (name) VALUES ('a'), ('b'), ('c')")
        yield sandbox
    finally:
        with suppress(Exception):
            client.containers.get(CONTAINER).remove(force=True)
        subprocess.run(["umount", "-l", str(volume)], check=False)
        shutil.rmtree(workdir, ignore_errors=True)
