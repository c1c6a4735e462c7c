"""When to escalate and when to post an update, by severity, as the shared runbooks set
it out; and which of those reminders an incident is due now. Nothing here reads a clock:
the caller says what time it is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from opsconsole.incidents.model import Incident, Kind, Severity


@dataclass(frozen=True)
class Escalation:
    after_minutes: float
    text: str


@dataclass(frozen=True)
class Schedule:
    escalations: tuple[Escalation, ...]
    updates_every_minutes: float | None
    """Stakeholder updates, for as long as the incident is open."""


# The seeds: P0 "<5 minutes, immediate management + legal", updates every 15 minutes;
# P1 "immediate escalation: service down for > 15 minutes", management notified, updates
# every 30 minutes for P0/P1; P2 "escalate within 1 hour"; P3 within 2 hours; P4 24 hours.
# Executives hear of a P0 or P1 at one hour, as the escalation timeline has it.
SCHEDULES: dict[Severity, Schedule] = {
    "P0": Schedule(
        (
            Escalation(0, "P0: page management and legal now, and post INCIDENT ALERT"),
            Escalation(
                60, "P0 open for an hour: notify the executives (Engineering Manager → CTO)"
            ),
        ),
        updates_every_minutes=15,
    ),
    "P1": Schedule(
        (
            Escalation(
                15, "P1 for 15 minutes: escalate to the Level 2 senior engineer, notify management"
            ),
            Escalation(
                60, "P1 open for an hour: notify the executives (Engineering Manager → CTO)"
            ),
        ),
        updates_every_minutes=30,
    ),
    "P2": Schedule(
        (Escalation(60, "P2 for an hour: escalate to the team lead (Level 2)"),),
        updates_every_minutes=None,
    ),
    "P3": Schedule(
        (Escalation(120, "P3 open for 2 hours: past its response time, reassess or hand over"),),
        updates_every_minutes=None,
    ),
    "P4": Schedule(
        (Escalation(24 * 60, "P4 open for 24 hours: past its response time, plan it or close it"),),
        updates_every_minutes=None,
    ),
}


@dataclass(frozen=True)
class Reminder:
    key: str
    """Names the reminder within its incident, so it is shown (and recorded) once."""
    text: str
    severity: Severity

    def to_json(self) -> dict[str, str]:
        return {"key": self.key, "text": self.text, "severity": self.severity}


def due(incident: Incident, now: datetime) -> list[Reminder]:
    """The reminders the incident is due and has not had. The schedule is the current
    severity's, counted from the start: an incident raised to P1 after 40 minutes is
    past P1's 15-minute escalation at once. Of the updates only the latest is due; a
    missed one is not worth a second reminder."""
    if not incident.is_open:
        return []
    had = {str(e.data.get("key")) for e in incident.events if e.kind == Kind.ESCALATION}
    minutes = (now - incident.started).total_seconds() / 60
    schedule = SCHEDULES[incident.severity]
    found = [
        Reminder(f"{incident.severity}+{step.after_minutes:g}m", step.text, incident.severity)
        for step in schedule.escalations
        if minutes >= step.after_minutes
    ]
    every = schedule.updates_every_minutes
    if every is not None and minutes >= every:
        number = int(minutes // every)
        found.append(
            Reminder(
                f"update-{number * every:g}m",
                f"{incident.severity}, {number * every:g} minutes in: post a status update "
                f"(every {every:g} minutes until resolved)",
                incident.severity,
            )
        )
    return [reminder for reminder in found if reminder.key not in had]
