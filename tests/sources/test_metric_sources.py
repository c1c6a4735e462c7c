"""P95, request rate and error rate from a real Prometheus and from direct scrapes of the
same app, against the truth the app was built to have."""

from __future__ import annotations

import asyncio
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest

from opsconsole.config.model import PrometheusSection
from opsconsole.sources.base import read
from opsconsole.sources.metrics import MetricsReading, histogram_quantile
from opsconsole.sources.prometheus import PrometheusSource
from opsconsole.sources.scrape import ScrapeSource, ScrapeTarget
from tests.support.known_app import (
    REQUESTS_PER_SECOND,
    TRUE_ERROR_RATE,
    TRUE_P95,
    KnownTrafficApp,
)
from tests.support.servers import PrometheusServer, QuietHandler, free_port, http_server


@pytest.fixture(scope="module")
def known_app() -> Iterator[KnownTrafficApp]:
    app = KnownTrafficApp().start()
    yield app
    app.stop()


def prometheus_source(server: PrometheusServer, window: str = "10s") -> PrometheusSource:
    return PrometheusSource(PrometheusSection(url=server.url, window=window))


async def poll_until(
    source: PrometheusSource, ready: object, seconds: float = 40
) -> MetricsReading:
    deadline = time.monotonic() + seconds
    while True:
        reading = await source.poll()
        if ready(reading) or time.monotonic() > deadline:  # type: ignore[operator]
            return reading
        await asyncio.sleep(0.5)


def close_to(value: float | None, truth: float, tolerance: float) -> bool:
    return value is not None and abs(value - truth) <= tolerance * truth


async def test_prometheus_p95_error_rate_and_request_rate_match_the_truth(
    prometheus: PrometheusServer, known_app: KnownTrafficApp
) -> None:
    prometheus.scrape(f"127.0.0.1:{known_app.port}")
    source = prometheus_source(prometheus)
    try:
        # The 10 s window must be full of scrapes before rate() means what it says.
        reading = await poll_until(
            source,
            lambda r: (
                "known" in r.metrics
                and close_to(r.metrics["known"].request_rate, REQUESTS_PER_SECOND, 0.1)
            ),
        )
        await asyncio.sleep(6)
        known = (await source.poll()).metrics["known"]
    finally:
        await source.aclose()
    assert "known" in reading.metrics
    assert close_to(known.p95_seconds, TRUE_P95, 0.05), known
    assert close_to(known.error_rate, TRUE_ERROR_RATE, 0.2), known
    assert close_to(known.request_rate, REQUESTS_PER_SECOND, 0.1), known


async def test_firing_alerts_come_with_their_labels(
    prometheus: PrometheusServer, known_app: KnownTrafficApp
) -> None:
    prometheus.scrape(f"127.0.0.1:{known_app.port}")
    source = prometheus_source(prometheus)
    try:
        reading = await poll_until(
            source, lambda r: any(a.state == "firing" for a in r.alerts or []), seconds=40
        )
    finally:
        await source.aclose()
    (alert,) = [a for a in reading.alerts or [] if a.name == "HighErrorRate"]
    assert alert.state == "firing"
    assert alert.severity == "page"
    assert alert.summary == "Error rate above 1 %"
    assert alert.labels["service"] == "known"


async def test_direct_scrape_matches_the_truth_and_prometheus(
    prometheus: PrometheusServer, known_app: KnownTrafficApp
) -> None:
    scrape = ScrapeSource([ScrapeTarget("known", known_app.metrics_url)], window=10)
    prometheus.scrape(f"127.0.0.1:{known_app.port}")
    source = prometheus_source(prometheus)
    try:
        for _ in range(12):  # fill the 10 s window, one scrape a second
            direct = await scrape.poll()
            await asyncio.sleep(1)
        direct = await scrape.poll()
        from_prometheus = (await source.poll()).metrics["known"]
    finally:
        await scrape.aclose()
        await source.aclose()
    mine = direct.metrics["known"]
    assert close_to(mine.p95_seconds, TRUE_P95, 0.05), mine
    assert close_to(mine.error_rate, TRUE_ERROR_RATE, 0.2), mine
    assert close_to(mine.request_rate, REQUESTS_PER_SECOND, 0.1), mine
    # The two ways agree within 5 % on the same data.
    assert close_to(mine.p95_seconds, from_prometheus.p95_seconds or 0, 0.05)
    assert close_to(mine.request_rate, from_prometheus.request_rate, 0.05)


