"""How observations fold into what the pane shows: state, since when, last good.

The checks here are plain values, as the health source returns them; time is given
explicitly so the test can say what "since" must be.
"""

from __future__ import annotations

from datetime import timedelta

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
