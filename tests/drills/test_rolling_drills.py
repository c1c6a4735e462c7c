"""The drill of rolling-restart: a service of three replicas in real containers of the host
image (tests/support/fhir_app.py's pooled server, four workers each) behind a layer-4,
least-connections balancer (tests/support/balancer.py), each replica scraped by the
harness's Prometheus. Clients that never finish their requests hold every worker of every
replica: the health URL times out and no replica can be scraped. `drill run --auto`
proves that the rolling restart brings the service back with one replica down at most at
any time, the service answering again from the first one back; a runbook that restarts
nothing (service-logs), or one replica only, fails the drill. rolling-restart has no
decision: its wrong branch is another runbook, given by a scenario file of the test's own."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import threading
import time
import tomllib
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.commands import drill
from tests.support.servers import (
    HOST_IMAGE,
    HOST_MOUNTS,
    TEST_LABEL,
    DockerDaemon,
    PrometheusServer,
    free_port,
)

SUPPORT = Path(__file__).parent.parent / "support"
ROOT = Path(__file__).parent.parent.parent
SERVICE = "sandbox-web"
SCENARIO = "replicas-stuck"
WORKERS = 4
HELD = 15
"""The scenario's count: a worker more than each replica has, so that a request in flight
through the balancer while they are made (the watcher's) leaves none free."""
# Past the injection: time for the wrong runbook to run and the steady state to be looked
# at a few times, not to recover.
WRONG_TIME_LIMIT = "10"


@dataclass
class Replicas:
    containers: list[Any]
    ports: list[int]
    url: str
    """The service's health URL, on the balancer."""

    @property
    def instances(self) -> str:
        return "|".join(f"127.0.0.1:{port}" for port in self.ports)


@pytest.fixture(scope="module")
def replicas(docker_daemon: DockerDaemon, prometheus: PrometheusServer) -> Iterator[Replicas]:
    client = docker_daemon.client()
    mounts = [*HOST_MOUNTS, f"{SUPPORT}:/srv:ro"]
    ports, started = [free_port() for _ in range(3)], []
    try:
        for number, port in enumerate(ports, 1):
            serve = ["python3", "/srv/fhir_app.py", "hapi", "--port", str(port),
                     "--workers", str(WORKERS), "--work", "0.05", "--name", SERVICE]  # fmt: skip
            # Its own health, as compose files give one: a replica restarted is back once
            # Docker says healthy (without one, the runbook waits 5 s more for each).
            check = {
                "test": ["CMD", "curl", "-fsS", "--max-time", "1", "-o", "/dev/null",
                         f"http://127.0.0.1:{port}/health"],
                "interval": 1_000_000_000, "timeout": 2_000_000_000, "retries": 1,
            }  # fmt: skip
            labels = {TEST_LABEL: "drills", "com.docker.compose.service": SERVICE}
            replica = client.containers.run(
                HOST_IMAGE, serve, name=f"{SERVICE}-{number}", detach=True, labels=labels,
                network_mode="host", volumes=mounts, healthcheck=check,
            )  # fmt: skip
            started.append(replica)
        lb_port = free_port()
        balancer = client.containers.run(
            HOST_IMAGE,
            ["python3", "/srv/balancer.py", "--port", str(lb_port),
             *(f"127.0.0.1:{port}" for port in ports)],
            name="sandbox-lb", detach=True, network_mode="host", volumes=mounts,
            labels={TEST_LABEL: "drills"},
        )  # fmt: skip
        started.append(balancer)
        prometheus.scrape(*(f"127.0.0.1:{port}" for port in ports))
        yield Replicas(started[:3], ports, f"http://127.0.0.1:{lb_port}/health")
    finally:
        prometheus.scrape()
        for container in started:
            container.remove(force=True)


@pytest.fixture
def answering(replicas: Replicas, prometheus: PrometheusServer) -> Replicas:
    """Each test starts with every replica healthy, answering through the balancer and
    scraped, whatever the last one left (its held connections closed by the drill's undo,
    the requests queued behind them take a moment to drain)."""
    deadline = time.monotonic() + 60
    while not all(
        state(c)["Status"] == "running" and state(c)["Health"]["Status"] == "healthy"
        for c in replicas.containers
    ):
        assert time.monotonic() < deadline, [state(c) for c in replicas.containers]
        time.sleep(0.2)
    while not answers(replicas.url):
        assert time.monotonic() < deadline, "the balancer does not answer"
        time.sleep(0.2)
    instances = f'instance=~"{replicas.instances}"'
    prometheus.until(f"count(up{{{instances}}} == 1) == 3")
    # Whose a target is, once down, is read from the series it exported.
    prometheus.until(f'count(http_requests_total{{service="{SERVICE}"}}) == 3')
    return replicas


def state(container: Any) -> dict[str, Any]:
    container.reload()
    return dict(container.attrs["State"])


def moment(docker_time: str) -> datetime:
    """Docker's RFC 3339 time, its nanoseconds without trailing zeros, to the microsecond."""
    whole, _, fraction = docker_time.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{whole}.{(fraction + '000000')[:6]}+00:00")


def answers(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def run_drill(
    replicas: Replicas, docker_daemon: DockerDaemon, prometheus: PrometheusServer,
    tmp_path: Path, *extra: str,
) -> subprocess.CompletedProcess[str]:  # fmt: skip
    (tmp_path / "opsconsole.toml").write_text(
        '[console]\nenvironment = "drill-sandbox"\n'
        # Its replicas, on the dashboard: a service has one container at most.
        f'[docker]\nbase_url = "{docker_daemon.base_url}"\n'
        f'label = "com.docker.compose.service={SERVICE}"\n'
        # A short window, so that the figures move within a test.
        f'[prometheus]\nurl = "{prometheus.url}"\nwindow = "15s"\n'
        f'[[services]]\nname = "{SERVICE}"\nhealth_url = "{replicas.url}"\nsandbox = true\n'
    )
    env = {"DOCKER_HOST": docker_daemon.base_url}  # the runbook's docker CLI
    return drill("run", SCENARIO, "--auto", *extra, cwd=tmp_path, env=env)


class Watcher:
    """While the drill runs: which replicas are down every 0.1 s (not running, or started
    again and not yet healthy: stuck is not down), and, one after another, whether the
    service answers through its balancer within 1 s."""

    def __init__(self, replicas: Replicas) -> None:
        self.replicas = replicas
        self.down: list[set[str]] = []
        self.answered: list[bool] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._states, daemon=True),
            threading.Thread(target=self._answers, daemon=True),
        ]

    def __enter__(self) -> Watcher:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)

    def _states(self) -> None:
        while not self._stop.is_set():
            down = set()
            for container in self.replicas.containers:
                now = state(container)
                if now["Status"] != "running" or now["Health"]["Status"] == "starting":
                    down.add(container.name)
            self.down.append(down)
            self._stop.wait(0.1)

    def _answers(self) -> None:
        while not self._stop.is_set():
            self.answered.append(answers(self.replicas.url))
            self._stop.wait(0.1)


