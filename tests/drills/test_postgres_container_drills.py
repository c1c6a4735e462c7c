"""Drills on PostgreSQL in a real container with a volume of its own (see
tests/support/sandbox_postgres.py): its container stopped (postgres-unreachable), its
volume filled by WAL an abandoned slot holds (disk-wal-pressure), each proven by
`opsconsole drill run --auto` and failing on the wrong branch."""

from __future__ import annotations

import math
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.commands import drill
from tests.support.sandbox_postgres import SandboxPostgres, sandbox_postgres
from tests.support.servers import DockerDaemon

WRONG_TIME_LIMIT = "8"


@pytest.fixture(scope="module")
def pg_container(docker_daemon: DockerDaemon) -> Iterator[SandboxPostgres]:
    with sandbox_postgres(docker_daemon) as sandbox:
        yield sandbox


@pytest.fixture
def running(pg_container: SandboxPostgres) -> SandboxPostgres:
    """Each test starts from a running, answering PostgreSQL, whatever the last one left."""
    pg_container.container.reload()
    if pg_container.container.status != "running":
        pg_container.container.start()
    pg_container.wait_ready()
    return pg_container


def run_drill(
    sandbox: SandboxPostgres, docker_daemon: DockerDaemon, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    # A service is always configured; one that answers nothing is no drill's target.
    (tmp_path / "opsconsole.toml").write_text(
        '[console]\nenvironment = "drill-sandbox"\n'
        f'[docker]\nbase_url = "{docker_daemon.base_url}"\n'
        + sandbox.section()
        + '[[services]]\nname = "app"\nhealth_url = "http://127.0.0.1:9/"\n'
    )
    env = {"DOCKER_HOST": docker_daemon.base_url}  # the runbook's docker CLI
    return drill("run", *args, "--auto", cwd=tmp_path, env=env)


def test_a_stopped_postgres_container_is_started_by_postgres_unreachable(
    running: SandboxPostgres, docker_daemon: DockerDaemon, tmp_path: Path
) -> None:
    ran = run_drill(running, docker_daemon, tmp_path, "postgres-stopped")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "· fault injected: container sandbox-postgres: stop" in ran.stdout
    broken = next(line for line in ran.stdout.splitlines() if "steady state broken" in line)
    assert "postgres" in broken, broken
    assert "no response" in ran.stdout  # pg_isready, as the operator would run it
    assert "→ Its container is stopped: start it (as proposed: pg_state = 'exited'" in ran.stdout, (
        ran.stdout
    )
    assert "docker start sandbox-postgres" in ran.stdout
    assert "✔ postgres-stopped: broken after" in ran.stdout
    running.container.reload()
    assert running.container.status == "running"


def test_a_stopped_postgres_on_the_wrong_branch_stays_down(
    running: SandboxPostgres, docker_daemon: DockerDaemon, tmp_path: Path
) -> None:
    """Taken for a network problem (a checklist, no start), it stays down and the drill
    fails; its undo starts the container again."""
    ran = run_drill(
        running, docker_daemon, tmp_path, "postgres-stopped",
        "--overrule", "cause=5", "--time-limit", WRONG_TIME_LIMIT,
    )  # fmt: skip
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "(over the proposed 'Its container is stopped: start it'" in ran.stdout, ran.stdout
    # The checklist the wrong branch leads to, ticked by nobody but said in the output.
    assert "\n[] network: checklist done (" in ran.stdout
    assert "\n   - " in ran.stdout.split("[] network: checklist done")[1]  # its items
    assert "✖ postgres-stopped:" in ran.stdout
    assert "· fault undone: container sandbox-postgres started" in ran.stdout


def volume_use(sandbox: SandboxPostgres) -> int:
    """As df's Use%: what the dashboard shows, and the runbook reads."""
    stat = os.statvfs(sandbox.volume)
    used = (stat.f_blocks - stat.f_bfree) * stat.f_frsize
    return math.ceil(100 * used / ((stat.f_blocks - stat.f_bfree + stat.f_bavail) * stat.f_frsize))


def test_wal_held_by_an_abandoned_slot_is_freed_by_disk_wal_pressure(
    running: SandboxPostgres, docker_daemon: DockerDaemon, tmp_path: Path
) -> None:
    before = volume_use(running)
    ran = run_drill(running, docker_daemon, tmp_path, "postgres-wal-held")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "· fault injected: replication slot opsconsole_drill_" in ran.stdout
    broken = next(line for line in ran.stdout.splitlines() if "steady state broken" in line)
    assert "the data volume of postgres is" in broken, broken
    assert "→ An inactive replication slot retains WAL (as proposed: slots_inactive = '1'" in (
        ran.stdout
    ), ran.stdout
    # The name typed reaches psql as a variable (:'slot'), never as SQL text.
    assert "pg_drop_replication_slot(:" in ran.stdout, ran.stdout
    assert "✔ postgres-wal-held: broken after" in ran.stdout
    assert "· fault undone: replication slot opsconsole_drill_" in ran.stdout
    assert "was gone" in ran.stdout  # the runbook dropped it, not the undo
    assert volume_use(running) < 85, before  # under disk_percent again (recycled WAL stays)


def test_wal_held_on_the_wrong_branch_stays_full(
    running: SandboxPostgres, docker_daemon: DockerDaemon, tmp_path: Path
) -> None:
    """Taken for bloat (VACUUM), the slot keeps its WAL and the volume stays full; the
    undo drops it."""
    ran = run_drill(
        running, docker_daemon, tmp_path, "postgres-wal-held",
        "--overrule", "cause=4", "--time-limit", "15",
    )  # fmt: skip
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "(over the proposed 'An inactive replication slot retains WAL'" in ran.stdout
    assert "✖ postgres-wal-held:" in ran.stdout
    assert "dropped, WAL recycled" in ran.stdout
    assert volume_use(running) < 85
