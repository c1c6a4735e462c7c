"""What breaches: a figure that cannot be computed is a breach with its reason, but only
where the service answers (a service that is down cannot be scraped either, and its
health breach already says why: one cause, one breach)."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg

from opsconsole.cli.status_report import render_table, snapshot_json
from opsconsole.config.model import Config
from opsconsole.demo.fleet import DemoFleet
from opsconsole.monitoring.monitor import Monitor
from opsconsole.monitoring.offers import offers
from opsconsole.monitoring.snapshot import Breach, Snapshot, breaches
from opsconsole.runbooks.model import load_runbooks, shipped_runbooks
from opsconsole.sources.base import Reading
from opsconsole.sources.metrics import DownTarget, MetricsReading
from opsconsole.sources.readings import HealthCheck, HealthState
from tests.support.known_app import KnownTrafficApp
from tests.support.servers import PostgresServer, PrometheusServer, free_port

CONFIG = Config.model_validate(
    {"services": [{"name": "api", "health_url": "http://127.0.0.1:9/health",
                   "metrics_url": "http://127.0.0.1:9/metrics"}]}
)  # fmt: skip
NOW = datetime.now(UTC)


def snapshot(state: HealthState, reason: str) -> Snapshot:
    check = HealthCheck("api", state, reason, None, None, NOW, "")
    scrape = MetricsReading({}, errors={"api": "connection refused"})
    return Snapshot(health={"api": check}, metrics=Reading(scrape, None, NOW, 0.01))


def test_a_scrape_that_fails_while_the_service_answers_is_a_breach() -> None:
    assert breaches(CONFIG, snapshot(HealthState.UP, "")) == [
        Breach("api", "metrics", "connection refused", None)
    ]


def test_a_service_that_is_down_is_one_breach_not_two() -> None:
    assert breaches(CONFIG, snapshot(HealthState.DOWN, "connection refused")) == [
        Breach("api", "health", "DOWN", "UP")
    ]


def test_a_failed_scrape_newer_than_the_health_check_waits_for_the_next_check() -> None:
    """Going down, the scrape fails before the health check notices: not a second breach
    for the incident's timeline, which then says "cleared" a moment later."""
    earlier = HealthCheck("api", HealthState.UP, "", 200, 0.01, NOW - timedelta(seconds=1), "")
    scrape = MetricsReading({}, errors={"api": "connection refused"})
    snap = Snapshot(health={"api": earlier}, metrics=Reading(scrape, None, NOW, 0.01))
    assert breaches(CONFIG, snap) == []
    misnamed = MetricsReading({}, errors={"api": "no series named x"}, misnamed={"api"})
    snap = Snapshot(health={"api": earlier}, metrics=Reading(misnamed, None, NOW, 0.01))
    assert breaches(CONFIG, snap) == [Breach("api", "metrics", "no series named x", None)]


async def test_a_query_running_past_its_threshold_breaches_and_offers_slow_queries(
    postgres: PostgresServer,
) -> None:
    """Against the harness's PostgreSQL: a query active for longer than
    `slow_query_seconds` is a breach of postgres, and the dashboard offers slow-queries."""
    config = Config.model_validate(
        {"services": [{"name": "api", "health_url": "http://127.0.0.1:9/health"}],
         "postgres": {"dsn": postgres.dsn}, "thresholds": {"slow_query_seconds": 1}}
    )  # fmt: skip
    sleeper = threading.Thread(
        target=lambda: (
            psycopg.connect(postgres.dsn, autocommit=True).execute("SELECT pg_sleep(4)").close()
        ),
        daemon=True,
    )
    sleeper.start()
    monitor = Monitor(config)
    try:
        await asyncio.sleep(1.5)
        snap = await monitor.snapshot()
    finally:
        await monitor.aclose()
        sleeper.join(5)
    (slow,) = [b for b in snap.breaches if b.signal == "slow_query"]
    assert slow.subject == "postgres"
    assert isinstance(slow.value, float)
    assert slow.value > 1
    library = load_runbooks(shipped_runbooks())
    (offer,) = offers(library, [slow], config=config)
    assert offer.runbook.id == "slow-queries"
    assert offer.text.startswith("a query on postgres has run 1.")
    assert offer.text.endswith("s > 1s: press R for runbook 'Slow queries'")


