"""Apps instrumented in the four conventions seen in the wild, read through a real
Prometheus and by direct scrapes: each figure matches the truth the app was built to
have, and with a wrong label or name the figure is absent and the reason names the fix,
never a 0 (a Go-style `code` counter read as `status` showed 0.00 % for a service at 20 %).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from opsconsole.config.model import Config
from opsconsole.engine.probes import ConfiguredProbes
from opsconsole.engine.render import check_target, expectation_failure, resolve_params
from opsconsole.monitoring.monitor import Monitor
from opsconsole.monitoring.offers import service_params
from opsconsole.runbooks.model import CheckStep, load_runbooks, shipped_runbooks
from opsconsole.sources.metrics import MetricsReading
from tests.support.commands import run
from tests.support.known_app import (
    REQUESTS_PER_SECOND,
    TRUE_ERROR_RATE,
    TRUE_P95,
    KnownTrafficApp,
)
from tests.support.servers import PrometheusServer

CONVENTIONS = {
    "std": {},
    "gostyle": {"status_label": "code"},
    "grouped": {"grouped": True},
    "fhir": {"histogram": "nl_fhir_request_duration_seconds", "counter": "nl_fhir_requests_total"},
}
# What each service sets so that the console reads it right.
RIGHT = {
    "std": {},
    "gostyle": {"status_label": "code"},
    "grouped": {},
    "fhir": {"latency_histogram": "nl_fhir_request_duration_seconds",
             "requests_total": "nl_fhir_requests_total"},
}  # fmt: skip


@pytest.fixture(scope="module")
def apps() -> Iterator[dict[str, KnownTrafficApp]]:
    started = {
        name: KnownTrafficApp(name, **how).start()  # type: ignore[arg-type]
        for name, how in CONVENTIONS.items()
    }
    yield started
    for app in started.values():
        app.stop()


def services(
    apps: dict[str, KnownTrafficApp], **extra: Mapping[str, object]
) -> list[dict[str, object]]:
    found: list[dict[str, object]] = [
        {"name": name, "health_url": f"http://127.0.0.1:{app.port}/metrics", **RIGHT[name]}
        for name, app in apps.items()
    ]
    return found + [{"name": name, "health_url": "http://127.0.0.1:9/health", **how}
                    for name, how in extra.items()]  # fmt: skip


def through_prometheus(server: PrometheusServer, apps: dict[str, KnownTrafficApp],
                       **extra: Mapping[str, object]) -> Config:  # fmt: skip
    server.scrape(*(f"127.0.0.1:{app.port}" for app in apps.values()))
    return Config.model_validate(
        {"prometheus": {"url": server.url, "window": "10s"}, "services": services(apps, **extra)}
    )


async def poll_until(
    config: Config, ready: Callable[[MetricsReading], bool], seconds: float = 40
) -> MetricsReading:
    source = Monitor(config).metrics
    assert source is not None
    deadline = time.monotonic() + seconds
    try:
        while True:
            reading = await source.poll()
            if ready(reading) or time.monotonic() > deadline:
                return reading
            await asyncio.sleep(1)
    finally:
        await source.aclose()


def close_to(value: float | None, truth: float, tolerance: float) -> bool:
    return value is not None and abs(value - truth) <= tolerance * truth


def settled(reading: MetricsReading, *names: str) -> bool:
    """Each service's window full of scrapes (its request rate the truth's): before that,
    rate() extrapolates from the few samples there are."""
    return all(
        name in reading.metrics
        and close_to(reading.metrics[name].request_rate, REQUESTS_PER_SECOND, 0.1)
        and close_to(reading.metrics[name].error_rate, TRUE_ERROR_RATE, 0.2)
        for name in names
    )


async def test_every_convention_reads_the_truth_through_prometheus(
    prometheus: PrometheusServer, apps: dict[str, KnownTrafficApp]
) -> None:
    config = through_prometheus(prometheus, apps)
    reading = await poll_until(config, lambda r: settled(r, *CONVENTIONS))
    for name in CONVENTIONS:
        figures = reading.metrics[name]
        assert close_to(figures.p95_seconds, TRUE_P95, 0.05), (name, figures)
        assert close_to(figures.error_rate, TRUE_ERROR_RATE, 0.2), (name, figures)
    assert reading.errors == {}


async def test_a_wrong_label_or_name_is_no_figure_and_its_reason_names_the_fix(
    prometheus: PrometheusServer, apps: dict[str, KnownTrafficApp]
) -> None:
    prometheus.scrape(*(f"127.0.0.1:{app.port}" for app in apps.values()))
    wrong = [
        # The Go-style app read with the default `status`.
        {"name": "checkout", "prometheus_label": "gostyle"},
        {"name": "search", "prometheus_label": "std",
         "latency_histogram": "http_request_duration_secondz"},
        {"name": "nosuchsvc"},
    ]  # fmt: skip
    config = Config.model_validate(
        {"prometheus": {"url": prometheus.url, "window": "10s"},
         "services": [{"health_url": "http://127.0.0.1:9/health", **each} for each in wrong]}
    )  # fmt: skip
    reading = await poll_until(
        config, lambda r: "std" in r.metrics and r.metrics["std"].error_rate is not None
    )
    # Errors and figures are keyed by the service label value, as Prometheus knows them.
    assert reading.errors["gostyle"] == (
        "http_requests_total has no label 'status'; its labels are code, instance, job, "
        'service: set status_label = "code"'
    )
    assert reading.metrics["gostyle"].error_rate is None  # never 0 %
    assert close_to(reading.metrics["gostyle"].p95_seconds, TRUE_P95, 0.05)
    assert reading.errors["std"] == (
        "no series named http_request_duration_secondz_bucket; "
        "did you mean http_request_duration_seconds_bucket?"
    )
    assert reading.metrics["std"].p95_seconds is None
    assert close_to(reading.metrics["std"].error_rate, TRUE_ERROR_RATE, 0.2)
    said = reading.errors["nosuchsvc"]
    assert said.startswith("service='nosuchsvc' not found in http_requests_total; known: ")
    assert "std" in said
    assert "nosuchsvc" not in reading.metrics  # no figure at all, not a row of zeros


async def test_status_exits_1_with_the_reason_where_a_figure_cannot_be_computed(
    prometheus: PrometheusServer, apps: dict[str, KnownTrafficApp], tmp_path: Path
) -> None:
    config = through_prometheus(prometheus, apps)
    await poll_until(config, lambda r: settled(r, "gostyle"))
    (tmp_path / "c.toml").write_text(
        f'[prometheus]\nurl = "{prometheus.url}"\nwindow = "10s"\n\n'
        f'[[services]]\nname = "checkout"\nprometheus_label = "gostyle"\n'
        f'health_url = "http://127.0.0.1:{apps["gostyle"].port}/metrics"\n'
    )
    done = run("status", "--json", "--config", "c.toml", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    document = json.loads(done.stdout)
    (service,) = document["services"]
    assert service["health"]["state"] == "UP"
    assert service["error_rate"] is None  # 0.0 before: a service at 2 % read as 0 %
    assert service["metrics_error"].endswith('set status_label = "code"')
    assert {"subject": "checkout", "signal": "metrics", "value": service["metrics_error"],
            "threshold": None} in document["breaches"]  # fmt: skip
    table = run("status", "--config", "c.toml", cwd=tmp_path)
    assert table.returncode == 1
    assert "breach     checkout metrics: http_requests_total has no label 'status'" in table.stdout


async def test_a_direct_scrape_says_the_same_of_its_own_exposition(
    apps: dict[str, KnownTrafficApp],
) -> None:
    config = Config.model_validate(
        {"services": [
            {"name": "gostyle", "health_url": "http://127.0.0.1:9/health",
             "metrics_url": apps["gostyle"].metrics_url},
            {"name": "fhir", "health_url": "http://127.0.0.1:9/health",
             "metrics_url": apps["fhir"].metrics_url, **RIGHT["fhir"]},
            {"name": "fhir-default", "health_url": "http://127.0.0.1:9/health",
             "metrics_url": apps["fhir"].metrics_url},
        ]}
    )  # fmt: skip
    reading = await poll_until(config, lambda r: "fhir" in r.metrics and "gostyle" in r.metrics)
    assert reading.errors["gostyle"] == (
        "http_requests_total has no label 'status'; its labels are code, service: "
        'set status_label = "code"'
    )
    assert reading.metrics["gostyle"].error_rate is None
    assert reading.metrics["gostyle"].p95_seconds is not None
    assert "fhir" not in reading.errors
    assert reading.metrics["fhir"].p95_seconds is not None
    assert reading.errors["fhir-default"] == (
        "no series named http_requests_total; did you mean nl_fhir_requests_total?; "
        "no series named http_request_duration_seconds_bucket; "
        "did you mean nl_fhir_request_duration_seconds_bucket?"
    )
    assert "fhir-default" not in reading.metrics


async def test_direct_scrapes_of_every_convention_read_the_truth(
    apps: dict[str, KnownTrafficApp],
) -> None:
    """The grouped statuses (`2xx`, `5xx`) too: a scrape counts a status that starts with 5
    as a 5xx, as the PromQL checks' `=~"5.."` does."""
    config = Config.model_validate(
        {"services": [
            {"name": name, "health_url": "http://127.0.0.1:9/health",
             "metrics_url": app.metrics_url, **RIGHT[name]}
            for name, app in apps.items()
        ]}
    )  # fmt: skip
    # A scrape's window is 60 s: its rate is read over the two scrapes it has, a second
    # apart, of an app that records 100 requests (2 of them 500) a second.
    reading = await poll_until(config, lambda r: settled(r, *CONVENTIONS))
    assert reading.errors == {}
    for name in CONVENTIONS:
        figures = reading.metrics[name]
        assert close_to(figures.error_rate, TRUE_ERROR_RATE, 0.2), (name, figures)
        assert close_to(figures.p95_seconds, TRUE_P95, 0.05), (name, figures)


