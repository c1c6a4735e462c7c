"""The drill of external-api-rate-limit: a service's quota at an external API spent by a
burst of calls with its key, against a real rate limiter (tests/support/vendor_api.py,
which blocks a key for its window once its quota is spent, and again past a few refused
calls) and the service that calls it, each in a real container of the host image. Proven
by `opsconsole drill run --auto`, and failing when its decision is overruled to the
wrong branch: a caller that polls through the limit is kept out."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opsconsole.drills.api_faults import ApiBurst
from opsconsole.drills.fault import FaultRefused
from tests.support.commands import OPSCONSOLE, drill
from tests.support.servers import HOST_IMAGE, HOST_MOUNTS, TEST_LABEL, DockerDaemon, free_port

SUPPORT = Path(__file__).parent.parent / "support"
CALLER, API = "sandbox-caller", "sandbox-vendor-api"
WINDOW = 12
"""Seconds the API blocks a key once its quota is spent: the drill's wait."""
QUOTA = 40
INTERVAL = 1
"""Seconds between the caller's calls: 12 of its quota of 40 a window."""
PROPOSED = "Limited for less than 5 minutes: wait it out, then verify"


@pytest.fixture
def vendor(docker_daemon: DockerDaemon) -> Iterator[dict[str, Any]]:
    """The API and its caller, fresh for each drill: a key blocked by the last one stays
    blocked for a window."""
    key = f"sandbox-{secrets.token_hex(8)}"
    api_port, caller_port = free_port(), free_port()
    api_url = f"http://127.0.0.1:{api_port}/device/510k.json?api_key={key}&limit=1"
    client = docker_daemon.client()
    mounts = [*HOST_MOUNTS, f"{SUPPORT / 'vendor_api.py'}:/srv/vendor_api.py:ro"]
    roles = {
        API: (["api", "--port", str(api_port), "--quota", str(QUOTA), "--window", str(WINDOW),
               "--strikes", "4"], {}),
        CALLER: (["caller", "--port", str(caller_port), "--interval", str(INTERVAL)],
                 {"API_URL": api_url}),
    }  # fmt: skip
    started = []
    try:
        for name, (args, environment) in roles.items():
            command = ["python3", "/srv/vendor_api.py", *args]
            container = client.containers.run(
                HOST_IMAGE, command, name=name, detach=True, network_mode="host",
                volumes=mounts, environment=environment, labels={TEST_LABEL: "drills"},
            )  # fmt: skip
            started.append(container)
        health = f"http://127.0.0.1:{caller_port}/health"
        until_healthy(health)
        yield {"key": key, "api_url": api_url, "health": health, "caller": started[1]}
    finally:
        for container in started:
            container.remove(force=True)


