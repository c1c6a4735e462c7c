"""What breaches: a figure that cannot be computed is a breach with its reason, but only
where the service answers (a service that is down cannot be scraped either, and its
health breach already says why: one cause, one breach)."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import psycopg

from opsconsole.config.model import Config
from opsconsole.monitoring.monitor import Monitor
from opsconsole.monitoring.offers import offers
from opsconsole.monitoring.snapshot import Breach, Snapshot, breaches
from opsconsole.runbooks.model import load_runbooks, shipped_runbooks
from opsconsole.sources.base import Reading
from opsconsole.sources.metrics import MetricsReading
from opsconsole.sources.readings import HealthCheck, HealthState
from tests.support.servers import PostgresServer

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
