"""Escalation reminders by severity, as the shared runbooks time them. `due` takes the
time as an argument: these tests name the minute instead of waiting for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opsconsole.incidents.chain import make_event
from opsconsole.incidents.escalation import due
from opsconsole.incidents.model import Actor, Event, Incident, Kind, fold

ALICE = Actor(user="alice", host="bastion-1")
START = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def incident(severity: str, *later: tuple[int, str, dict[str, object]]) -> Incident:
    opened = {"title": "Checkout down", "severity": severity, "status": "INVESTIGATING"}
    events: list[Event] = [make_event("i", None, Kind.OPENED, opened, ALICE, at=START)]
    for minute, kind, data in later:
        at = START + timedelta(minutes=minute)
        events.append(make_event("i", events[-1], kind, data, ALICE, at=at))
    return fold(events)


def keys(found: Incident, minute: float) -> list[str]:
    return [r.key for r in due(found, START + timedelta(minutes=minute))]


def test_p1_escalates_at_15_minutes_and_asks_for_an_update_every_30() -> None:
    p1 = incident("P1")
    assert keys(p1, 14.9) == []
    assert keys(p1, 15) == ["P1+15m"]
    assert keys(p1, 30) == ["P1+15m", "update-30m"]
    assert keys(p1, 95) == ["P1+15m", "P1+60m", "update-90m"]  # only the latest update


def test_a_reminder_recorded_is_not_due_again() -> None:
    shown = incident("P1", (15, Kind.ESCALATION, {"key": "P1+15m"}))
    assert keys(shown, 20) == []
    assert keys(shown, 31) == ["update-30m"]


def test_p0_pages_at_once_p2_after_an_hour_p4_after_a_day() -> None:
    assert keys(incident("P0"), 0) == ["P0+0m"]
    assert keys(incident("P0"), 15) == ["P0+0m", "update-15m"]
    assert keys(incident("P2"), 59) == []
    assert keys(incident("P2"), 60) == ["P2+60m"]
    assert keys(incident("P3"), 120) == ["P3+120m"]
    assert keys(incident("P4"), 23 * 60) == []
    assert keys(incident("P4"), 24 * 60) == ["P4+1440m"]


def test_the_schedule_is_the_current_severitys_counted_from_the_start() -> None:
    raised = incident("P2", (40, Kind.SEVERITY, {"from": "P2", "to": "P1"}))
    assert keys(raised, 40) == ["P1+15m", "update-30m"]


def test_a_resolved_incident_is_due_nothing() -> None:
    resolved = incident("P0", (10, Kind.STATUS, {"from": "INVESTIGATING", "to": "RESOLVED"}))
    assert keys(resolved, 120) == []