def test_replicas_stuck_on_held_workers_are_brought_back_by_a_rolling_restart(
    answering: Replicas, docker_daemon: DockerDaemon, prometheus: PrometheusServer,
    tmp_path: Path,
) -> None:  # fmt: skip
    before = [state(c) for c in answering.containers]
    with Watcher(answering) as watcher:
        ran = run_drill(answering, docker_daemon, prometheus, tmp_path)
    out = ran.stdout
    assert ran.returncode == 0, out + ran.stderr
    lb_port = urllib.parse.urlsplit(answering.url).port
    assert f"· fault injected: {HELD} connections to 127.0.0.1:{lb_port} held" in out
    broken = next(line for line in out.splitlines() if "steady state broken" in line)
    assert f"{SERVICE} is DOWN" in broken, broken  # its health URL timed out
    # Those Docker already found unhealthy first: the order varies with its checks' timing.
    order = re.search(r"containers=3 not_running=0 order=(\S+)", out)
    assert order is not None, out
    assert sorted(order[1].split(",")) == [c.name for c in answering.containers]
    assert "restarted=3" in out
    assert "the health URL answers" in out
    assert f"✔ {SCENARIO}: broken after" in out
    assert f"· fault undone: {HELD} held connections closed" in out

    after = {c.name: state(c) for c in answering.containers}
    for container, old in zip(answering.containers, before, strict=True):
        new = after[container.name]
        assert moment(new["StartedAt"]) > moment(old["StartedAt"])  # each really restarted
    # One at a time: each seen down (restarting), never two at once, each stopped only
    # once the one before had started again.
    assert {name for down in watcher.down for name in down} == {
        c.name for c in answering.containers
    }
    assert max(len(down) for down in watcher.down) == 1, watcher.down
    restarted = [after[name] for name in order[1].split(",")]
    for previous, following in itertools.pairwise(restarted):
        assert moment(following["FinishedAt"]) > moment(previous["StartedAt"])
    # Through the balancer: answering before the fault; not while the workers were held
    # (it goes to the replica with the fewest connections: one with a worker free would
    # have answered); and from the first replica back on, at every look, the others
    # restarting meanwhile.
    stuck = watcher.answered.index(False)
    back = watcher.answered.index(True, stuck)
    assert all(watcher.answered[back:]), watcher.answered


