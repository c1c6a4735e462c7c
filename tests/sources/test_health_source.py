"""Health checks against real HTTP servers on loopback: demo services and raw sockets."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import subprocess
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from opsconsole.demo.faults import Fault
from opsconsole.demo.service import DemoService
from opsconsole.sources.health import BODY_SHOWN_CHARS, HealthChecker, HealthTarget, judge
from opsconsole.sources.readings import HealthState
from tests.support.servers import QuietHandler, http_server


@pytest.fixture
def service() -> Iterator[DemoService]:
    demo = DemoService("api")
    demo.start()
    yield demo
    demo.stop()


@pytest.fixture
async def checker() -> AsyncIterator[HealthChecker]:
    health = HealthChecker([])
    yield health
    await health.aclose()


def target(url: str, timeout: float = 2.0, slow_after: float = 1.0) -> HealthTarget:
    return HealthTarget("api", url, timeout=timeout, slow_after=slow_after)


async def test_a_healthy_service_is_up_with_status_and_latency(
    service: DemoService, checker: HealthChecker
) -> None:
    check = await checker.check(target(service.health_url))
    assert check.state is HealthState.UP
    assert check.status_code == 200
    assert check.reason == ""
    assert check.latency is not None
    assert 0 < check.latency < 2.0


async def test_down_service_shows_connection_refused_then_recovers(
    service: DemoService, checker: HealthChecker
) -> None:
    service.set_fault(Fault.DOWN)
    down = await checker.check(target(service.health_url))
    assert (down.state, down.reason, down.status_code) == (
        HealthState.DOWN,
        "connection refused",
        None,
    )
    service.clear_fault()
    assert (await checker.check(target(service.health_url))).state is HealthState.UP


async def test_a_connection_kept_from_before_does_not_hide_a_service_going_down(
    service: DemoService, checker: HealthChecker
) -> None:
    assert (await checker.check(target(service.health_url))).state is HealthState.UP
    service.set_fault(Fault.DOWN)
    down = await checker.check(target(service.health_url))
    assert (down.state, down.reason) == (HealthState.DOWN, "connection refused")
    service.clear_fault()
    assert (await checker.check(target(service.health_url))).state is HealthState.UP


@contextlib.contextmanager
def socket_server(handle: Callable[[socket.socket], None]) -> Iterator[int]:
    """A loopback listener whose every connection goes to `handle`, then is closed.
    Yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection, contextlib.suppress(OSError):
                handle(connection)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


@contextlib.contextmanager
def raw_server(answer: bytes) -> Iterator[tuple[str, list[int]]]:
    """A socket that sends `answer` to each connection's first bytes, then hangs up.
    Yields its URL and the count of connections it has accepted."""
    accepted = [0]

    def answer_once(connection: socket.socket) -> None:
        accepted[0] += 1
        connection.recv(4096)
        connection.sendall(answer)

    with socket_server(answer_once) as port:
        yield f"http://127.0.0.1:{port}/health", accepted


@pytest.fixture
def hang_up_server() -> Iterator[tuple[str, list[int]]]:
    """Says keep-alive, then closes every connection right after its answer: a server whose
    keep-alive timeout runs out between two checks does the same, only later."""
    body = b'{"status": "ok"}'
    with raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Connection: keep-alive\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    ) as served:
        yield served


async def test_a_server_closing_its_kept_connections_is_never_shown_down(
    hang_up_server: tuple[str, list[int]], checker: HealthChecker
) -> None:
    url, accepted = hang_up_server
    checks = []
    for _ in range(10):
        checks.append(await checker.check(target(url)))
        # At once: the hang-up may arrive before the next check or while it is sent.
        await asyncio.sleep(0)
    assert [c.state for c in checks] == [HealthState.UP] * 10
    assert accepted[0] >= 10  # each check really found its connection closed


async def test_a_cookie_one_answer_sets_is_not_sent_with_the_next_check(
    checker: HealthChecker,
) -> None:
    """A load balancer's stickiness cookie (AWSALB, say) would pin every later check to one
    instance behind it: each check must reach the service as a new client does."""
    cookies_sent: list[str | None] = []

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            cookies_sent.append(self.headers.get("Cookie"))
            self.send_response(200)
            self.send_header("Set-Cookie", "AWSALB=instance-1; Path=/")
            self.send_header("Content-Length", "0")
            self.end_headers()

    with http_server(Handler) as base:
        url = base.replace("127.0.0.1", "localhost") + "/health"  # no cookies for an IP
        checks = [await checker.check(target(url)) for _ in range(3)]
    assert [c.state for c in checks] == [HealthState.UP] * 3
    assert cookies_sent == [None, None, None]


@pytest.fixture
def endless_server() -> Iterator[str]:
    """Answers 200 with a body that never ends: a misrouted stream endpoint."""

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            with contextlib.suppress(OSError):
                while True:
                    self.wfile.write(b"x" * 8192)

    with http_server(Handler) as base:
        yield base + "/health"


async def test_an_endless_answer_is_down_cut_short_and_the_next_check_still_works(
    endless_server: str, checker: HealthChecker
) -> None:
    """It read `✔ UP HTTP 200`, against the checker's own rule: a server that streams
    more than a health document is not answering its health check."""
    for _ in range(2):
        check = await checker.check(target(endless_server))
        assert (check.state, check.status_code) == (HealthState.DOWN, 200)
        assert check.reason == "HTTP 200, but the answer goes on past 64 KiB"
        assert check.body == "x" * BODY_SHOWN_CHARS


