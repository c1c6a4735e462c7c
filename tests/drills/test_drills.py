"""Drills against the harness's real PostgreSQL, Redis and Docker: every shipped scenario
proven with `opsconsole drill run --auto`, refused where nothing is marked sandbox, failed
when its runbook does not fix it, and undone after the console is killed mid-drill."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
import redis
from textual.widgets import Markdown

from opsconsole.config.model import Config
from opsconsole.drills.container_faults import ContainerFault
from opsconsole.drills.model import Drill, DrillBook, DrillPlan
from opsconsole.drills.oom import ContainerOom, OomRefused
from opsconsole.drills.pending import write_pending
from opsconsole.drills.postgres_faults import PostgresLock
from opsconsole.drills.redis_faults import RedisQueue
from opsconsole.incidents.files import FileStore
from opsconsole.incidents.model import Kind
from opsconsole.runbooks.model import CommandStep, Library
from opsconsole.tui.app import OpsConsoleApp, make_app
from opsconsole.tui.screens.dialogs import ConfirmDialog
from opsconsole.tui.screens.drill_report import DrillReportScreen
from opsconsole.tui.screens.incident import ProposalDialog
from tests.support.commands import drill
from tests.support.console import finished, open_incident, propose_drill, run_book, wait_injected
from tests.support.pilot import toasts, wait_for
from tests.support.runbooks import book
from tests.support.servers import (
    BUSYBOX_IMAGE,
    TEST_LABEL,
    DockerDaemon,
    PostgresServer,
    RedisServer,
    free_port,
)

OPSCONSOLE = str(Path(sys.executable).parent / "opsconsole")
APP = "sandbox-app"


def write_config(directory: Path, *sections: str, sandbox: bool = True) -> Path:
    text = "\n".join(sections)
    if not sandbox:
        text = text.replace("sandbox = true", "sandbox = false")
    # A service is always configured; this one answers (the harness's Prometheus is not
    # needed): nothing but the drill's target may breach.
    path = directory / "opsconsole.toml"
    path.write_text('[console]\nenvironment = "drill-sandbox"\n' + text)
    return path


def postgres_section(server: PostgresServer) -> str:
    return f'[postgres]\ndsn = "{server.dsn}"\nsandbox = true\n'


def redis_section(server: RedisServer, queues: str = "[]") -> str:
    return f'[redis]\nurl = "{server.url}"\nqueues = {queues}\nsandbox = true\n'


def drill_sessions(server: PostgresServer) -> int:
    rows = server.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'opsconsole drill %'"
    )
    return int(str(rows[0][0]))


@pytest.fixture
def sandbox_app(docker_daemon: DockerDaemon) -> Iterator[tuple[str, Any]]:
    """A container that serves its own health on loopback (host network): stopped, the
    service is really down."""
    port = free_port()
    script = (
        'mkdir -p /www && echo \'{"status": "ok"}\' > /www/health'
        f" && exec httpd -f -p 127.0.0.1:{port} -h /www"
    )
    client = docker_daemon.client()
    # A memory limit, as a production service has: the OOM drill needs one.
    container = client.containers.create(
        BUSYBOX_IMAGE, ["sh", "-c", script], name=APP, network_mode="host",
        labels={TEST_LABEL: "drills"}, mem_limit="32m", memswap_limit="32m",
    )  # fmt: skip
    container.start()
    health = f"http://127.0.0.1:{port}/health"
    try:
        yield health, container
    finally:
        container.remove(force=True)


def service_section(health_url: str, container: str | None = None) -> str:
    lines = [f'[[services]]\nname = "{APP}"\nhealth_url = "{health_url}"\nsandbox = true']
    if container:
        lines.append(f'container = "{container}"')
    return "\n".join(lines) + "\n"


# -- every shipped scenario, --auto ----------------------------------------------------------


def test_postgres_pool_exhausted_is_fixed_by_its_runbook(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    write_config(tmp_path, postgres_section(postgres), service_section("http://127.0.0.1:9/"))
    ran = drill("run", "postgres-pool-exhausted", "--auto", cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    lines = ran.stdout.splitlines()
    assert any(line.startswith("· fault injected: ") and "idle connections held open" in line
               for line in lines), ran.stdout  # fmt: skip
    assert any("postgres connections at" in line for line in lines), ran.stdout
    # No idle_minutes = 0 handed to it, no answer scripted: the idle share proposed the
    # branch, and only the client holding the most lost its idle connections, all but 5.
    assert "→ Many idle connections (a leak or an oversized pool) (as proposed: idle_share = '" in (
        ran.stdout
    ), ran.stdout
    assert "pg_terminate_backend" in ran.stdout
    assert "✔ postgres-pool-exhausted: broken after" in ran.stdout
    assert drill_sessions(postgres) == 0


def test_a_table_lock_is_ended_at_its_head_by_slow_queries(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    """Nothing in the scenario answers for the runbook: the waiting queries it counts make
    it propose ending the session that holds the lock (cancelling the waiting queries, the
    old branch, left the lock where it was and the steady state broken)."""
    write_config(tmp_path, postgres_section(postgres), service_section("http://127.0.0.1:9/"))
    ran = drill("run", "postgres-lock-held", "--auto", cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "3 queries waiting behind it" in ran.stdout
    assert (
        "→ A session holds a lock that other queries wait on (as proposed: blocked = '3' "
        "(above 0))" in ran.stdout
    ), ran.stdout
    assert "pg_terminate_backend" in ran.stdout
    assert "✔ postgres-lock-held: broken after" in ran.stdout
    assert drill_sessions(postgres) == 0


def test_a_stale_backup_is_taken_again_restored_and_within_its_rpo(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    """The signal (the newest backup in backup_dir past backup_rpo_hours), the runbook
    (pg_dump, a test restore into a scratch database, the newest within the RPO again) and
    the fault (every backup dated back), against the harness's PostgreSQL."""
    postgres.execute("CREATE TABLE IF NOT EXISTS opsconsole_test_backup (id int)")
    postgres.execute("INSERT INTO opsconsole_test_backup SELECT generate_series(1, 100)")
    backups = tmp_path / "backups"
    backups.mkdir()
    (backups / "postgres-yesterday.dump").write_bytes(b"an earlier backup")
    section = postgres_section(postgres) + f'backup_dir = "{backups}"\nbackup_rpo_hours = 24\n'
    write_config(tmp_path, section, service_section("http://127.0.0.1:9/"))
    ran = drill("run", "postgres-backup-stale", "--auto", cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "1 backups in " in ran.stdout
    assert "the newest backup of postgres is 25 h old (> 24 h)" in ran.stdout, ran.stdout
    restored = re.search(r"tables: (\d+) in postgres, (\d+) restored", ran.stdout)
    assert restored is not None, ran.stdout
    assert int(restored[1]) >= 1
    assert restored[1] == restored[2]
    assert "✔ postgres-backup-stale: broken after" in ran.stdout
    dumps = sorted(p.name for p in backups.iterdir())
    assert len(dumps) == 2  # the earlier one, given its time again, and the one taken
    assert not any(name.endswith(".partial") for name in dumps)
    assert drill_sessions(postgres) == 0


@pytest.fixture
def redis_with_maxmemory(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """The harness's Redis with a ceiling of 48 MiB, for the memory fault to fill."""
    client = redis.Redis.from_url(redis_server.url)
    client.config_set("maxmemory", 48 * 1024 * 1024)
    try:
        yield client
    finally:
        client.config_set("maxmemory", 0)
        client.close()


def test_redis_memory_full_is_fixed_by_its_runbook(
    redis_server: RedisServer, redis_with_maxmemory: redis.Redis, tmp_path: Path
) -> None:
    client = redis_with_maxmemory
    write_config(tmp_path, redis_section(redis_server), service_section("http://127.0.0.1:9/"))
    ran = drill("run", "redis-memory-full", "--auto", cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "redis memory at" in ran.stdout
    # The scenario names no keys and answers nothing: the runbook found the prefix
    # that holds the most keys, and the memory and the count proposed deleting them.
    assert "pattern=opsconsole-drill:*" in ran.stdout, ran.stdout
    assert "→ Delete the matching keys (as proposed: memory_ratio = '0.9" in ran.stdout
    assert "✔ redis-memory-full" in ran.stdout
    assert list(client.scan_iter(match="opsconsole-drill:*")) == []


def run_docker_drill(
    scenario: str, docker_daemon: DockerDaemon, health: str, tmp_path: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    """`drill run SCENARIO --auto` on the sandbox app, its container on the test daemon."""
    write_config(
        tmp_path,
        f'[docker]\nbase_url = "{docker_daemon.base_url}"\n',
        service_section(health, APP),
    )
    env = {"DOCKER_HOST": docker_daemon.base_url}  # the runbook's docker CLI
    return drill("run", scenario, "--auto", *extra, cwd=tmp_path, env=env)


@pytest.mark.parametrize("scenario", ["container-stopped", "container-killed"])
def test_a_stopped_or_killed_container_is_brought_back_by_service_down(
    scenario: str,
    docker_daemon: DockerDaemon,
    sandbox_app: tuple[str, Any],
    tmp_path: Path,
) -> None:
    health, container = sandbox_app
    ran = run_docker_drill(scenario, docker_daemon, health, tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert f"{APP} is DOWN" in ran.stdout  # the health check, as well as the container state
    # The evidence chose the branch: nothing in the scenario answers for the runbook.
    assert (
        "→ The container exited or crashed (as proposed: state = 'exited' (one of exited, "
        "dead, created); oom = 'false' (equals false))" in ran.stdout
    ), ran.stdout
    assert "docker start sandbox-app" in ran.stdout
    container.reload()
    assert container.status == "running"


@pytest.mark.parametrize(
    ("scenario", "decided", "command"),
    [
        ("container-paused", "→ It is paused (docker pause) (as proposed: state = 'paused'",
         "docker unpause sandbox-app"),
        ("dependency-stopped", "→ The container is not running (as proposed: state = 'exited' "
         "(one of exited, dead, created))", "docker start sandbox-app"),
    ],
)  # fmt: skip
def test_the_containers_state_leads_to_the_branch_that_brings_it_back(
    scenario: str, decided: str, command: str,
    docker_daemon: DockerDaemon, sandbox_app: tuple[str, Any], tmp_path: Path,
) -> None:  # fmt: skip
    """service-down on a paused container, dependency-down on a stopped dependency."""
    health, container = sandbox_app
    ran = run_docker_drill(scenario, docker_daemon, health, tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert decided in ran.stdout, ran.stdout
    assert command in ran.stdout
    assert f"✔ {scenario}: broken after" in ran.stdout
    container.reload()
    assert container.status == "running"


def test_an_oom_killed_container_is_brought_back_by_service_down(
    docker_daemon: DockerDaemon, sandbox_app: tuple[str, Any], tmp_path: Path
) -> None:
    health, container = sandbox_app
    ran = run_docker_drill("container-oom-killed", docker_daemon, health, tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert (
        f"· fault injected: container {APP}: main process OOM-killed under its 32 MiB limit"
        " (exit 137)" in ran.stdout
    )
    # What the dashboard's sources saw while the fault was in, and what the runbook read.
    broken = next(line for line in ran.stdout.splitlines() if "steady state broken" in line)
    assert f"{APP} was OOM-killed" in broken, broken
    assert "OOMKilled=true ExitCode=137" in ran.stdout
    assert "→ It ran out of memory (OOMKilled=true) (as proposed: oom = 'true'" in ran.stdout
    # Started with docker run, not compose: no compose label, and the evidence says so.
    assert (
        "→ With docker run (no compose file) (as proposed: compose_project = '' (equals ''))"
        in ran.stdout
    ), ran.stdout
    assert "docker start sandbox-app" in ran.stdout
    assert "✔ container-oom-killed: broken after" in ran.stdout
    container.reload()
    assert container.status == "running"
    assert container.attrs["State"]["OOMKilled"] is False


# -- the wrong branch: a proposal that is wrong fails its drill ---------------------------------
# Each scenario again, its decision overruled to another answer (`--overrule`), under a
# shortened time limit: the steady state must stay broken, so that a wrong proposal would
# fail the drill above, not pass it by luck.

WRONG_TIME_LIMIT = "8"


def wrong_branch(ran: subprocess.CompletedProcess[str], scenario: str, over: str) -> None:
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert f"(over the proposed {over!r}" in ran.stdout, ran.stdout
    assert f"✖ {scenario}:" in ran.stdout
    assert "· fault undone:" in ran.stdout


@pytest.mark.parametrize(
    ("scenario", "overrule", "over"),
    [
        ("container-stopped", "cause=3", "The container exited or crashed"),
        ("container-paused", "cause=2", "It is paused (docker pause)"),
        ("container-oom-killed", "cause=3", "It ran out of memory (OOMKilled=true)"),
        ("dependency-stopped", "cause=3", "The container is not running"),
    ],
)
def test_a_containers_wrong_branch_leaves_it_broken(
    scenario: str, overrule: str, over: str,
    docker_daemon: DockerDaemon, sandbox_app: tuple[str, Any], tmp_path: Path,
) -> None:  # fmt: skip
    health, container = sandbox_app
    ran = run_docker_drill(
        scenario, docker_daemon, health, tmp_path,
        "--overrule", overrule, "--time-limit", WRONG_TIME_LIMIT,
    )  # fmt: skip
    wrong_branch(ran, scenario, over)
    container.reload()
    assert container.status == "running"  # undone by the drill, not by the runbook


@pytest.mark.parametrize(
    ("scenario", "overrule", "over"),
    [
        ("postgres-lock-held", "cause=2", "A session holds a lock that other queries wait on"),
        ("postgres-pool-exhausted", "cause=3",
         "Many idle connections (a leak or an oversized pool)"),
    ],
)  # fmt: skip
def test_a_databases_wrong_branch_leaves_it_broken(
    scenario: str, overrule: str, over: str, postgres: PostgresServer, tmp_path: Path
) -> None:
    write_config(tmp_path, postgres_section(postgres), service_section("http://127.0.0.1:9/"))
    ran = drill(
        "run", scenario, "--auto", "--overrule", overrule, "--time-limit", WRONG_TIME_LIMIT,
        cwd=tmp_path,
    )  # fmt: skip
    wrong_branch(ran, scenario, over)
    assert drill_sessions(postgres) == 0


def test_redis_memorys_wrong_branch_leaves_it_full(
    redis_server: RedisServer, redis_with_maxmemory: redis.Redis, tmp_path: Path
) -> None:
    write_config(tmp_path, redis_section(redis_server), service_section("http://127.0.0.1:9/"))
    ran = drill(
        "run", "redis-memory-full", "--auto", "--overrule", "action=3",
        "--time-limit", WRONG_TIME_LIMIT, cwd=tmp_path,
    )  # fmt: skip
    wrong_branch(ran, "redis-memory-full", "Delete the matching keys")
    assert "the steady state does not hold again after the runbook" in ran.stdout


def test_an_overrule_that_fits_no_decision_is_refused_before_anything_is_injected(
    tmp_path: Path,
) -> None:
    """A typo would rehearse nothing and still report a failure."""
    write_config(tmp_path, service_section("http://127.0.0.1:9/", APP))
    typo = drill("run", "container-stopped", "--auto", "--overrule", "cuase=2", cwd=tmp_path)
    assert typo.returncode == 2
    assert "--overrule cuase: no decision 'cuase' in service-down (cause, how-run" in typo.stderr
    beyond = drill("run", "container-stopped", "--auto", "--overrule", "cause=9", cwd=tmp_path)
    assert beyond.returncode == 2
    assert "--overrule cause=9: 'cause' has 6 answers" in beyond.stderr
    # RUNBOOK/STEP: a decision of a runbook the scenario's runs, and of none other.
    elsewhere = drill(
        "run", "container-stopped", "--auto", "--overrule", "postgres-unreachable/cause=1",
        cwd=tmp_path,
    )  # fmt: skip
    assert elsewhere.returncode == 2
    assert "service-down does not run 'postgres-unreachable'" in elsewhere.stderr
    limit = drill("run", "container-stopped", "--auto", "--time-limit", "0", cwd=tmp_path)
    assert limit.returncode == 2
    assert "--time-limit 0: seconds, more than 0 and at most 86400" in limit.stderr
    assert "fault injected" not in typo.stdout + beyond.stdout + limit.stdout + elsewhere.stdout


# -- refused, failed, killed -------------------------------------------------------------------


def test_a_target_not_marked_sandbox_is_refused_and_nothing_is_injected(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    write_config(
        tmp_path, postgres_section(postgres), service_section("http://127.0.0.1:9/"), sandbox=False
    )
    ran = drill("postgres-pool-exhausted", "--auto", cwd=tmp_path)  # `run` is implied
    assert ran.returncode == 1
    assert (
        "refused: target postgres is not marked sandbox = true: drills are refused there"
        in ran.stdout
    )
    assert "fault injected" not in ran.stdout
    assert drill_sessions(postgres) == 0
    listed = drill("list", cwd=tmp_path)
    assert listed.returncode == 0
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()}
    assert rows["postgres-pool-exhausted"].endswith("drills are refused there")
    assert rows["redis-memory-full"].endswith("target redis: no [redis] in the configuration")
    # Columns as wide as their longest entry: every scenario's fault kind starts in one column.
    kinds = {line.index(line.split()[2]) for line in listed.stdout.splitlines()}
    assert len(kinds) == 1, listed.stdout


BROKEN = """
[[runbooks]]
id = "looks-but-fixes-nothing"
title = "Looks, fixes nothing"
summary = "A runbook broken on purpose: the drill must fail."

[[runbooks.steps]]
id = "look"
kind = "command"
title = "Look"
argv = ["redis-cli", "-h", "{redis_host}", "-p", "{redis_port}", "llen", "{queue}"]

[[runbooks.params]]
name = "redis_host"
description = "Redis"

[[runbooks.params]]
name = "redis_port"
description = "Redis port"

[[runbooks.params]]
name = "queue"
description = "The queue"
"""

QUEUE_DRILL = """
[[drills]]
id = "queue-backlog"
title = "Audit queue backlog"
target = "redis"
fault = {{ kind = "redis_queue", items = 3000 }}
runbook = "{runbook}"
params = {{ redis_host = "{{redis_host}}", redis_port = "{{redis_port}}"{extra} }}
time_limit_seconds = {limit}
"""


def test_a_runbook_that_does_not_fix_the_fault_fails_the_drill_and_the_fault_is_undone(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    client.delete("audit_events_queue")
    client.rpush("audit_events_queue", "a real event")
    write_config(
        tmp_path,
        redis_section(redis_server, '["audit_events_queue"]'),
        service_section("http://127.0.0.1:9/"),
    )
    (tmp_path / "runbooks.toml").write_text(BROKEN)
    (tmp_path / "drills.toml").write_text(
        QUEUE_DRILL.format(
            runbook="looks-but-fixes-nothing", extra=', queue = "audit_events_queue"', limit=8
        )
    )
    ran = drill("run", "queue-backlog", "--auto", cwd=tmp_path)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "queue audit_events_queue holds 3001 > 1000" in ran.stdout
    assert "✖ queue-backlog: the steady state does not hold again after the runbook" in ran.stdout
    assert "· fault undone: 3000 drill entries removed from audit_events_queue" in ran.stdout
    assert client.lrange("audit_events_queue", 0, -1) == [b"a real event"]  # only ours went
    client.delete("audit_events_queue")
    client.close()


SLOW = """
[[runbooks]]
id = "takes-its-time"
title = "Takes its time"
summary = "Long enough to be killed in."

[[runbooks.steps]]
id = "wait"
kind = "command"
title = "Wait"
argv = ["sleep", "60"]
timeout_seconds = 120
"""


def test_a_drill_killed_mid_run_is_undone_at_the_next_start(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    client.delete("audit_events_queue")
    write_config(
        tmp_path,
        redis_section(redis_server, '["audit_events_queue"]'),
        service_section("http://127.0.0.1:9/"),
    )
    (tmp_path / "runbooks.toml").write_text(SLOW)
    (tmp_path / "drills.toml").write_text(
        QUEUE_DRILL.format(runbook="takes-its-time", extra="", limit=300).replace(
            'params = { redis_host = "{redis_host}", redis_port = "{redis_port}" }\n', ""
        )
    )
    console = subprocess.Popen(
        [OPSCONSOLE, "drill", "run", "queue-backlog", "--auto"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert console.stdout is not None
    seen = []
    for line in console.stdout:
        seen.append(line)
        if "running runbook takes-its-time" in line:
            break
    assert client.llen("audit_events_queue") == 3000, "".join(seen)
    os.kill(console.pid, signal.SIGKILL)  # no finally, no rollback: a crash
    console.wait(10)
    assert client.llen("audit_events_queue") == 3000  # left behind

    recovered = drill("recover", cwd=tmp_path)
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert "drill queue-backlog-" in recovered.stderr
    assert "left a fault behind, undone: " in recovered.stderr
    assert "3000 drill entries removed from audit_events_queue" in recovered.stderr
    assert client.llen("audit_events_queue") == 0
    again = drill("recover", cwd=tmp_path)  # undone once: nothing left to do
    assert again.stdout.strip() == "0 left-behind faults undone"
    client.close()


def test_the_fault_of_a_drill_still_running_elsewhere_is_not_taken_for_left_behind(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """Two consoles, one state directory: the second's start must not undo the first's
    drill mid-run. Once its owner is gone, the record is left behind, and undone."""
    client = redis.Redis.from_url(redis_server.url)
    client.delete("jobs")
    write_config(
        tmp_path, redis_section(redis_server, '["jobs"]'), service_section("http://127.0.0.1:9/")
    )
    fault = RedisQueue(redis_server.url, "live", "jobs", 5)
    pending = tmp_path / ".local" / "state" / "opsconsole" / "drills"
    record = write_pending(pending, "live", fault.record())  # owned by this test's process
    fault.inject()
    try:
        busy = drill("recover", cwd=tmp_path)
        assert busy.stdout.strip() == "0 left-behind faults undone", busy.stdout + busy.stderr
        assert client.llen("jobs") == 5

        owned = json.loads(record.read_text())
        owned["owner"] = {"pid": owned["owner"]["pid"], "started": -1}  # a pid reused since
        record.write_text(json.dumps(owned))
        recovered = drill("recover", cwd=tmp_path)
        assert "5 drill entries removed from jobs" in recovered.stderr
        assert client.llen("jobs") == 0
    finally:
        client.delete("jobs")
        client.close()


# -- the faults themselves ---------------------------------------------------------------------


def test_a_long_lock_blocks_the_table_until_undone(postgres: PostgresServer) -> None:
    fault = PostgresLock(postgres.dsn, f"lock-{os.getpid()}", "opsconsole_drill_lock")
    assert fault.inject() == (
        "opsconsole_drill_lock locked (ACCESS EXCLUSIVE) by a session idle in its transaction,"
        " 3 queries waiting behind it"
    )
    try:
        with psycopg.connect(postgres.dsn, autocommit=True) as other:
            waiting = other.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            ).fetchone()
            assert waiting == (3,)
            other.execute("SET lock_timeout = '300ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute("SELECT count(*) FROM opsconsole_drill_lock")
    finally:
        assert fault.undo().startswith("lock released")
    with psycopg.connect(postgres.dsn, autocommit=True) as other:
        other.execute("SET lock_timeout = '300ms'")
        assert other.execute("SELECT count(*) FROM opsconsole_drill_lock").fetchone() == (0,)
    assert drill_sessions(postgres) == 0


def test_a_paused_container_is_unpaused(
    docker_daemon: DockerDaemon, sandbox_app: tuple[str, Any]
) -> None:
    _, container = sandbox_app
    fault = ContainerFault(docker_daemon.base_url, APP, "pause")
    fault.inject()
    container.reload()
    assert container.status == "paused"
    assert fault.undo() == f"container {APP} unpaused"
    container.reload()
    assert container.status == "running"
    assert fault.undo() == f"container {APP} was running"  # twice is harmless


def test_an_oom_kill_is_undone_twice_harmlessly_and_refused_without_a_memory_limit(
    docker_daemon: DockerDaemon, sandbox_app: tuple[str, Any]
) -> None:
    _, container = sandbox_app
    fault = ContainerOom(docker_daemon.base_url, APP)
    assert fault.inject().startswith(f"container {APP}: main process OOM-killed")
    container.reload()
    assert (container.status, container.attrs["State"]["OOMKilled"]) == ("exited", True)
    assert fault.undo() == (
        f"container {APP} started, restarted to clear the OOMKilled of the drill's kill"
    )
    container.reload()
    assert (container.status, container.attrs["State"]["OOMKilled"]) == ("running", False)
    assert fault.undo() == f"container {APP} was running"

    unlimited = docker_daemon.client().containers.run(
        BUSYBOX_IMAGE, ["busybox", "sleep", "600"], name=f"{APP}-unlimited", detach=True,
        labels={TEST_LABEL: "drills"},
    )  # fmt: skip
    try:
        with pytest.raises(OomRefused, match="has no memory limit: filling it would fill the host"):
            ContainerOom(docker_daemon.base_url, f"{APP}-unlimited").inject()
        unlimited.reload()
        assert unlimited.status == "running"
    finally:
        unlimited.remove(force=True)


def test_a_queue_backlog_undo_removes_only_the_drills_entries(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url)
    client.delete("jobs")
    client.rpush("jobs", "job-1")
    fault = RedisQueue(redis_server.url, "test", "jobs", 2500)
    fault.inject()
    client.rpush("jobs", "job-2")  # real work arriving during the drill stays
    assert client.llen("jobs") == 2502
    assert fault.undo() == "2500 drill entries removed from jobs"
    assert client.lrange("jobs", 0, -1) == [b"job-1", b"job-2"]
    client.delete("jobs")
    client.close()


def test_the_drills_shipped_and_their_checks(tmp_path: Path) -> None:
    (tmp_path / "drills.toml").write_text(
        """
[[drills]]
id = "bad"
title = "Bad"
target = "redis"
fault = { kind = "redis_queue" }
runbook = "redis-cache"
params = { redis_host = "{redis_hots}", colour = "blue" }
answers = { action = "Panic" }

[[drills]]
id = "bad"
title = "Bad twice"
target = "redis"
fault = { kind = "redis_queue" }
runbook = "no-such-runbook"
"""
    )
    checked = subprocess.run(
        [OPSCONSOLE, "check"], cwd=tmp_path, capture_output=True, text=True, timeout=30,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert checked.returncode == 2
    problems = [line.split(": ", 1)[1] for line in checked.stdout.splitlines()]
    assert problems == [
        "unknown value '{redis_hots}' in parameter 'redis_host'",
        "runbook 'redis-cache' has no parameter 'colour'",
        "scripted answers need why_scripted: what a person knows here that no captured value "
        "shows (a decision that can propose its answer should)",
        "'Panic' is not an answer of 'action' (answers: 'Delete the matching keys', "
        "'Raise maxmemory or change the eviction policy', 'Nothing: it was informational')",
        "duplicate drill id 'bad'",
        "no runbook 'no-such-runbook' in the library",
    ]
    shipped = subprocess.run(
        [OPSCONSOLE, "check"], cwd=tmp_path.parent, capture_output=True, text=True, timeout=30,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip
    with (Path(__file__).parents[2] / "drills.toml").open("rb") as shipped_file:
        count = len(tomllib.load(shipped_file)["drills"])
    assert f"drills.toml: {count} drills" in shipped.stdout, shipped.stdout + shipped.stderr


# -- drill mode in the dashboard -----------------------------------------------------------

DRAIN = book(
    id="empty-the-queue",
    title="Empty the queue",
    params=[
        {"name": "redis_host", "description": "Redis host"},
        {"name": "redis_port", "description": "Redis port"},
        {"name": "queue", "description": "The queue", "default": "jobs"},
    ],
    steps=[
        {"id": "empty", "kind": "command", "title": "Empty it", "destructive": True,
         "description": "Deletes every entry of the queue.",
         "argv": ["redis-cli", "-h", "{redis_host}", "-p", "{redis_port}", "del", "{queue}"]},
    ],
)  # fmt: skip


def drill_app(
    redis_server: RedisServer,
    tmp_path: Path,
    store: FileStore,
    *,
    offered: bool = False,
    limit: float = 600,
    then_wait: float = 0,
) -> OpsConsoleApp:
    url = urlsplit(redis_server.url)
    after = [CommandStep(id="settle", kind="command", title="Let it settle",
                         argv=["sleep", str(then_wait)])] if then_wait else []  # fmt: skip
    runbook = DRAIN.model_copy(
        update={
            "steps": [*DRAIN.steps, *after],
            "params": [
                p.model_copy(update={"default": str(url.hostname)}) if p.name == "redis_host"
                else p.model_copy(update={"default": str(url.port)}) if p.name == "redis_port"
                else p
                for p in DRAIN.params
            ]
        }
    )  # fmt: skip
    config = Config.model_validate(
        {"console": {"environment": "training", "refresh_seconds": 0.3},
         "services": [{"name": "api", "health_url": "http://127.0.0.1:9/health"}],
         "redis": {"url": redis_server.url, "queues": ["jobs"], "sandbox": True}}
    )  # fmt: skip
    scenario = Drill.model_validate(
        {"id": "jobs-backlog", "title": "Jobs backlog", "target": "redis",
         "fault": {"kind": "redis_queue", "items": 3000}, "runbook": "empty-the-queue",
         "time_limit_seconds": limit}
    )  # fmt: skip
    library = Library(runbooks=[runbook])
    if offered:  # from the palette, once the dashboard is open
        book = DrillBook(drills=[scenario])
        return make_app(config, library=library, incidents=store, drills=book)
    plan = DrillPlan(scenario, tmp_path / "pending", tmp_path / "reports")
    return make_app(config, library=library, incidents=store, drill=plan)


async def test_a_trainee_drill_is_timed_scored_and_stored_as_a_drill_incident(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    client.delete("jobs")
    store = FileStore(tmp_path / "incidents")
    app = drill_app(redis_server, tmp_path, store)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        session = app.drill_mode.card
        assert session is not None
        assert app.sub_title.startswith("DRILL Jobs backlog")
        await wait_for(pilot, lambda: session.injected_at is not None)
        assert client.llen("jobs") == 3000
        assert list((tmp_path / "pending").iterdir())  # how to undo it, on disk first
        await wait_for(pilot, lambda: session.breach_seen is not None)

        await pilot.press("h")
        await wait_for(pilot, lambda: any("Hint: look at redis" in t for t in toasts(app)))
        incident = await open_incident(pilot, app, title="Jobs pile up")
        assert incident.mode == "drill"

        wizard = await run_book(pilot, app, app.library.runbooks[0])  # type: ignore[union-attr]
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press(*"jobs", "enter")
        await wait_for(pilot, finished(wizard))
        await wait_for(pilot, lambda: isinstance(app.screen, DrillReportScreen), seconds=20)
        # The header's new title reaches every screen's Header through awaited watchers:
        # let them run before the test tears the app down under them.
        await pilot.pause(0.3)
        report = app.screen.query_one("#drill-report", Markdown)
        assert report is not None

    assert app.drill_mode.report_path is not None
    text = app.drill_mode.report_path.read_text()
    assert "- **Score:** 95 / 100" in text
    assert "+50 recovered in" in text
    assert "+20 the right runbook (empty-the-queue)" in text
    assert "+5 process (1 hints, 0 steps skipped)" in text
    assert f"- **Incident:** {incident.id}" in text
    found = store.get(incident.id)
    markers = [e.data["text"] for e in found.events if e.kind == Kind.DRILL]
    assert markers[0] == "fault injected: jobs-backlog (redis_queue on redis)"
    assert markers[-1].startswith(
        "drill ended, the steady state holds again; score 95/100: jobs-backlog"
    )
    assert client.llen("jobs") == 0
    assert list((tmp_path / "pending").iterdir()) == []
    client.close()


async def test_a_run_still_going_when_the_system_recovers_is_scored_once_it_ends(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """The fix brings the steady state back while the run has steps left (here a
    3 s settle): the drill ended there and scored the run as never completed."""
    client = redis.Redis.from_url(redis_server.url)
    client.delete("jobs")
    app = drill_app(redis_server, tmp_path, FileStore(tmp_path / "incidents"), then_wait=3)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        card = app.drill_mode.card
        assert card is not None
        await wait_for(pilot, lambda: card.breach_seen is not None)
        wizard = await run_book(pilot, app, app.library.runbooks[0])  # type: ignore[union-attr]
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press(*"jobs", "enter")
        await wait_for(pilot, finished(wizard), seconds=20)
        await wait_for(pilot, lambda: isinstance(app.screen, DrillReportScreen), seconds=20)
        # The header's new title reaches every screen's Header through awaited watchers:
        # let them run before the test tears the app down under them.
        await pilot.pause(0.3)
    assert app.drill_mode.report_path is not None
    text = app.drill_mode.report_path.read_text()
    assert "+20 the right runbook (empty-the-queue)" in text
    assert "- empty-the-queue: completed" in text
    client.close()


async def test_leaving_a_drill_midway_undoes_its_fault(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    client.delete("jobs")
    client.rpush("jobs", "real work")
    app = drill_app(redis_server, tmp_path, FileStore(tmp_path / "incidents"))
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.drill_mode.card is not None
        await wait_injected(pilot, app)
        assert client.llen("jobs") == 3001
        await pilot.press("q")
    assert client.lrange("jobs", 0, -1) == [b"real work"]
    assert list((tmp_path / "pending").iterdir()) == []
    client.delete("jobs")
    client.close()


def test_a_fault_the_sandbox_cannot_take_fails_cleanly(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """A Redis without maxmemory is not filled: that would fill the host."""
    client = redis.Redis.from_url(redis_server.url)
    assert client.config_get("maxmemory")["maxmemory"] == "0"
    write_config(tmp_path, redis_section(redis_server), service_section("http://127.0.0.1:9/"))
    ran = drill("run", "redis-memory-full", "--auto", cwd=tmp_path)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert (
        "✖ redis-memory-full: the fault could not be injected: this Redis has no maxmemory"
        in ran.stdout
    )
    assert "Traceback" not in ran.stderr
    assert list(client.scan_iter(match="opsconsole-drill:*")) == []
    client.close()


async def test_a_drill_started_from_the_palette_is_confirmed_first(
    redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    client.delete("jobs")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # where its undo record goes
    try:
        app = drill_app(redis_server, tmp_path, FileStore(tmp_path / "incidents"), offered=True)
        async with app.run_test(size=(80, 24)) as pilot:
            assert app.drill_mode.card is None
            await propose_drill(pilot, app, "Jobs backlog")
            assert isinstance(app.screen, ProposalDialog)
            assert "A real redis_queue fault goes into redis now" in app.screen.proposal
            await pilot.press("n")  # declined: nothing is touched
            await pilot.pause(0.5)
            assert app.drill_mode.card is None
            assert client.llen("jobs") == 0

            await propose_drill(pilot, app, "Jobs backlog")
            await pilot.press("y")
            await wait_injected(pilot, app)
            assert client.llen("jobs") == 3000
            assert "DRILL Jobs backlog" in app.sub_title
        assert client.llen("jobs") == 0  # quitting undid it
    finally:
        client.delete("jobs")
        client.close()


async def test_when_time_is_up_the_drill_ends_unrecovered_and_is_on_record_all_the_same(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    client.delete("jobs")
    store = FileStore(tmp_path / "incidents")
    app = drill_app(redis_server, tmp_path, store, limit=3)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DrillReportScreen), seconds=20)
        # The header's new title reaches every screen's Header through awaited watchers:
        # let them run before the test tears the app down under them.
        await pilot.pause(0.3)
        assert "DRILL over" in app.sub_title
    assert app.drill_mode.report_path is not None
    text = app.drill_mode.report_path.read_text()
    assert "- **Score:** 10 / 100" in text  # the process points: no hint, nothing skipped
    assert "+0 not recovered within 3s" in text
    assert "+0 no incident opened" in text
    (incident,) = store.incidents()
    assert (incident.mode, incident.status) == ("drill", "RESOLVED")
    assert incident.title == "Drill: Jobs backlog"
    assert client.llen("jobs") == 0
    client.close()
