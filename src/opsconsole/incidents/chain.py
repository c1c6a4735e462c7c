"""The hash chain that makes an incident's log tamper-evident: each event carries the
hash of the one before, so an edited, removed, inserted or reordered line shows.

Both stores keep each event as the very line written here, so one `verify` checks both.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from opsconsole.incidents.model import Actor, Event


def genesis(incident: str) -> str:
    """The `prev` of an incident's first event: tied to its id, so the events of one
    incident do not verify as another's."""
    return hashlib.sha256(f"opsconsole incident {incident}".encode()).hexdigest()


def canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(body).encode()).hexdigest()


def make_event(
    incident: str,
    previous: Event | None,
    kind: str,
    data: dict[str, Any],
    who: Actor,
    at: datetime | None = None,
) -> Event:
    """The next event after `previous` (None: the first). Its time never goes back
    before the previous one's, so the log reads in order even when the clock steps."""
    now = at or datetime.now(UTC)
    if previous is not None and now < previous.at:
        now = previous.at
    seq = previous.seq + 1 if previous else 1
    prev = previous.hash if previous else genesis(incident)
    # Through JSON and back: what is hashed is exactly what a reader will parse.
    data = json.loads(canonical(data))
    unsigned = Event(incident, seq, now, kind, who, data, prev, hash="")
    return Event(incident, seq, now, kind, who, data, prev, digest(unsigned.body))


def to_line(event: Event) -> str:
    """The event as one line of JSON Lines, newline included."""
    return canonical({**event.body, "hash": event.hash}) + "\n"


@dataclass
class Verification:
    """What a read of an incident's lines found. `problems` name the line (from 1)."""

    incident: str
    events: list[Event] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    torn: str | None = None
    """A last line cut short by a crash: reported, not counted, not an error."""

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_lines(incident: str, lines: list[str], *, complete: bool = True) -> Verification:
    """Check every line against the chain. `complete` is False when the last line had no
    newline: a write a crash cut short, which is reported and ignored when it does not
    parse (an event whose newline alone is missing is whole, and kept)."""
    result = Verification(incident)
    expected_prev = genesis(incident)
    for number, line in enumerate(lines, 1):
        last = number == len(lines)
        try:
            document = json.loads(line)
            event = Event.from_json(document)
        except (ValueError, KeyError, TypeError) as error:
            if last and not complete:
                result.torn = f"line {number}: incomplete (a crash while writing it), ignored"
                break
            result.problems.append(f"line {number}: not an event: {error}")
            return result  # what follows cannot be checked against a lost hash
        if event.incident != incident:
            result.problems.append(f"line {number}: belongs to incident {event.incident}")
        if event.seq != len(result.events) + 1:
            result.problems.append(
                f"line {number}: event {event.seq} where {len(result.events) + 1} belongs"
                " (an event removed, inserted or moved)"
            )
        if event.prev != expected_prev:
            result.problems.append(
                f"line {number}: does not follow line {number - 1}"
                " (the line before it was changed, removed or moved)"
            )
        if digest(event.body) != event.hash or document.get("hash") != event.hash:
            result.problems.append(f"line {number}: its content does not match its hash (edited)")
        result.events.append(event)
        expected_prev = event.hash
    return result
