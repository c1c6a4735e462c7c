"""The dashboard against real backends: what it shows is what the servers know."""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from textual.color import Color

from opsconsole.config.model import Config
from opsconsole.demo.faults import Fault
from opsconsole.demo.fleet import DemoFleet
from opsconsole.monitoring.monitor import Monitor
from opsconsole.sources.disk import DiskSource
from opsconsole.tui.app import OpsConsoleApp, make_app
from opsconsole.tui.screens.service import ServiceScreen
from opsconsole.tui.widgets import formats
from opsconsole.tui.widgets.log_tail import LogTail
from opsconsole.tui.widgets.services_table import ServicesTable
from opsconsole.tui.widgets.source_panes import SourcePane
from tests.support.known_app import TRUE_ERROR_RATE, TRUE_P95, KnownTrafficApp
from tests.support.pilot import body, cell, health, palette, screen_lines, wait_for
from tests.support.servers import (
    BUSYBOX_IMAGE,
    TEST_LABEL,
    DockerDaemon,
    PostgresServer,
    PrometheusServer,
    RedisServer,
    free_port,
)


@pytest.fixture
def fleet() -> Iterator[DemoFleet]:
    with DemoFleet(traffic_rate=2) as demo:
        yield demo


@pytest.fixture
def known_app() -> Iterator[KnownTrafficApp]:
    app = KnownTrafficApp().start()
    yield app
    app.stop()


def config(document: dict[str, object]) -> Config:
    return Config.model_validate(document)


def pane(app: OpsConsoleApp, source: str) -> str:
    return app.screen.query_one(f"#{source}", SourcePane).plain


def shown_seconds(text: str) -> float | None:
    """ "950ms" or "▲ 1.2s" as seconds, the way the user reads it."""
    match = re.search(r"([\d.]+)(ms|s)\b", text)
    if match is None:
        return None
    return float(match[1]) / (1000 if match[2] == "ms" else 1)


def shown_ratio(text: str) -> float | None:
    match = re.search(r"([\d.]+)%", text)
    return float(match[1]) / 100 if match else None


async def test_p95_error_rate_and_alert_from_prometheus_match_the_truth(
    prometheus: PrometheusServer, known_app: KnownTrafficApp, fleet: DemoFleet
) -> None:
    prometheus.scrape(f"127.0.0.1:{known_app.port}")
    app = make_app(
        config(
            {
                "console": {"environment": "test", "refresh_seconds": 0.5},
                "services": [
                    {
                        "name": "known",
                        "health_url": fleet.services["nginx"].health_url,
                        "prometheus_label": "known",
                    }
                ],
                "prometheus": {"url": prometheus.url, "window": "10s"},
            }
        )
    )
    async with app.run_test(size=(120, 40)) as pilot:

        def settled() -> bool:
            # Both figures at the truth: before the 10 s window is full of scrapes, rate()
            # extrapolates from a few samples (0.93 % was read once under load).
            p95 = shown_seconds(cell(app, "known", "p95"))
            ratio = shown_ratio(cell(app, "known", "err"))
            return (
                p95 is not None
                and abs(p95 - TRUE_P95) <= 0.05 * TRUE_P95
                and ratio is not None
                and abs(ratio - TRUE_ERROR_RATE) <= 0.2 * TRUE_ERROR_RATE
            )

        await wait_for(pilot, settled, seconds=40)
        errors = cell(app, "known", "err")
        # 2 % is over the 1 % threshold: marked with a symbol, not only a colour.
        assert errors.startswith("▲ ")
        ratio = shown_ratio(errors)
        assert ratio is not None
        assert abs(ratio - TRUE_ERROR_RATE) <= 0.2 * TRUE_ERROR_RATE
        assert not cell(app, "known", "p95").startswith("▲")  # 0.95 s is under 2 s
        await wait_for(pilot, lambda: "HighErrorRate" in pane(app, "metrics"), seconds=40)