async def test_unreachable_prometheus_is_a_reading_with_the_reason() -> None:
    source = PrometheusSource(PrometheusSection(url=f"http://127.0.0.1:{free_port()}"))
    try:
        reading = await read(source.poll, seconds=5)
    finally:
        await source.aclose()
    assert reading.value is None
    assert reading.error == "connection refused"


async def test_a_failed_scrape_names_its_reason_and_spares_the_others(
    known_app: KnownTrafficApp,
) -> None:
    scrape = ScrapeSource(
        [
            ScrapeTarget("known", known_app.metrics_url),
            ScrapeTarget("gone", f"http://127.0.0.1:{free_port()}/metrics"),
        ]
    )
    try:
        await scrape.poll()
        await asyncio.sleep(1.1)
        result = await scrape.poll()
    finally:
        await scrape.aclose()
    assert result.errors == {"gone": "connection refused"}
    assert set(result.metrics) == {"known"}


@pytest.fixture
def forward_proxy() -> Iterator[tuple[str, list[str]]]:
    """A plain HTTP forward proxy that records what it carries, as a bastion's would."""
    carried: list[str] = []
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            carried.append(urllib.parse.urlsplit(self.path).path)
            with direct.open(self.path, timeout=10) as answer:
                body = answer.read()
                self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with http_server(Handler) as base:
        yield base, carried


async def test_prometheus_is_reached_through_the_proxy_the_environment_names(
    prometheus: PrometheusServer,
    known_app: KnownTrafficApp,
    forward_proxy: tuple[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The environment is read once, when the source starts (not at every request, which
    cost a quarter of each poll): changing it afterwards changes nothing until a restart."""
    proxy_url, carried = forward_proxy
    prometheus.scrape(f"127.0.0.1:{known_app.port}")
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", proxy_url)
    source = prometheus_source(prometheus)
    monkeypatch.delenv("http_proxy")
    try:
        reading = await poll_until(source, lambda r: "known" in r.metrics)
    finally:
        await source.aclose()
    assert "known" in reading.metrics
    assert carried.count("/api/v1/query") >= 3, carried
    assert "/api/v1/alerts" in carried, carried


async def test_a_scrape_answered_with_a_redirect_or_an_error_says_its_status() -> None:
    class Handler(QuietHandler):
        def do_GET(self) -> None:
            if self.path == "/moved":
                self.send_response(302)  # a login page, say: not an exposition
                self.send_header("Location", "/login")
            else:
                self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    with http_server(Handler) as base:
        scrape = ScrapeSource([ScrapeTarget("moved", base + "/moved"), ScrapeTarget("gone", base)])
        try:
            result = await scrape.poll()
        finally:
            await scrape.aclose()
    assert result.errors == {"moved": "HTTP 302 Found", "gone": "HTTP 404 Not Found"}


@pytest.mark.parametrize(
    ("buckets", "expected"),
    [
        # Uniform in the 0.9-1.0 bucket: exact.
        ([(0.9, 90), (1.0, 100), (float("inf"), 100)], 0.95),
        # The rank in the +Inf bucket: the highest finite bound, as PromQL answers.
        ([(0.5, 10), (1.0, 20), (float("inf"), 100)], 1.0),
        # First bucket: interpolated from 0.
        ([(0.2, 100), (float("inf"), 100)], 0.19),
        # No requests, no +Inf bucket: no answer rather than a made-up one.
        ([(0.5, 0), (float("inf"), 0)], None),
        ([(0.5, 10), (1.0, 20)], None),
    ],
)
def test_histogram_quantile_follows_promql(
    buckets: list[tuple[float, float]], expected: float | None
) -> None:
    result = histogram_quantile(0.95, buckets)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)
