"""What a run's events add up to while it runs: each step's state, the current step, the
command each step ran, the log of what happened, and the verifying steps that passed.
The wizard draws this; it holds no Textual, so it is tested on a run's events alone."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from opsconsole.engine.events import (
    Checklist,
    Confirmed,
    Decided,
    Event,
    Note,
    Output,
    Refused,
    RollbackStarted,
    RunFinished,
    StepFinished,
    StepSkipped,
    StepStarted,
    prompt,
)
from opsconsole.runbooks.model import CheckStep, CommandStep, Runbook

State = Literal["pending", "running", "ok", "failed", "skipped"]
SYMBOLS: dict[State, str] = {
    "pending": "…",
    "running": "▶",
    "ok": "✔",
    "failed": "✖",
    "skipped": "↷",
}

NOTE_PROMPT = "operator note"
"""The prompt of a note the operator adds outside any note step (the wizard's `n`)."""


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    at: datetime
    summary: str
    """What was seen, as the timeline shows it: "exit 0 in 0.2 s", "value 200", the error."""

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "at": self.at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "summary": self.summary,
        }


@dataclass(frozen=True)
class Verified:
    """A verifying step that passed in a run, with how it failed before, if it did."""

    step: CommandStep | CheckStep
    passed: CheckResult
    failed_before: str | None = None


@dataclass
class Waiting:
    """A check that waits for the truth after a fix: until when, which try, what the last
    one saw. The wizard counts it down by the second between tries, which may be 20 s apart."""

    until: float
    """time.monotonic() when it gives up."""
    attempt: int
    last: str | None = None

    def said(self, now: float) -> str:
        left = max(0.0, self.until - now)
        line = f"⏱ until it holds: {left:.0f} s left, try {self.attempt}"
        return f"{line}; last: {self.last}" if self.last else line


@dataclass
class Change:
    """What some events changed: lines for the log, the steps whose state moved, and
    whether anything but output came (the current step and the status may read anew)."""

    lines: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    more_than_output: bool = False


class RunProgress:
    def __init__(self, runbook: Runbook) -> None:
        every = [*runbook.steps, *runbook.rollback]
        self.runbook = runbook
        self.steps = {step.id: step for step in every}
        self.states: dict[str, State] = {step.id: "pending" for step in every}
        self.current: str | None = None
        self.commands: dict[str, str] = {}
        """Each step's rendered command as a prompt shows it (`app1 $ ...` on a host)."""
        self.verified: list[Verified] = []
        self.waiting: dict[str, Waiting] = {}
        """The checks waiting for the truth, while they wait."""
        self._failed_first: dict[str, str] = {}
        """How each verifying step failed before it passed (its retries): the "before"."""

    def apply(self, events: Iterable[Event]) -> Change:
        change = Change()
        for event in events:
            self._apply(event, change)
        return change

    def asking(self, step_id: str) -> Change:
        """The step waits for the operator: it is the current one."""
        change = Change(more_than_output=True)
        self._set(step_id, "running", change)
        return change

    def left(self) -> int:
        """How many of the runbook's steps (not its rollback) never started."""
        return sum(1 for step in self.runbook.steps if self.states[step.id] == "pending")

    def _apply(self, event: Event, change: Change) -> None:
        if isinstance(event, Output):
            change.lines.extend(event.marked())
            return
        change.more_than_output = True
        if event.runbook != self.runbook.id:
            # A runbook a step runs: its steps are not this run's (their ids may be the
            # same), so they are told in the log, under its name, and move no state here.
            where = f"{event.runbook}/{event.step}" if event.step else event.runbook
            change.lines.append(f"  ↳ {where}: {event.describe()}")
            return
        step, said = event.step, event.describe()
        if isinstance(event, StepStarted) and step is not None:
            self._set(step, "running", change)
            if event.command is not None:
                self.commands[step] = prompt(event.host, event.command)
            if event.seconds_left is not None:
                last = self.waiting[step].last if step in self.waiting else None
                until = time.monotonic() + event.seconds_left
                self.waiting[step] = Waiting(until, event.attempt or 1, last)
            change.lines.append(f"▶ {step}: {said}")
        elif isinstance(event, StepFinished) and step is not None:
            self._set(step, "failed" if event.failed else "ok", change)
            self._note_verifying(step, event)
            if step in self.waiting and event.failed:
                self.waiting[step].last = said
            else:
                self.waiting.pop(step, None)  # it holds: nothing to wait for
            change.lines.append(f"{'✖' if event.failed else '✔'} {step}: {said}")
        elif isinstance(event, StepSkipped) and step is not None:
            self._set(step, "skipped", change)
            change.lines.append(f"↷ {step}: {said}")
        elif isinstance(event, Refused) and step is not None:
            self._set(step, "failed", change)
            change.lines.append(f"✖ {step}: {said}")
        elif isinstance(event, Confirmed) and step is not None:
            change.lines.append(f"✔ {step}: {said}")
        elif isinstance(event, Decided) and step is not None:
            self._set(step, "ok", change)
            change.lines.append(f"✔ {step}: {said}")
        elif isinstance(event, Checklist) and step is not None:
            self._set(step, "ok" if event.done else "failed", change)
        elif isinstance(event, Note):
            if step is not None and event.prompt != NOTE_PROMPT:
                self._set(step, "ok", change)
            change.lines.append(f"✎ {said}")
        elif isinstance(event, RollbackStarted):
            change.lines.append(f"↺ {said}")
        elif isinstance(event, RunFinished):
            self.waiting.clear()
            for step_id, state in self.states.items():
                if state == "running":  # stopped in a dialog, or by an abort
                    self._set(step_id, "failed", change)
            change.lines.append(f"■ {said}")

    def _note_verifying(self, step_id: str, event: StepFinished) -> None:
        step = self.steps.get(step_id)
        if not isinstance(step, CommandStep | CheckStep) or not step.verifies:
            return
        if event.failed:
            self._failed_first.setdefault(step_id, event.describe())
            return
        passed = CheckResult(True, event.at, event.describe())
        self.verified.append(Verified(step, passed, self._failed_first.get(step_id)))

    def _set(self, step_id: str, state: State, change: Change) -> None:
        if step_id not in self.states:
            return
        self.states[step_id] = state
        if state == "running":
            self.current = step_id
        if step_id not in change.steps:
            change.steps.append(step_id)