async def test_figures_of_a_target_that_is_down_say_so_and_offer_service_down(
    prometheus: PrometheusServer, known_app: KnownTrafficApp, fleet: DemoFleet
) -> None:
    """Its metrics endpoint stops, its health endpoint answers: the row's figures are
    marked stale with why, the offer is service-down, and a target of no configured
    service is in the Alerts pane (Prometheus's), never silently left out."""
    orphan = f"127.0.0.1:{free_port()}"
    prometheus.scrape(f"127.0.0.1:{known_app.port}", orphan)
    app = make_app(
        config(
            {
                "console": {"environment": "test", "refresh_seconds": 0.5},
                "services": [
                    {
                        "name": "known",
                        "health_url": fleet.services["nginx"].health_url,
                        "container": "known-1",
                    }
                ],
                "prometheus": {"url": prometheus.url, "window": "10s"},
            }
        )
    )
    # Wide enough for DETAIL to hold the whole reason.
    async with app.run_test(size=(200, 40)) as pilot:
        line = app.screen.query_one("#suggestion")
        await wait_for(pilot, lambda: f"✖ down {orphan} (job tests) since" in pane(app, "metrics"),
                       seconds=40)  # fmt: skip
        # Fresh: the previous test's app, stopped, is a target down of "known" until
        # Prometheus reads the new targets.
        await wait_for(pilot, lambda: re.fullmatch(r"[\d.]+m?s", cell(app, "known", "p95"))
                       is not None, seconds=40)  # fmt: skip
        known_app.stop()
        await wait_for(pilot, lambda: "stale" in cell(app, "known", "detail"), seconds=20)
        said = f"scrape target 127.0.0.1:{known_app.port} (job tests) down since "
        detail = cell(app, "known", "detail")
        assert re.fullmatch(rf"HTTP 200 · {re.escape(said)}\d\d:\d\d: its P95 and errors are "
                            "stale", detail), detail  # fmt: skip
        assert cell(app, "known", "p95").endswith(formats.STALE)
        assert cell(app, "known", "err").endswith(formats.STALE)
        assert health(app, "known") == "✔ UP"  # its stale 2 % is no "▲ ERRORS" now
        await wait_for(pilot, lambda: said in str(line.render()))
        assert str(line.render()) == (
            f"▲ {detail.removeprefix('HTTP 200 · ')}: press R for runbook "
            "'Service down / container crashed / out of memory'"
        )
        assert f"✖ down {orphan} (job tests) since before " in pane(app, "metrics")


async def test_postgres_and_redis_panes_say_what_the_servers_know(
    postgres: PostgresServer, redis_server: RedisServer, fleet: DemoFleet
) -> None:
    queue = "audit_events_queue"
    client = redis.Redis.from_url(redis_server.url)
    client.delete(queue)
    client.rpush(queue, *range(7))
    app = make_app(
        config(
            {
                "console": {"environment": "test", "refresh_seconds": 0.3},
                "services": [{"name": "nginx", "health_url": fleet.services["nginx"].health_url}],
                "postgres": {"dsn": postgres.dsn},
                "redis": {"url": redis_server.url, "queues": [queue]},
            }
        )
    )
    with psycopg.connect(postgres.dsn) as idle_in_transaction:
        idle_in_transaction.execute("SELECT 1")  # opens a transaction and leaves it open
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: "idle tx 1" in pane(app, "postgres"), seconds=15)
            assert re.search(r"conn \d+/100", pane(app, "postgres"))
            await wait_for(pilot, lambda: f"{queue} 7" in pane(app, "redis"), seconds=15)
            client.rpush(queue, 7)
            await wait_for(pilot, lambda: f"{queue} 8" in pane(app, "redis"), seconds=15)
    client.close()


async def test_filter_sort_and_the_detail_screen(fleet: DemoFleet) -> None:
    fleet.set_fault("nginx", Fault.DOWN)
    demo = fleet.config()
    app = make_app(
        demo.model_copy(
            update={"console": demo.console.model_copy(update={"refresh_seconds": 0.3})}
        )
    )
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(ServicesTable)
        await wait_for(pilot, lambda: health(app, "nginx") == "✖ DOWN")

        await pilot.press("slash", *"fhir")
        await wait_for(pilot, lambda: table.row_count == 2)
        assert {str(key.value) for key in table.rows} == {"nl-fhir", "hapi-fhir"}
        await pilot.press("escape")
        await wait_for(pilot, lambda: table.row_count == len(fleet.services))

        await pilot.press("s", "s")  # by name, then by health: the worst first
        await wait_for(pilot, lambda: table.selected is not None)
        first = str(table.coordinate_to_cell_key((0, 0)).row_key.value)  # type: ignore[arg-type]
        assert first == "nginx"

        table.move_cursor(row=[str(k.value) for k in table.rows].index("backend"))
        await pilot.press("enter")
        assert isinstance(app.screen, ServiceScreen)
        await wait_for(pilot, lambda: '"status": "ok"' in body(app))
        assert "backend: health" in str(app.screen.query_one("#service-health").border_title)
        # Now, the worst of the history, and the threshold it is held to, on the screen
        # at 80x24, each above its trend.
        p95 = re.compile(r"│ P95 [\d.]+m?s \(max [\d.]+m?s\) < 2s ")
        await wait_for(pilot, lambda: any(p95.search(line) for line in screen_lines(app)))
        lines = screen_lines(app)
        at = next(n for n, line in enumerate(lines) if p95.search(line))
        assert set(lines[at + 1].split("│")[1].strip()) <= set(formats.BARS)
        assert re.search(r"│ errors [\d.<]+% .*< 1% ", lines[at + 2]), lines
        assert re.search(r"│ [\d.]+ req/s ", lines[at + 4]), lines
        await pilot.press("escape")
        assert not isinstance(app.screen, ServiceScreen)


