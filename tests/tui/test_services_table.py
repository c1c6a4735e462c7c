"""What moves in the services table with the clock alone, between two readings.

Readings are plain values, as the health source returns them, and time is given
explicitly: the test says what the table shows at a given second without waiting for it.
"""

from __future__ import annotations

from datetime import timedelta

from rich.text import Text
from textual.app import App, ComposeResult

from opsconsole.config.model import Config
from opsconsole.monitoring.board import Board
from opsconsole.sources.base import Reading
from opsconsole.sources.metrics import MetricsReading, ServiceMetrics
from opsconsole.sources.readings import HealthState
from opsconsole.tui.widgets.quiet_table import Cell
from opsconsole.tui.widgets.services_table import (
    LABELS,
    ServicesTable,
    TableView,
    clock_texts,
    service_row,
)
from tests.support.configs import T0, check


def board_of_api() -> Board:
    return Board(Config.model_validate({"services": [{"name": "api", "health_url": "http://a"}]}))


def test_up_for_over_a_minute_nothing_shown_moves_from_one_second_to_the_next() -> None:
    """The age of the last good check is shown only when the service is not UP: while it
    is, the clock alone changes nothing on screen, and the table is not drawn again."""
    board = board_of_api()
    board.observe_health([check(HealthState.UP, 0)])
    board.observe_health([check(HealthState.UP, 88)])
    assert service_row(board, "api", T0 + timedelta(seconds=90))["for"] == "≥1m"
    assert clock_texts(board, T0 + timedelta(seconds=90)) == clock_texts(
        board, T0 + timedelta(seconds=91)
    )


def test_a_state_nobody_saw_begin_does_not_tick_in_the_first_minute_either() -> None:
    """UP (or DOWN) since before the console started: at least as long as the console has
    run, in whole minutes. 50 rows of "≥6s", "≥7s", ... were redrawn every second."""
    board = board_of_api()
    board.observe_health([check(HealthState.UP, 0)])
    board.observe_health([check(HealthState.UP, 2)])
    shown = {str(service_row(board, "api", T0 + timedelta(seconds=s))["for"]) for s in range(60)}
    assert shown == {"≥0m"}
    assert {clock_texts(board, T0 + timedelta(seconds=s)) for s in range(60)} == {("≥0m",)}
    assert service_row(board, "api", T0 + timedelta(seconds=61))["for"] == "≥1m"
    assert service_row(board, "api", T0 + timedelta(hours=2, minutes=5))["for"] == "≥2h 05m"


def test_a_state_seen_to_begin_counts_its_seconds_in_its_first_minute() -> None:
    board = board_of_api()
    board.observe_health([check(HealthState.UP, 0)])
    board.observe_health([check(HealthState.DOWN, 10, "connection refused")])
    assert service_row(board, "api", T0 + timedelta(seconds=22))["for"] == "12s"
    assert service_row(board, "api", T0 + timedelta(seconds=80))["for"] == "1m"


def test_down_after_being_up_counts_the_seconds_since_it_was_last_good() -> None:
    board = board_of_api()
    board.observe_health([check(HealthState.UP, 0)])
    board.observe_health([check(HealthState.DOWN, 30, "connection refused")])
    row = service_row(board, "api", T0 + timedelta(seconds=95))
    assert str(row["detail"]) == "connection refused · last good 1m ago"
    assert clock_texts(board, T0 + timedelta(seconds=95)) == clock_texts(
        board, T0 + timedelta(seconds=96)
    )  # both "1m"
    before = service_row(board, "api", T0 + timedelta(seconds=40))
    assert str(before["detail"]) == "connection refused · last good 40s ago"
    assert clock_texts(board, T0 + timedelta(seconds=40)) != clock_texts(
        board, T0 + timedelta(seconds=41)
    )


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ServicesTable()


def one_row(health: str, detail: str) -> TableView:
    row: dict[str, Cell] = dict.fromkeys(LABELS, "")
    row |= {"service": "backend", "health": Text(health), "detail": Text(detail)}
    unused = frozenset(LABELS) - {"service", "health", "for", "detail"}
    return TableView(["backend"], {"backend": row}, unused)


async def test_the_table_never_scrolls_sideways_when_a_column_narrows_and_detail_grows() -> None:
    """DETAIL gets the room the other columns leave, reckoned from what they show now: a
    column as wide as it once was ("… checking") pushed a long detail off the screen."""
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(ServicesTable)
        table.show(one_row("… checking", "not seen"))
        await pilot.pause()
        table.show(one_row("✔ UP", "HTTP 200 · metrics: connection refused" + " and more" * 9))
        await pilot.pause()
        assert table.virtual_size.width <= table.scrollable_content_region.width
        assert str(table.get_cell("backend", "detail")).endswith("…")


def test_a_flapping_service_says_so_in_one_word_that_stays_put() -> None:
    board = board_of_api()
    for n, at in enumerate((0, 3, 6, 9, 12)):
        state = HealthState.UP if n % 2 == 0 else HealthState.DOWN
        board.observe_health([check(state, at, "" if n % 2 == 0 else "HTTP 503")])
    row = service_row(board, "api", T0 + timedelta(seconds=13))
    assert str(row["health"]) == "↯ FLAPPING"
    assert row["for"] == "10s"  # since it began to flap, not since its last flap
    assert str(row["detail"]) == "4 changes in 5m; UP now"
    board.observe_health([check(HealthState.DOWN, 15, "HTTP 503")])
    row = service_row(board, "api", T0 + timedelta(seconds=16))
    assert str(row["health"]) == "↯ FLAPPING"  # the same word, up or down at this instant
    assert str(row["detail"]) == "5 changes in 5m; DOWN now: HTTP 503"
    assert [(b.signal, b.value) for b in board.breaches()] == [("health", "FLAPPING")]


def test_a_service_that_answers_but_breaches_its_error_rate_says_so_in_its_state() -> None:
    board = board_of_api()
    board.observe_health([check(HealthState.UP, 0)])
    metrics = MetricsReading(
        {"api": ServiceMetrics(p95_seconds=0.2, request_rate=5.0, error_rate=0.26)}, {}, []
    )
    board.observe("metrics", Reading(metrics, None, T0, 0.01))
    row = service_row(board, "api", T0 + timedelta(seconds=1))
    assert str(row["health"]) == "▲ ERRORS"
    assert str(row["detail"]) == "HTTP 200 · errors 26% > 1%"
    assert str(row["err"]) == "▲ 26%"  # the same figure, in its column
    slow = MetricsReading(
        {"api": ServiceMetrics(p95_seconds=3.1, request_rate=5.0, error_rate=0.0)}, {}, []
    )
    board.observe("metrics", Reading(slow, None, T0, 0.01))
    row = service_row(board, "api", T0 + timedelta(seconds=2))
    assert (str(row["health"]), str(row["detail"])) == ("▲ SLOW", "HTTP 200 · P95 3.1s > 2s")