def until_healthy(url: str, timeout: float = 20) -> None:
    """Until the caller has had a call answered."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if json.load(answer)["status"] == "ok":
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the caller was not healthy within {timeout} s")


def write_config(tmp_path: Path, docker_daemon: DockerDaemon, vendor: dict[str, Any]) -> None:
    (tmp_path / "opsconsole.toml").write_text(
        '[console]\nenvironment = "drill-sandbox"\n'
        f'[docker]\nbase_url = "{docker_daemon.base_url}"\n'
        f'[[services]]\nname = "{CALLER}"\nhealth_url = "{vendor["health"]}"\n'
        f'container = "{CALLER}"\napi_url = "{vendor["api_url"]}"\nsandbox = true\n'
    )


def run_api_drill(
    vendor: dict[str, Any], docker_daemon: DockerDaemon, tmp_path: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    write_config(tmp_path, docker_daemon, vendor)
    env = {"DOCKER_HOST": docker_daemon.base_url}  # the runbook's docker CLI
    return drill("run", "api-quota-spent", "--auto", *extra, cwd=tmp_path, env=env)


def caller_log(vendor: dict[str, Any]) -> list[str]:
    return [
        line for line in vendor["caller"].logs().decode().splitlines() if line.startswith("GET ")
    ]


def assert_key_kept_secret(vendor: dict[str, Any], ran: Any, tmp_path: Path) -> None:
    """Not in what the console said, nor in anything it wrote (the fault's record, the
    commands' output), nor in the caller's log."""
    key = vendor["key"]
    assert key not in ran.stdout + ran.stderr
    assert "api_key=***" in ran.stdout
    for written in tmp_path.rglob("*"):
        if written.is_file() and written.name != "opsconsole.toml":
            assert key not in written.read_text(errors="replace"), written
    assert all(key not in line for line in caller_log(vendor))


def test_a_spent_quota_is_waited_out_and_the_service_answered_again(
    vendor: dict[str, Any], docker_daemon: DockerDaemon, tmp_path: Path
) -> None:
    started = time.monotonic()
    ran = run_api_drill(vendor, docker_daemon, tmp_path)
    took = time.monotonic() - started
    out = ran.stdout
    assert ran.returncode == 0, out + ran.stderr
    injected = re.search(
        r"· fault injected: (\d+) calls of the drill's own to 127\.0\.0\.1:\d+/device/510k\.json "
        rf"with the key of {CALLER}: (\d+) answered, then 429 \(Retry-After: {WINDOW}\): "
        "its quota is spent", out,
    )  # fmt: skip
    assert injected, out
    # What the caller had left of its quota, and one more: refused.
    assert int(injected[2]) + 1 == int(injected[1]) <= QUOTA + 1, injected[0]
    broken = next(line for line in out.splitlines() if "steady state broken" in line)
    assert CALLER in broken, broken
    assert f"{CALLER} is DEGRADED" in broken, broken
    # The caller's own refused call, in its log (the burst's calls are not the service's).
    assert re.search(r"throttled=[1-9]\d* calls=\d+ share=\d+% \(of the calls to 127\.0\.0\.1", out)
    headers = re.search(
        r"status=429 retry_after=(\d+) remaining=0 reset_in=\d+ wait_for=(\d+)", out
    )
    assert headers, out
    wait_for = int(headers[2])
    assert 0 < wait_for <= WINDOW, headers[0]
    evidence = f"status = '429' (equals 429); wait_for = '{wait_for}' (below 300)"
    assert f"→ {PROPOSED} (as proposed: {evidence})" in out, out
    assert f"$ sleep {wait_for}" in out
    assert "✔ api-quota-spent: broken after" in out
    assert "· fault undone: nothing to take back" in out
    # The caller honoured Retry-After: refused once, then answered again.
    log = caller_log(vendor)
    refused = [n for n, line in enumerate(log) if "-> 429" in line]
    assert len(refused) == 1, log
    assert "-> 200 OK" in log[refused[0] + 1], log
    assert_key_kept_secret(vendor, ran, tmp_path)
    assert took < 40, f"the drill took {took:.1f} s"


def test_verifying_at_once_keeps_the_service_blocked(
    vendor: dict[str, Any], docker_daemon: DockerDaemon, tmp_path: Path
) -> None:
    """Slowing down (nothing the sandbox can do, its checklist ticked) and verifying at
    once: the check polls every 5 s through the limit, and the API blocks the key again
    past a few refused calls, so its caller's call at the announced reset is refused too.
    The time limit is past that reset (the window from the injection)."""
    ran = run_api_drill(
        vendor, docker_daemon, tmp_path, "--overrule", "action=3", "--time-limit", "16"
    )
    out = ran.stdout
    assert ran.returncode == 1, out + ran.stderr
    assert f"(over the proposed {PROPOSED!r}" in out, out
    assert "$ sleep" not in out
    assert "✖ api-quota-spent: runbook external-api-rate-limit did not finish" in out, out
    assert "· fault undone: nothing to take back" in out
    log = caller_log(vendor)
    refused = [line for line in log if "-> 429" in line]
    assert len(refused) >= 2, log  # at the reset it was told: blocked again
    with urllib.request.urlopen(vendor["health"], timeout=2) as answer:
        assert json.load(answer)["status"] == "degraded"
    assert_key_kept_secret(vendor, ran, tmp_path)


def test_a_drill_killed_after_its_burst_leaves_nothing_to_undo_and_no_key_on_record(
    vendor: dict[str, Any], docker_daemon: DockerDaemon, tmp_path: Path
) -> None:
    write_config(tmp_path, docker_daemon, vendor)
    console = subprocess.Popen(
        [OPSCONSOLE, "drill", "run", "api-quota-spent", "--auto"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path),
             "DOCKER_HOST": docker_daemon.base_url},
    )  # fmt: skip
    assert console.stdout is not None
    seen = []
    for line in console.stdout:
        seen.append(line)
        if "running runbook external-api-rate-limit" in line:
            break
    os.kill(console.pid, signal.SIGKILL)  # no finally, no undo: a crash
    console.wait(10)
    assert any("fault injected" in line for line in seen), "".join(seen)
    records = list(tmp_path.rglob("*.pending.json"))
    assert len(records) == 1, "".join(seen)
    record = json.loads(records[0].read_text())
    assert record["kind"] == "api_burst"
    assert record["api"].startswith("127.0.0.1:")
    assert record["api"].endswith("/device/510k.json")
    assert vendor["key"] not in records[0].read_text()

    recovered = drill("recover", cwd=tmp_path)
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert "left a fault behind, undone: nothing to take back" in recovered.stderr
    assert not list(tmp_path.rglob("*.pending.json"))


def test_a_service_without_an_api_url_is_refused_and_nothing_is_called(tmp_path: Path) -> None:
    (tmp_path / "opsconsole.toml").write_text(
        f'[[services]]\nname = "{CALLER}"\nhealth_url = "http://127.0.0.1:9/health"\n'
        "sandbox = true\n"
    )
    ran = drill("run", "api-quota-spent", "--auto", cwd=tmp_path)
    assert ran.returncode == 1
    refused = f"refused: an api_burst fault needs {CALLER}'s api_url: the API whose quota it spends"
    assert refused in ran.stdout
    assert "fault injected" not in ran.stdout
    listed = drill("list", cwd=tmp_path)
    rows = {line.split()[0]: line for line in listed.stdout.splitlines() if line.strip()}
    assert rows["api-quota-spent"].endswith(
        f"needs {CALLER}'s api_url: the API whose quota it spends"
    )


def test_a_burst_says_what_it_spent_and_a_refusal_other_than_429_is_not_a_limit() -> None:
    """The API run as a process of this test: a quota larger than the burst, then a path
    it does not serve; the record and what is said never hold the key."""
    port = free_port()
    api = subprocess.Popen(
        [sys.executable, str(SUPPORT / "vendor_api.py"), "api", "--port", str(port),
         "--quota", "5"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert api.stdout is not None
        assert "serving" in api.stdout.readline()
        url = f"http://127.0.0.1:{port}/device/510k.json?api_key=k3y-of-the-test&limit=1"
        burst = ApiBurst(url, CALLER, 3)
        assert burst.record() == {"kind": "api_burst", "api": f"127.0.0.1:{port}/device/510k.json"}
        said = burst.inject()
        assert said == (
            f"3 calls of the drill's own to 127.0.0.1:{port}/device/510k.json with the key of "
            f"{CALLER}, all answered: its quota is not spent (a larger count?)"
        )
        spent = ApiBurst(url, CALLER, 10).inject()
        assert spent.startswith("3 calls of the drill's own"), spent  # 2 left, then refused
        assert spent.endswith(": 2 answered, then 429 (Retry-After: 12): its quota is spent")
        with pytest.raises(FaultRefused, match="the last answered 404, not 429"):
            ApiBurst(url.replace("/device/", "/nothing/"), CALLER, 3).inject()
        with pytest.raises(FaultRefused, match=r"needs an http\(s\) api_url"):
            ApiBurst("ftp://127.0.0.1/x?api_key=k3y-of-the-test", CALLER, 3).inject()
        assert "k3y" not in said + spent + burst.undo()
    finally:
        api.terminate()
        api.wait(5)
