"""What breaches: a figure that cannot be computed is a breach with its reason, but only
where the service answers (a service that is down cannot be scraped either, and its
health breach already says why: one cause, one breach)."""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from pydantic import SecretStr

from opsconsole.cli.status_report import render_table, snapshot_json
from opsconsole.config.model import Config
from opsconsole.demo.fleet import DemoFleet
from opsconsole.monitoring.monitor import Monitor
from opsconsole.monitoring.offers import offers
from opsconsole.monitoring.snapshot import Breach, Snapshot, breaches
from opsconsole.runbooks.model import load_runbooks, shipped_runbooks
from opsconsole.sources.base import Reading, read
from opsconsole.sources.disk import DiskSource
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


async def test_a_full_data_volume_breaches_and_offers_disk_wal_pressure(
    postgres: PostgresServer, small_volume: Path
) -> None:
    """A real 4 MiB file system as [postgres] data_dir: filled past disk_percent (85 by
    default) it is a breach of postgres that offers disk-wal-pressure, filled with the
    configured server and that volume; emptied, the breach clears. It is read while
    PostgreSQL does not answer as well: a full disk is what stops it."""
    config = Config.model_validate(
        {"services": [{"name": "api", "health_url": "http://127.0.0.1:9/health"}],
         "postgres": {"dsn": postgres.dsn, "data_dir": str(small_volume)}}
    )  # fmt: skip
    monitor = Monitor(config)
    try:
        snap = await monitor.snapshot()
        assert snap.disk is not None
        assert snap.disk.value is not None
        assert snap.disk.value.size_bytes == 4 * 2**20
        assert not [b for b in snap.breaches if b.signal.startswith("disk")]
        (small_volume / "pg_wal").write_bytes(b"\0" * (7 * 2**19))  # 3.5 MiB: 87.5 %
        full = await monitor.snapshot()
        (small_volume / "pg_wal").unlink()
        emptied = await monitor.snapshot()
    finally:
        await monitor.aclose()
    (breach,) = [b for b in full.breaches if b.signal.startswith("disk")]
    assert breach == Breach("postgres", "disk_use", 88, 85.0)  # as df shows it, rounded up
    assert not [b for b in emptied.breaches if b.signal.startswith("disk")]
    (offer,) = offers(load_runbooks(shipped_runbooks()), [breach], config=config)
    assert offer.runbook.id == "disk-wal-pressure"
    assert offer.text == (
        "the data volume of postgres is 88% full (> 85%): "
        "press R for runbook 'Disk and WAL pressure on PostgreSQL'"
    )
    port = postgres.dsn.split(":")[-1].split("/")[0]
    assert offer.params == {
        "pg_host": "127.0.0.1", "pg_port": port, "pg_user": "postgres", "pg_db": "postgres",
        "volume": str(small_volume), "disk_percent": "85",
    }  # fmt: skip
    # `opsconsole status` says it where the other PostgreSQL figures are.
    assert f"disk       {small_volume}: 88% of 4 MiB used (threshold 85%)" in (
        render_table(config, full)
    )
    said = snapshot_json(config, full)["postgres"]["disk"]
    assert said["path"] == str(small_volume)
    assert said["used_percent"] == 87.5
    assert said["threshold_percent"] == 85.0

    assert config.postgres is not None
    dead = SecretStr(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")
    gone = config.model_copy(update={"postgres": config.postgres.model_copy(update={"dsn": dead})})
    (small_volume / "pg_wal").write_bytes(b"\0" * (7 * 2**19))
    monitor = Monitor(gone)
    try:
        snap = await monitor.snapshot()
    finally:
        await monitor.aclose()
    signals = [b.signal for b in snap.breaches if b.subject == "postgres"]
    assert signals == ["unreachable", "disk_use"]
    assert "disk       " in render_table(gone, snap)


async def test_a_disk_read_that_does_not_come_back_is_said_and_never_doubled(
    tmp_path: Path,
) -> None:
    """A hung network mount cannot be made on these machines (no NFS server, no FUSE
    library), so statvfs here is the one stand-in: the real one, then one that blocks
    until released. Each poll ends by its deadline, says since when and the last good
    figure, and waits on the same read: one thread, however many polls."""
    release = threading.Event()
    reads: list[str] = []

    def hangs_after_the_first(path: str) -> os.statvfs_result:
        reads.append(path)
        if len(reads) > 1:
            release.wait(30)
        return os.statvfs(path)

    source = DiskSource(tmp_path, timeout=0.2, statvfs=hangs_after_the_first)
    first = await source.poll()
    started = time.monotonic()
    said = []
    for _ in range(3):
        reading = await read(source.poll, 5)
        said.append(reading.error)
    assert time.monotonic() - started < 3 * 0.2 + 1
    # A source built anew (r after an edit of the file) waits on the same read too.
    again = await read(DiskSource(tmp_path, timeout=0.2, statvfs=hangs_after_the_first).poll, 5)
    assert again.error is not None
    assert again.error.startswith(str(said[0]).split(";")[0])
    assert len(reads) == 2
    assert sum(t.name == "statvfs" for t in threading.enumerate()) == 1
    assert len(set(said)) == 1  # since the read began, not since each poll
    assert said[0] is not None
    assert re.fullmatch(
        rf"statvfs has not come back since \d\d:\d\d:\d\d; last {first.shown_percent}% at "
        r"\d\d:\d\d:\d\d",
        said[0],
    ), said
    unread = Breach("postgres", "disk_unread", said[0], None)
    snap = Snapshot(health={}, disk=reading)
    postgres = {"dsn": "postgresql://postgres@127.0.0.1:9/postgres", "data_dir": str(tmp_path)}
    config = Config.model_validate({**CONFIG.model_dump(), "postgres": postgres})
    assert breaches(config, snap) == [unread]
    # Not disk pressure: no runbook offered (disk-wal-pressure's df would hang as well).
    assert offers(load_runbooks(shipped_runbooks()), [unread], config=config) == []
    release.set()
    assert (await source.poll()).path == str(tmp_path)  # the read in flight, come back
    assert len(reads) == 2