async def test_a_service_that_does_not_answer_in_time_is_down_with_the_timeout(
    service: DemoService, checker: HealthChecker
) -> None:
    service.set_fault(Fault.SLOW, slow_seconds=2.0)
    check = await checker.check(target(service.health_url, timeout=0.3))
    assert (check.state, check.reason) == (HealthState.DOWN, "timeout after 0.3 s")


async def test_a_slow_answer_is_degraded_and_says_how_slow(
    service: DemoService, checker: HealthChecker
) -> None:
    service.set_fault(Fault.SLOW, slow_seconds=0.3)
    check = await checker.check(target(service.health_url, timeout=5, slow_after=0.1))
    assert check.state is HealthState.DEGRADED
    assert check.reason.startswith("slow: ")
    assert check.reason.endswith(" > 0.1 s")


async def test_http_503_is_down_with_the_status(
    service: DemoService, checker: HealthChecker
) -> None:
    service.set_fault(Fault.FLAPPING, flap_seconds=60)  # the first minute is the down half
    check = await checker.check(target(service.health_url))
    assert (check.state, check.status_code) == (HealthState.DOWN, 503)
    assert check.reason == "HTTP 503 Service Unavailable"


async def test_a_body_that_reports_degraded_is_degraded(
    service: DemoService, checker: HealthChecker
) -> None:
    service.set_fault(Fault.DEGRADED)
    check = await checker.check(target(service.health_url))
    assert (check.state, check.reason, check.status_code) == (
        HealthState.DEGRADED,
        "reports degraded",
        200,
    )


@pytest.mark.parametrize(
    ("body", "state", "reason"),
    [
        (b'{"status": "UP"}', HealthState.UP, ""),  # Spring Boot actuator
        (b'{"status": "OUT_OF_SERVICE"}', HealthState.DOWN, "reports out_of_service"),
        (b'{"status": "warn"}', HealthState.DEGRADED, "reports warn"),  # RFC health+json
        (b'{"health": "unhealthy"}', HealthState.DOWN, "reports unhealthy"),
        (b"OK", HealthState.UP, ""),
        (b"{not json", HealthState.UP, ""),  # the 200 is what counts
    ],
)
def test_what_a_body_reports(body: bytes, state: HealthState, reason: str) -> None:
    content_type = "application/json" if body.startswith(b"{") else "text/plain"
    assert judge(200, body, content_type) == (state, reason)


async def test_an_unknown_host_is_down_and_says_so(checker: HealthChecker) -> None:
    check = await checker.check(target("http://no-such-host.invalid/health"))
    assert (check.state, check.reason) == (HealthState.DOWN, "host name not found")


@pytest.fixture
def self_signed_server(tmp_path: Path) -> Iterator[str]:
    """HTTPS with a certificate no one vouches for: a real TLS handshake that fails."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def handshake(connection: socket.socket) -> None:
        with context.wrap_socket(connection, server_side=True):
            pass

    with socket_server(handshake) as port:
        yield f"https://127.0.0.1:{port}/health"


async def test_an_untrusted_certificate_is_down_and_says_so(
    self_signed_server: str, checker: HealthChecker
) -> None:
    check = await checker.check(target(self_signed_server))
    assert (check.state, check.reason) == (
        HealthState.DOWN,
        "TLS certificate not trusted: self-signed certificate",
    )


@pytest.fixture
def garbage_server() -> Iterator[str]:
    """Answers every connection with bytes that are not HTTP: what no real server shows
    on purpose, but a port taken by some other program does."""
    with raw_server(b"SSH-2.0-OpenSSH_9.2\r\n\x00\xff garbage\r\n\r\n") as (url, _):
        yield url


async def test_garbage_on_the_port_is_down_not_a_crash(
    garbage_server: str, checker: HealthChecker
) -> None:
    check = await checker.check(target(garbage_server))
    assert check.state is HealthState.DOWN
    assert check.reason.startswith("bad HTTP answer")


@pytest.fixture
def rendezvous_servers() -> Iterator[list[str]]:
    """Servers whose health answers only once all of them are being asked at the same time."""
    count = 4
    barrier = threading.Barrier(count, timeout=3)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            try:
                barrier.wait()
                self.send_response(200)
            except threading.BrokenBarrierError:
                self.send_response(504)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Handler) for _ in range(count)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield [f"http://127.0.0.1:{s.server_address[1]}/health" for s in servers]
    for server in servers:
        server.shutdown()
        server.server_close()


async def test_all_services_are_checked_concurrently(rendezvous_servers: list[str]) -> None:
    targets = [HealthTarget(f"s{n}", url, 5, 5) for n, url in enumerate(rendezvous_servers)]
    checker = HealthChecker(targets)
    try:
        checks = await checker.check_all()
    finally:
        await checker.aclose()
    # Asked one after another, the first would wait at the barrier alone and get 504.
    assert [c.status_code for c in checks] == [200, 200, 200, 200]
    assert [c.name for c in checks] == ["s0", "s1", "s2", "s3"]


async def test_one_hanging_service_does_not_hold_up_the_others(service: DemoService) -> None:
    hanging = socket.socket()
    hanging.bind(("127.0.0.1", 0))
    hanging.listen()  # accepts, never answers
    checker = HealthChecker(
        [
            HealthTarget("hangs", f"http://127.0.0.1:{hanging.getsockname()[1]}/", 0.5, 0.5),
            HealthTarget("fine", service.health_url, 5.0, 5.0),
        ]
    )
    try:
        hangs, fine = await asyncio.wait_for(checker.check_all(), timeout=10)
    finally:
        await checker.aclose()
        hanging.close()
    assert (hangs.state, hangs.reason) == (HealthState.DOWN, "timeout after 0.5 s")
    assert fine.state is HealthState.UP
