"""What a runbook run emits: every step started, its output, how it ended, every answer
and confirmation. The incident log records these before anything shows them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    RUN_STARTED = "run_started"
    STEP_STARTED = "step_started"
    OUTPUT = "output"
    STEP_FINISHED = "step_finished"
    STEP_SKIPPED = "step_skipped"
    CONFIRMED = "confirmed"
    REFUSED = "refused"
    DECIDED = "decided"
    CHECKLIST = "checklist"
    NOTE = "note"
    ROLLBACK_STARTED = "rollback_started"
    RUN_FINISHED = "run_finished"


@dataclass(frozen=True)
class Event:
    kind: EventKind
    runbook: str
    step: str | None
    operator: str
    detail: dict[str, Any] = field(default_factory=dict)
    """Per kind: argv, exit_code, duration, lines, error; answer; text; outcome..."""
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
