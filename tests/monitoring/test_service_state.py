"""How observations fold into what the pane shows: state, since when, last good.

The checks here are plain values, as the health source returns them; time is given
explicitly so the test can say what "since" must be.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opsconsole.monitoring.service_state import ServiceStatus, observe_all
from opsconsole.sources.readings import HealthState
from tests.support.configs import T0, check


def test_since_moves_only_when_the_state_changes_and_last_good_is_kept() -> None:
    status = ServiceStatus("api")
    assert status.latest is None
    assert status.last_good is None

    status = status.observe(check(HealthState.UP, 0)).observe(check(HealthState.UP, 2))
    assert status.since == T0
    assert status.began_before_since  # it may have been UP long before the console started
    assert status.last_good is not None
    assert status.last_good.checked_at == T0 + timedelta(seconds=2)

    status = status.observe(check(HealthState.DOWN, 4, "connection refused"))
    status = status.observe(check(HealthState.DOWN, 6, "connection refused"))
    assert status.since == T0 + timedelta(seconds=4)
    assert not status.began_before_since  # the console saw it go down
    assert status.latest is not None
    assert status.latest.reason == "connection refused"
    assert status.last_good is not None
    assert status.last_good.checked_at == T0 + timedelta(seconds=2)

    status = status.observe(check(HealthState.UP, 8))
    assert status.since == T0 + timedelta(seconds=8)


def test_observe_all_keeps_services_not_in_this_round() -> None:
    statuses = {"api": ServiceStatus("api"), "db": ServiceStatus("db")}
    updated = observe_all(statuses, [check(HealthState.UP, 0)])
    assert updated["api"].latest is not None
    assert updated["db"] == statuses["db"]


def flaps(status: ServiceStatus, *seconds: int) -> ServiceStatus:
    """UP and DOWN by turns, at each of `seconds`."""
    for n, at in enumerate(seconds):
        state = HealthState.UP if n % 2 == 0 else HealthState.DOWN
        status = status.observe(check(state, at, "" if state is HealthState.UP else "HTTP 503"))
    return status


def test_up_and_down_again_and_again_is_flapping_and_stops_being_so_when_it_holds() -> None:
    once = flaps(ServiceStatus("api"), 0, 10, 20)  # down once, and back: an outage
    assert not once.flapping
    status = flaps(ServiceStatus("api"), 0, 10, 20, 30)  # down, up, down: flapping
    assert status.flapping
    assert status.flapping_since == T0 + timedelta(seconds=10)
    assert len(status.changes) == 3
    # Up since 40 s: flapping still, until its changes are five minutes old.
    held = status.observe(check(HealthState.UP, 40)).observe(check(HealthState.UP, 200))
    assert held.flapping
    steady = held.observe(check(HealthState.UP, 40 + 301))
    assert not steady.flapping
    assert steady.changes == ()


def test_a_configuration_taken_again_keeps_what_the_board_knew_of_each_service() -> None:
    """`r` on an edited file rebuilds the board: a service DOWN since 03:12 stays DOWN since
    03:12 (not since the edit), and keeps its P95 history where its names did not change;
    a service whose health URL changed starts afresh, and a new one starts empty."""
    from opsconsole.config.model import Config
    from opsconsole.monitoring.board import Board
    from opsconsole.sources.readings import HealthCheck, HealthState

    def config(api_url: str, **names: str) -> Config:
        return Config.model_validate(
            {"services": [{"name": "api", "health_url": api_url, **names},
                          {"name": "web", "health_url": "http://web/health"}]}
        )  # fmt: skip

    started = datetime(2026, 12, 7, 3, 12, tzinfo=UTC)
    old = Board(config("http://api/health"))
    down = [HealthCheck(name, HealthState.DOWN, "connection refused", None, None, started)
            for name in ("api", "web")]  # fmt: skip
    old.observe_health(down)
    old.history["api"].p95.add(started, 1.5)

    same = Board(config("http://api/health", status_label="code"))
    same.carry_over(old)
    assert same.statuses["api"].since == started
    assert same.statuses["web"].since == started
    # Its counter is read by another label now: what was drawn before is not its history.
    assert same.history["api"] is not old.history["api"]
    assert same.history["web"] is old.history["web"]

    # A backend read the same way keeps its last reading: the first poll on the new file
    # tells what changed, not every breach cleared and seen again.
    assert same.postgres is old.postgres
    assert same.metrics is not old.metrics  # read by another label now: asked afresh

    moved = Board(config("http://api2/health"))
    moved.carry_over(old)
    assert moved.statuses["api"].since is None  # another URL: nothing known of it yet
    assert moved.statuses["web"].since == started
    assert moved.history["api"] is old.history["api"]


def test_the_containers_last_reading_is_kept_only_where_the_same_engines_are_read() -> None:
    """A reading keyed `app1/web` is not app2's `web`: moved to another host, a container
    is asked afresh; another [[hosts]] entry (a new port, another jump) too."""
    from opsconsole.config.model import Config
    from opsconsole.monitoring.board import Board

    def config(host: str, port: int = 22) -> Config:
        return Config.model_validate(
            {"hosts": [{"name": "app1", "ssh": "app1", "port": port},
                       {"name": "app2", "ssh": "app2"}],
             "services": [{"name": "web", "health_url": "http://web/health",
                           "container": "web", "host": host}]}
        )  # fmt: skip

    old = Board(config("app1"))
    same = Board(config("app1"))
    same.carry_over(old)
    assert same.containers is old.containers
    for changed in (config("app2"), config("app1", port=2222)):
        board = Board(changed)
        board.carry_over(old)
        assert board.containers is not old.containers
