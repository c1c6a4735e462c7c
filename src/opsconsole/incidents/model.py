"""An incident and what happens in it: the event is the record, the incident is what its
events add up to. Nothing here reads or writes anything."""

from __future__ import annotations

import getpass
import os
import socket
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

Severity = Literal["P0", "P1", "P2", "P3", "P4"]
SEVERITIES: tuple[Severity, ...] = ("P0", "P1", "P2", "P3", "P4")

# As the shared runbooks define them: what each means and how fast someone must answer.
SEVERITY_MEANINGS: dict[Severity, str] = {
    "P0": "critical: service down, data breach or patient-safety risk; respond < 5 min",
    "P1": "high: service down, database unavailable, security breach; respond now",
    "P2": "medium: high error rate (> 5 %), responses > 5 s, backups failing; respond < 30 min",
    "P3": "low: one service degraded, a non-critical feature failing; respond < 2 h",
    "P4": "minor: small performance issues, informational; respond < 24 h",
}

Mode = Literal["real", "drill", "test"]
MODES: tuple[Mode, ...] = ("real", "drill", "test")


class Status(StrEnum):
    INVESTIGATING = "INVESTIGATING"
    IDENTIFIED = "IDENTIFIED"
    MONITORING = "MONITORING"
    RESOLVED = "RESOLVED"


class Kind(StrEnum):
    """What an incident event records, besides the runbook events (RUNBOOK_PREFIX)."""

    OPENED = "opened"
    STATUS = "status"
    SEVERITY = "severity"
    NOTE = "note"
    IMPACT = "impact"
    COMMANDER = "commander"
    BREACH = "breach"
    """A dashboard breach seen while the incident is open."""
    ESCALATION = "escalation"
    """An escalation reminder, recorded when it was shown."""
    PROPOSAL = "proposal"
    """The console proposed a status (a check held); `accepted` says what came of it."""
    CHECK = "check"
    """A verifying check run again while MONITORING: recorded when it breaks, not on
    every pass."""
    DRILL = "drill"


RUNBOOK_PREFIX = "runbook."
"""Before the runner's own kind: `runbook.step_finished`, and so on."""


@dataclass(frozen=True)
class Actor:
    """Who did it, as far as the machine can tell: on a shared bastion, the login user
    is often the same for everyone, and SUDO_USER and the SSH client tell them apart."""

    user: str
    host: str
    sudo_user: str | None = None
    ssh_client: str | None = None
    tty: str | None = None

    @classmethod
    def current(cls) -> Actor:
        ssh = os.environ.get("SSH_CLIENT") or os.environ.get("SSH_CONNECTION")
        try:
            tty: str | None = os.ttyname(0)
        except OSError:
            tty = None
        return cls(
            user=_login_name(),
            host=socket.gethostname(),
            sudo_user=os.environ.get("SUDO_USER") or None,
            ssh_client=ssh.split()[0] if ssh else None,
            tty=tty,
        )

    @property
    def name(self) -> str:
        """The person, in a word: the sudo user behind root when there is one."""
        return self.sudo_user or self.user

    def to_json(self) -> dict[str, str]:
        return {key: value for key, value in self.__dict__.items() if value is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Actor:
        return cls(**{key: data.get(key) for key in cls.__dataclass_fields__})  # type: ignore[arg-type]


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


@dataclass(frozen=True)
class Event:
    """One line of an incident's log. `seq` counts from 1 without gaps; `prev` is the hash
    of the event before (of the incident's id for the first), `hash` of this one."""

    incident: str
    seq: int
    at: datetime
    kind: str
    who: Actor
    data: dict[str, Any]
    prev: str
    hash: str

    @property
    def body(self) -> dict[str, Any]:
        """Everything the hash covers, as it is written."""
        return {
            "incident": self.incident,
            "seq": self.seq,
            "at": self.at.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "kind": self.kind,
            "who": self.who.to_json(),
            "data": self.data,
            "prev": self.prev,
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Event:
        return cls(
            incident=str(document["incident"]),
            seq=int(document["seq"]),
            at=datetime.fromisoformat(str(document["at"]).replace("Z", "+00:00")),
            kind=str(document["kind"]),
            who=Actor.from_json(document["who"]),
            data=dict(document["data"]),
            prev=str(document["prev"]),
            hash=str(document["hash"]),
        )


@dataclass(frozen=True)
class Incident:
    id: str
    title: str
    mode: Mode
    severity: Severity
    status: Status
    started: datetime
    commander: str
    impact: str = ""
    resolved: datetime | None = None
    events: tuple[Event, ...] = field(default=(), repr=False)

    @property
    def is_open(self) -> bool:
        return self.status is not Status.RESOLVED

    def with_event(self, event: Event) -> Incident:
        """What it adds up to with one more event: an append need not read it all again."""
        return replace(_apply(self, event), events=(*self.events, event))


def fold(events: list[Event] | tuple[Event, ...]) -> Incident:
    """The incident its events describe; the first must be OPENED."""
    first = events[0]
    if first.kind != Kind.OPENED:
        raise ValueError(f"incident {first.incident}: its first event is {first.kind}, not opened")
    data = first.data
    incident = Incident(
        id=first.incident,
        title=str(data["title"]),
        mode=data.get("mode", "real"),
        severity=data["severity"],
        status=Status(data.get("status", Status.INVESTIGATING)),
        started=first.at,
        commander=str(data.get("commander") or first.who.name),
        impact=str(data.get("impact", "")),
    )
    for event in events[1:]:
        incident = _apply(incident, event)
    return replace(incident, events=tuple(events))


def _apply(incident: Incident, event: Event) -> Incident:
    data = event.data
    if event.kind == Kind.STATUS:
        status = Status(data["to"])
        resolved = event.at if status is Status.RESOLVED else None
        return replace(incident, status=status, resolved=resolved)
    if event.kind == Kind.SEVERITY:
        return replace(incident, severity=data["to"])
    if event.kind == Kind.IMPACT:
        return replace(incident, impact=str(data["text"]))
    if event.kind == Kind.COMMANDER:
        return replace(incident, commander=str(data["name"]))
    return incident


def new_incident_id(now: datetime | None = None) -> str:
    """Sortable by when it began, short enough to type: 20261123-0312-7f3a."""
    at = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{at:%Y%m%d-%H%M}-{os.urandom(2).hex()}"