def _scenario(**changed: str) -> str:
    """The shipped scenario, same fault and target, with another runbook."""
    with (ROOT / "drills.toml").open("rb") as shipped:
        scenario = next(d for d in tomllib.load(shipped)["drills"] if d["id"] == SCENARIO)
    fault = ", ".join(f"{k} = {json.dumps(v)}" for k, v in scenario["fault"].items())
    return (
        f'[[drills]]\nid = "{SCENARIO}"\ntitle = "{scenario["title"]}"\n'
        f'target = "{scenario["target"]}"\nfault = {{ {fault} }}\n'
        + "".join(f"{key} = {value}\n" for key, value in changed.items())
    )


RESTART_ONE = """
[[runbooks]]
id = "restart-one"
title = "Restart one replica"
summary = "docker restart of one container of the service, the others left as they are."

[[runbooks.params]]
name = "container"
description = "The container"

[[runbooks.steps]]
id = "restart"
kind = "command"
title = "Restart it"
description = "Its process stopped and started again: the requests on it dropped."
argv = ["docker", "restart", "-t", "1", "{container}"]
destructive = true
confirm = "{container}"
"""


@pytest.mark.parametrize(
    ("runbook", "params", "library"),
    [
        # Reads every replica's logs, and restarts none.
        ("service-logs", '{ service = "{target}", since = "5m" }', None),
        # The first one back answers through the balancer, the two left stuck are
        # Prometheus targets down: the service is not whole.
        ("restart-one", f'{{ container = "{SERVICE}-1" }}', RESTART_ONE),
    ],
    ids=["service-logs", "restart-one"],
)
def test_replicas_left_stuck_fail_the_drill(
    runbook: str, params: str, library: str | None, answering: Replicas,
    docker_daemon: DockerDaemon, prometheus: PrometheusServer, tmp_path: Path,
) -> None:  # fmt: skip
    (tmp_path / "drills.toml").write_text(_scenario(runbook=f'"{runbook}"', params=params))
    runbooks = ROOT / "runbooks.toml"
    if library is not None:
        runbooks = tmp_path / "runbooks.toml"
        runbooks.write_text(library)
    before = [state(c) for c in answering.containers]
    ran = run_drill(
        answering, docker_daemon, prometheus, tmp_path, "--drills", str(tmp_path / "drills.toml"),
        "--runbooks", str(runbooks), "--time-limit", WRONG_TIME_LIMIT,
    )  # fmt: skip
    out = ran.stdout
    assert ran.returncode == 1, out + ran.stderr
    assert f"· running runbook {runbook}" in out
    failed = next(line for line in out.splitlines() if line.startswith(f"✖ {SCENARIO}:"))
    assert "the steady state does not hold again after the runbook" in failed, out
    assert f"· fault undone: {HELD} held connections closed" in out
    after = [state(c) for c in answering.containers]
    restarted = [
        new["StartedAt"] != old["StartedAt"] for old, new in zip(before, after, strict=True)
    ]
    if runbook == "service-logs":
        assert f"{SERVICE} is DOWN" in failed, failed
        assert restarted == [False, False, False]
    else:
        assert restarted == [True, False, False]
        assert f"{SERVICE} is" not in failed, failed  # it answers its health check
        left = {f"scrape target 127.0.0.1:{port} " for port in answering.ports[1:]}
        assert any(target in failed for target in left), failed
