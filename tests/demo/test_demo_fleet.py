"""The demo fleet: real services whose metrics move under traffic and follow the faults."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from opsconsole.demo.faults import Fault
from opsconsole.demo.fleet import DemoFleet


def scrape(url: str) -> dict[str, float]:
    """Samples of a /metrics exposition, keyed like `name{label=value,...}`."""
    with urllib.request.urlopen(url + "/metrics", timeout=5) as answer:
        text = answer.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


@pytest.fixture
def fleet() -> Iterator[DemoFleet]:
    with DemoFleet(traffic_rate=20) as demo:
        yield demo


def wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_the_fleet_models_the_runbook_services(fleet: DemoFleet) -> None:
    assert {"nl-fhir", "hapi-fhir", "backend", "frontend", "nginx"} <= set(fleet.services)
    config = fleet.config()
    assert config.console.environment == "demo"
    for service in config.services:
        answer = httpx.get(service.health_url, timeout=5)
        assert answer.status_code == 200
        for probe in ("/ready", "/live"):
            assert (
                httpx.get(fleet.services[service.name].base_url + probe, timeout=5).status_code
                == 200
            )


def test_traffic_fills_the_histogram_and_the_counter(fleet: DemoFleet) -> None:
    backend = fleet.services["backend"]
    wait_for(
        lambda: (
            scrape(backend.base_url).get("http_requests_total{service=backend,status=200}", 0) >= 10
        )
    )
    samples = scrape(backend.base_url)
    assert samples["http_request_duration_seconds_count{service=backend}"] >= 10
    assert samples["http_request_duration_seconds_bucket{le=+Inf,service=backend}"] >= 10


def test_erroring_service_answers_500s_while_its_health_stays_up(fleet: DemoFleet) -> None:
    fleet.set_fault("backend", Fault.ERRORING, error_ratio=0.5)
    backend = fleet.services["backend"]
    wait_for(
        lambda: (
            scrape(backend.base_url).get("http_requests_total{service=backend,status=500}", 0) >= 5
        )
    )
    assert httpx.get(backend.health_url, timeout=5).status_code == 200


def test_slow_service_shifts_its_latency_into_the_upper_buckets(fleet: DemoFleet) -> None:
    fleet.set_fault("nginx", Fault.SLOW, slow_seconds=0.6)
    nginx = fleet.services["nginx"]
    wait_for(
        lambda: (
            scrape(nginx.base_url).get("http_request_duration_seconds_count{service=nginx}", 0)
            - scrape(nginx.base_url).get(
                "http_request_duration_seconds_bucket{le=0.5,service=nginx}", 0
            )
            >= 5
        )
    )


def test_down_closes_the_port_and_clearing_reopens_the_same_one(fleet: DemoFleet) -> None:
    frontend = fleet.services["frontend"]
    url = frontend.health_url
    fleet.set_fault("frontend", Fault.DOWN)
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)
    frontend.clear_fault()
    assert frontend.health_url == url
    assert httpx.get(url, timeout=5).status_code == 200


def test_flapping_alternates_between_answering_and_503(fleet: DemoFleet) -> None:
    fleet.set_fault("nginx", Fault.FLAPPING, flap_seconds=0.3)
    url = fleet.services["nginx"].health_url
    seen: set[int] = set()
    deadline = time.monotonic() + 5
    while seen != {200, 503} and time.monotonic() < deadline:
        seen.add(httpx.get(url, timeout=2).status_code)
        time.sleep(0.05)
    assert seen == {200, 503}