async def test_the_palette_finds_services_and_panes(fleet: DemoFleet) -> None:
    app = make_app(fleet.config())
    async with app.run_test(size=(80, 24)) as pilot:
        services = await palette(pilot, app, "Service:")
        assert {f"Service: {name}" for name in fleet.services} <= set(services)
        await pilot.press("escape")
        panes = await palette(pilot, app, "Pane:")
        assert {"Pane: PostgreSQL", "Pane: Redis", "Pane: Docker", "Pane: Alerts"} <= set(panes)
        await pilot.press("escape")
        assert await palette(pilot, app, "Service: hapi") == ["Service: hapi-fhir"]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ServiceScreen))
        assert isinstance(app.screen, ServiceScreen)
        assert app.screen.service.name == "hapi-fhir"


@pytest.mark.parametrize(
    ("environment", "kind"),
    [("production", "production"), ("prod-eu", "production"), ("staging", "staging"),
     ("demo", "sandbox"), ("lab", "other")],
)  # fmt: skip
async def test_the_header_says_which_environment_in_its_colour(
    fleet: DemoFleet, environment: str, kind: str
) -> None:
    demo = fleet.config()
    app = make_app(
        demo.model_copy(
            update={"console": demo.console.model_copy(update={"environment": environment})}
        )
    )
    async with app.run_test(size=(80, 24)):
        assert app.sub_title.startswith(f"{environment} @ ")
        assert app.has_class(f"-env-{kind}")
        header = app.screen.query_one("Header")
        colours = {
            "production": app.current_theme.error,
            "staging": app.current_theme.warning,
        }
        if kind in colours:
            shown, wanted = header.styles.background, Color.parse(colours[kind])
            # Themes go through HSL and back: a unit of rounding either way is the same colour.
            assert all(abs(a - b) <= 2 for a, b in zip(shown.rgb, wanted.rgb, strict=True))


async def test_containers_in_the_table_and_the_detail_screen_with_live_logs(
    docker_daemon: DockerDaemon, fleet: DemoFleet
) -> None:
    client = docker_daemon.client()
    name = f"dash-{uuid.uuid4().hex[:8]}"
    chatty = [
        "sh",
        "-c",
        "trap 'exit 0' TERM; i=0; while :; do echo tick $i; i=$((i+1)); busybox sleep 0.2; done",
    ]
    container = client.containers.run(
        BUSYBOX_IMAGE, chatty, name=name, detach=True, network_mode="none",
        labels={TEST_LABEL: "dashboard"},
    )  # fmt: skip
    try:
        app = make_app(
            config(
                {
                    "console": {"environment": "test", "refresh_seconds": 0.3},
                    "services": [
                        {
                            "name": "backend",
                            "health_url": fleet.services["backend"].health_url,
                            "container": name,
                        }
                    ],
                    "docker": {"base_url": docker_daemon.base_url},
                }
            )
        )
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: cell(app, "backend", "container") == "running", 20)
            await pilot.press("enter")
            assert isinstance(app.screen, ServiceScreen)
            logs = app.screen.query_one(LogTail)
            await wait_for(pilot, lambda: any(line.startswith("tick ") for line in logs.shown))
            seen = len(logs.shown)
            await wait_for(pilot, lambda: len(logs.shown) > seen + 2)  # it follows
            numbers = [int(line.split()[1]) for line in logs.shown if line.startswith("tick ")]
            assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))  # in order
            facts = str(app.screen.query_one("#service-container").render())
            assert "state running" in facts
            assert "OOMKilled no" in facts

            container.kill()  # SIGKILL: exit code 137
            await wait_for(pilot, lambda: any("container exited" in line for line in logs.shown))
            await pilot.press("escape")
            await wait_for(pilot, lambda: cell(app, "backend", "container") == "✖ exited", 20)
    finally:
        container.remove(force=True)