async def snapshot_until(
    monitor: Monitor, shows: Callable[[Snapshot], bool], seconds: float = 40
) -> Snapshot:
    deadline = time.monotonic() + seconds
    while not shows(snap := await monitor.snapshot()):
        assert time.monotonic() < deadline, snap
        await asyncio.sleep(0.5)
    return snap


def down_targets(snap: Snapshot) -> dict[str, DownTarget]:
    reading = snap.metrics.value if snap.metrics else None
    return {target.instance: target for target in (reading.down or [])} if reading else {}


async def test_a_scrape_target_down_breaches_its_service_and_one_of_none_is_said(
    prometheus: PrometheusServer,
) -> None:
    """Against the harness's Prometheus (1 s scrapes): the service's metrics endpoint stops
    while its health endpoint answers. Its target is a breach of it that offers
    service-down, its figures say they are stale (its 2 % error rate, over the 1 %
    threshold, is no breach of its own any more), and a target of no configured service
    is said where Prometheus's figures are, but is no breach of anyone."""
    app = KnownTrafficApp("api").start()
    target, orphan = f"127.0.0.1:{app.port}", f"127.0.0.1:{free_port()}"
    prometheus.scrape(target, orphan)
    with DemoFleet(traffic_rate=0) as fleet:
        config = Config.model_validate(
            {"prometheus": {"url": prometheus.url, "window": "10s"},
             "services": [{"name": "api", "health_url": fleet.services["nginx"].health_url,
                           "container": "api-1"}]}
        )  # fmt: skip
        monitor = Monitor(config)
        try:
            before = await snapshot_until(
                monitor,
                lambda s: (
                    any(b.signal == "error_rate" for b in s.breaches) and orphan in down_targets(s)
                ),
            )
            assert target not in down_targets(before)
            assert down_targets(before)[orphan].services == ()
            stopped = datetime.now(UTC)
            app.stop()
            snap = await snapshot_until(
                monitor, lambda s: any(b.signal == "target_down" for b in s.breaches)
            )
        finally:
            await monitor.aclose()
            app.stop()
    assert [(b.subject, b.signal) for b in snap.breaches] == [("api", "target_down")]
    (down,) = snap.breaches
    assert isinstance(down.value, str)
    assert re.fullmatch(rf"scrape target {target} \(job tests\) down since \d\d:\d\d", down.value)
    seen = down_targets(snap)[target]
    assert seen.services == ("api",)
    assert not seen.since_before
    assert stopped - timedelta(seconds=2) <= seen.since <= stopped + timedelta(seconds=5)
    assert down.value.endswith(f"{seen.since.astimezone():%H:%M}")
    assert snap.metrics is not None
    assert snap.metrics.value is not None
    measured = snap.metrics.value.metrics["api"]
    assert measured.stale == f"{down.value}: its P95 and errors are stale"

    library = load_runbooks(shipped_runbooks())
    (offer,) = offers(library, [down], config=config)
    assert offer.runbook.id == "service-down"
    assert offer.params["service"] == "api"
    assert offer.params["container"] == "api-1"
    assert offer.text == (
        f"{down.value}: its P95 and errors are stale: press R for runbook "
        "'Service down / container crashed / out of memory'"
    )
    # `opsconsole status`: the stale figures marked, the target of no service said.
    table = render_table(config, snap)
    assert re.search(r"^api .* \S+ ms\? +\d\.\d\d%\? +[\d.]+\? ", table, re.MULTILINE), table
    assert f"breach     api target_down: {down.value}" in table
    orphan_said = down_targets(snap)[orphan].said()
    assert f"prometheus {orphan_said}, of no configured service" in table
    said = snapshot_json(config, snap)
    assert said["services"][0]["metrics_stale"] == measured.stale
    listed = {t["instance"]: t["services"] for t in said["prometheus"]["down_targets"]}
    assert listed[target] == ["api"]
    assert listed[orphan] == []
