"""The shipped `external-api-rate-limit` runbook against a real HTTP server on loopback
that throttles (429 with its limit headers) and the harness's real Docker (the service's
own logs): the share of refused calls, the proposal from the API's headers, the wait and
the verification."""

from __future__ import annotations

import os
import pty
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.commands import OPSCONSOLE
from tests.support.servers import BUSYBOX_IMAGE, TEST_LABEL, DockerDaemon

ROOT = Path(__file__).parent.parent.parent
SERVICE = "fdaclient"


class ThrottlingApi:
    """An API that answers 429 with `headers` for `seconds` from its first request, then
    200; it keeps when each request came and what it answered."""

    def __init__(self, seconds: float, headers: dict[str, str]) -> None:
        self.seconds = seconds
        self.headers = headers
        self.first: float | None = None
        self.answered: list[tuple[float, int]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                now = time.monotonic()
                api.first = api.first or now
                throttled = now - api.first < api.seconds
                status = 429 if throttled else 200
                api.answered.append((now, status))
                self.send_response(status)
                for name, value in (api.headers if throttled else {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/device/510k.json?limit=1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def service_logs(docker_daemon: DockerDaemon) -> Iterator[None]:
    """A container of the calling service that logged 3 refused calls to the API's host
    out of 4, and a line of its own that names no call."""
    lines = [
        "GET http://127.0.0.1/device/510k.json -> 429 Too Many Requests",
        "GET http://127.0.0.1/device/510k.json -> 200 OK",
        "GET http://127.0.0.1/device/510k.json -> 429 Too Many Requests",
        "GET http://127.0.0.1/device/510k.json -> 429 Too Many Requests",
        "INFO started worker",
    ]
    script = "; ".join(f"echo '{line}'" for line in lines) + "; sleep 300"
    container = docker_daemon.client().containers.create(
        BUSYBOX_IMAGE, ["sh", "-c", script], name=f"opsconsole-test-{SERVICE}-1",
        labels={TEST_LABEL: "rate-limit", "com.docker.compose.service": SERVICE},
        network_mode="none",
    )  # fmt: skip
    container.start()
    try:
        yield
    finally:
        container.remove(force=True)


@pytest.fixture
def busy_service_logs(docker_daemon: DockerDaemon) -> Iterator[None]:
    """A container of the calling service that logged 1,000 answered calls and one
    refused: about 7 in 1,000 of docker's timestamps hold a 429 in their nanoseconds."""
    answered = "GET http://127.0.0.1/device/510k.json -> 200 OK"
    refused = "GET http://127.0.0.1/device/510k.json -> 429 Too Many Requests"
    script = f"for i in $(seq 1000); do echo '{answered}'; done; echo '{refused}'; sleep 300"
    container = docker_daemon.client().containers.create(
        BUSYBOX_IMAGE, ["sh", "-c", script], name=f"opsconsole-test-{SERVICE}-1",
        labels={TEST_LABEL: "rate-limit", "com.docker.compose.service": SERVICE},
        network_mode="none",
    )  # fmt: skip
    container.start()
    try:
        yield
    finally:
        container.remove(force=True)


def run_typing(
    tmp_path: Path, docker_daemon: DockerDaemon, api: ThrottlingApi, typed: str
) -> subprocess.CompletedProcess[str]:
    """`opsconsole run external-api-rate-limit` with a terminal as its standard input (a
    decision needs a person), the operator's lines typed ahead into it."""
    passed = {name: os.environ[name] for name in ("PYTHONPATH",) if name in os.environ}
    keyboard, terminal = pty.openpty()
    try:
        os.write(keyboard, typed.encode())
        return subprocess.run(
            [OPSCONSOLE, "run", "external-api-rate-limit", "--runbooks",
             str(ROOT / "runbooks.toml"), "--param", f"service={SERVICE}",
             "--param", f"api_url={api.url}", "--param", "since=10m"],
            cwd=tmp_path, stdin=terminal, capture_output=True, text=True, timeout=120,
            env={"PATH": os.environ["PATH"], "HOME": str(tmp_path),
                 "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
                 "XDG_STATE_HOME": str(tmp_path / "state"),
                 "DOCKER_HOST": docker_daemon.base_url, **passed},
        )  # fmt: skip
    finally:
        os.close(keyboard)
        os.close(terminal)


def test_a_short_retry_after_is_waited_out_and_the_api_answers_again(
    docker_daemon: DockerDaemon, service_logs: Any, tmp_path: Path
) -> None:
    # It says 2 s, and refuses for 4: the verifying check waits for it.
    api = ThrottlingApi(4.0, {"Retry-After": "2", "X-RateLimit-Remaining": "0"})
    try:
        ran = run_typing(tmp_path, docker_daemon, api, "\nwaited it out\n")
    finally:
        api.close()
    out = ran.stdout
    assert ran.returncode == 0, out + ran.stderr
    assert "throttled=3 calls=4 share=75% (of the calls to 127.0.0.1 since 10m)" in out
    assert "status=429 retry_after=2 remaining=0 reset_in=none wait_for=2" in out
    assert "2. Limited for less than 5 minutes: wait it out, then verify  <- proposed" in out
    assert "proposed from status = '429' (equals 429); wait_for = '2' (below 300)" in out
    assert "$ sleep 2" in out
    # The API's side: the headers asked, 2 s waited, then tried until it answered 200.
    statuses = [status for _, status in api.answered]
    assert statuses[0] == 429, api.answered
    assert statuses[-1] == 200, api.answered
    assert 429 in statuses[1:-1], api.answered  # the first try after the wait: still refused
    assert api.answered[1][0] - api.answered[0][0] >= 2.0
    assert "== external-api-rate-limit: completed" in out


def test_a_quota_spent_until_a_reset_far_away_proposes_slowing_down(
    docker_daemon: DockerDaemon, service_logs: Any, tmp_path: Path
) -> None:
    """No Retry-After: the reset (an epoch time, as GitHub's) an hour away, nothing left."""
    reset = str(int(time.time()) + 3600)
    api = ThrottlingApi(600.0, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})
    try:
        ran = run_typing(tmp_path, docker_daemon, api, "stop\n")
    finally:
        api.close()
    out = ran.stdout
    assert ran.returncode == 3, out + ran.stderr
    assert "status=429 retry_after=none remaining=0 reset_in=" in out
    assert (
        "3. Limited for longer: slow the service's calls down (backoff, cache) and contact the "
        "vendor  <- proposed" in out
    ), out
    assert "(above 299)" in out
    assert "sleep" not in out
    assert len(api.answered) == 1  # nothing waited, nothing asked again


def test_refused_calls_are_counted_in_the_lines_not_their_timestamps(
    docker_daemon: DockerDaemon, busy_service_logs: Any, tmp_path: Path
) -> None:
    reset = str(int(time.time()) + 3600)
    api = ThrottlingApi(600.0, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})
    try:
        ran = run_typing(tmp_path, docker_daemon, api, "stop\n")
    finally:
        api.close()
    assert ran.returncode == 3, ran.stdout + ran.stderr
    assert "throttled=1 calls=1001 share=0% (of the calls to 127.0.0.1 since 10m)" in ran.stdout