async def test_the_postgresql_pane_says_how_old_the_newest_backup_is(
    postgres: PostgresServer, fleet: DemoFleet, tmp_path: Path
) -> None:
    """Past its RPO the line goes up under the connections, marked; a new backup brings
    it back to its place, unmarked."""
    backups = tmp_path / "backups"
    backups.mkdir()
    old = backups / "app-old.dump"
    old.write_bytes(b"dump")
    then = time.time() - 30 * 3600
    os.utime(old, (then, then))
    app = make_app(
        config(
            {
                "console": {"environment": "test", "refresh_seconds": 0.3},
                "services": [{"name": "nginx", "health_url": fleet.services["nginx"].health_url}],
                "postgres": {"dsn": postgres.dsn, "backup_dir": str(backups)},
            }
        )
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "backup" in pane(app, "postgres"), seconds=15)
        lines = pane(app, "postgres").splitlines()
        assert lines[1].strip() == "▲ backup 1d 6h old", lines
        # A dump still being written, and an empty file, are no backup.
        (backups / "app-new.dump.partial").write_bytes(b"half a dump")
        (backups / "app-empty.dump").write_bytes(b"")
        await pilot.pause(1.5)
        assert pane(app, "postgres").splitlines()[1].strip() == "▲ backup 1d 6h old"
        (backups / "app-new.dump").write_bytes(b"dump")
        await wait_for(pilot, lambda: "backup 0s old" in pane(app, "postgres"), seconds=15)
        lines = pane(app, "postgres").splitlines()
        assert "▲" not in next(line for line in lines if "backup" in line)
        assert "backup" not in lines[1]


async def test_the_postgresql_pane_says_how_full_its_data_volume_is(
    postgres: PostgresServer, fleet: DemoFleet, small_volume: Path
) -> None:
    """A real 4 MiB volume: its use is the pane's last line; filled past disk_percent it
    goes up under the connections, marked, and disk-wal-pressure is offered; emptied, it
    goes back to its place, unmarked, and the offer goes."""
    app = make_app(
        config(
            {
                "console": {"environment": "test", "refresh_seconds": 0.3},
                "services": [{"name": "nginx", "health_url": fleet.services["nginx"].health_url}],
                "postgres": {"dsn": postgres.dsn, "data_dir": str(small_volume)},
            }
        )
    )
    async with app.run_test(size=(120, 40)) as pilot:
        line = app.screen.query_one("#suggestion")
        await wait_for(pilot, lambda: "conn " in pane(app, "postgres"), seconds=15)
        await wait_for(pilot, lambda: "disk" in pane(app, "postgres"), seconds=15)
        lines = pane(app, "postgres").splitlines()
        assert lines[-1] == "disk 0% of 4 MiB", lines
        (small_volume / "pg_wal").write_bytes(b"\0" * (7 * 2**19))
        await wait_for(pilot, lambda: "88%" in pane(app, "postgres"), seconds=15)
        lines = pane(app, "postgres").splitlines()
        assert lines[1] == "▲ disk 88% of 4 MiB", lines
        await wait_for(pilot, lambda: bool(line.display))
        assert str(line.render()) == (
            "▲ the data volume of postgres is 88% full (> 85%): "
            "press R for runbook 'Disk and WAL pressure on PostgreSQL'"
        )
        (small_volume / "pg_wal").unlink()
        await wait_for(pilot, lambda: "disk 0%" in pane(app, "postgres"), seconds=15)
        assert pane(app, "postgres").splitlines()[-1] == "disk 0% of 4 MiB"
        await wait_for(pilot, lambda: not line.display)


async def test_a_disk_read_that_hangs_is_said_in_the_postgresql_pane(
    postgres: PostgresServer, fleet: DemoFleet, tmp_path: Path
) -> None:
    """A hung network mount cannot be made here (no NFS server, no FUSE library): statvfs
    is a stand-in that blocks after its first read. The pane says since when it has not
    come back and the last figure, under the connections; nothing is offered for it (it
    is no disk pressure); back, the figure is in its place again."""
    release = threading.Event()
    reads: list[str] = []

    def hangs_after_the_first(path: str) -> os.statvfs_result:
        reads.append(path)
        if len(reads) > 1:
            release.wait(30)
        return os.statvfs(path)

    settings = config(
        {
            "console": {"environment": "test", "refresh_seconds": 0.3},
            "services": [{"name": "nginx", "health_url": fleet.services["nginx"].health_url}],
            "postgres": {"dsn": postgres.dsn, "data_dir": str(tmp_path)},
        }
    )
    monitor = Monitor(settings)
    monitor.disk = DiskSource(tmp_path, timeout=0.2, statvfs=hangs_after_the_first)
    app = make_app(settings, monitor=monitor)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            line = app.screen.query_one("#suggestion")
            await wait_for(pilot, lambda: "not come back" in pane(app, "postgres"), seconds=15)
            lines = pane(app, "postgres").splitlines()
            assert re.fullmatch(r"✖ disk: statvfs has not come back since \d\d:\d\d:\d\d", lines[1])
            assert re.fullmatch(r"last \d+% at \d\d:\d\d:\d\d", lines[2]), lines
            assert lines[0].startswith("conn ")
            await pilot.pause(1)
            assert len(reads) == 2  # one read in flight, however many polls
            assert not line.display
            release.set()
            await wait_for(pilot, lambda: "not come back" not in pane(app, "postgres"), seconds=15)
            assert re.fullmatch(r"disk \d+% of .+", pane(app, "postgres").splitlines()[-1])
    finally:
        release.set()