# -- the runbooks' checks ask for what the dashboard shows -----------------------------------


async def test_high_error_rate_verifies_a_fix_on_a_service_with_its_own_names(
    prometheus: PrometheusServer, apps: dict[str, KnownTrafficApp]
) -> None:
    """The NL-FHIR seed exports nl_fhir_*: with http_requests_total hard-coded in the
    runbook, its verifying check got no data and escalated even when the fix worked."""
    how = CONVENTIONS["fhir"]
    fixed = KnownTrafficApp("fhir-fixed", failing=(), **how).start()  # type: ignore[arg-type]
    try:
        prometheus.scrape(*(f"127.0.0.1:{app.port}" for app in [*apps.values(), fixed]))
        config = Config.model_validate(
            {"prometheus": {"url": prometheus.url, "window": "10s"},
             "services": [{"name": name, "health_url": "http://127.0.0.1:9/health",
                           "container": name,  # the runbook is offered for one that has one
                           **RIGHT["fhir"]} for name in ("fhir", "fhir-fixed")]}
        )  # fmt: skip
        await poll_until(config, lambda r: settled(r, "fhir") and "fhir-fixed" in r.metrics)
        runbook = load_runbooks(shipped_runbooks()).get("high-error-rate")
        assert runbook is not None
        verify = next(step for step in runbook.steps if step.id == "rate-after")
        assert isinstance(verify, CheckStep)
        probes = ConfiguredProbes(config)
        verdicts = {}
        for service in config.services:
            values = resolve_params(runbook.params, service_params(runbook, service, config))
            assert values["requests_total"] == "nl_fhir_requests_total"
            values["since_fix"] = "20s"  # as the engine gives it, 20 s after the fix
            value = await probes.probe("promql", check_target("promql", verify.target, values))
            verdicts[service.name] = (value, expectation_failure(verify.expect, 0, str(value)))
    finally:
        fixed.stop()
    still_failing, failure = verdicts["fhir"]
    assert close_to(float(str(still_failing)), TRUE_ERROR_RATE, 0.3)
    assert failure is not None  # escalates
    assert "expected below 0.01" in failure
    assert verdicts["fhir-fixed"] == (0.0, None)  # verified
