"""A trainee's drill, timed from the recorded moment of injection: when the first breach
showed, when an incident was opened, when a run of the right runbook completed, when the steady
state held again; hints taken and steps skipped; and the score all that adds up to.
Nothing here reads a clock or does I/O: the app tells it what happened and when."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from opsconsole.common.readable import duration
from opsconsole.drills.model import Drill

# What the score weighs, out of 100: recovering at all matters most; then finding it,
# then knowing which runbook fixes it; hints and skipped steps cost a little each.
RECOVERED_POINTS = 50
DETECTED_POINTS = 20
RIGHT_RUNBOOK_POINTS = 20
PROCESS_POINTS = 10
HINT_COST = 5
SKIPPED_STEP_COST = 2


@dataclass(frozen=True)
class Run:
    runbook: str
    outcome: str
    """completed, failed or aborted."""
    failed: tuple[str, ...] = ()
    """The steps that failed, by title."""

    def said(self) -> str:
        failed = f" (failed: {'; '.join(self.failed)})" if self.failed else ""
        return f"{self.runbook}: {self.outcome}{failed}"


@dataclass
class Scorecard:
    drill: Drill
    runbook_title: str = ""
    """The fixing runbook as the palette names it, for the hint."""
    injected_at: datetime | None = None
    breach_seen: float | None = None
    """Seconds from injection to the first breach of the target on the dashboard."""
    incident_opened: float | None = None
    right_runbook: float | None = None
    """When a run of the runbook that fixes it completed: a run that failed or was
    aborted is no fix, whatever runbook it was."""
    recovered: float | None = None
    ended: float | None = None
    hints: int = 0
    steps_skipped: int = 0
    runbooks_tried: list[str] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    incident: str | None = None

    def since(self, now: datetime) -> float:
        return 0.0 if self.injected_at is None else (now - self.injected_at).total_seconds()

    def first(self, what: str, now: datetime) -> bool:
        """Notes the first time `what` happened; True if this was it."""
        if self.injected_at is None or getattr(self, what) is not None:
            return False
        setattr(self, what, self.since(now))
        return True

    def runbook_started(self, runbook: str, now: datetime) -> None:
        self.runbooks_tried.append(runbook)

    def run_ended(self, run: Run, now: datetime) -> None:
        self.runs.append(run)
        if run.runbook == self.drill.runbook and run.outcome == "completed":
            self.first("right_runbook", now)

    def hint(self) -> str:
        """The next hint: where to look first, then which runbook."""
        self.hints += 1
        if self.hints == 1:
            return f"Hint: look at {self.drill.target} on the dashboard."
        named = self.runbook_title or self.drill.runbook
        return f"Hint: the runbook '{named}' fixes this: Ctrl+P, Runbook: {named}."

    def score(self) -> tuple[int, list[str]]:
        limit = self.drill.time_limit_seconds
        lines = []
        points = 0
        if self.recovered is not None and self.recovered <= limit:
            points += RECOVERED_POINTS
            lines.append(f"+{RECOVERED_POINTS} recovered in {duration(self.recovered)}")
        else:
            lines.append(f"+0 not recovered within {duration(limit)}")
        if self.incident_opened is not None:
            earned = round(DETECTED_POINTS * max(0.0, 1 - self.incident_opened / limit))
            points += earned
            lines.append(f"+{earned} incident opened after {duration(self.incident_opened)}")
        else:
            lines.append("+0 no incident opened")
        tried = [run for run in self.runs if run.runbook == self.drill.runbook]
        if self.right_runbook is not None:
            points += RIGHT_RUNBOOK_POINTS
            lines.append(f"+{RIGHT_RUNBOOK_POINTS} the right runbook ({self.drill.runbook})")
        elif tried:
            lines.append(f"+0 the runbook that fixes it did not complete: {tried[-1].said()}")
        else:
            lines.append(f"+0 the runbook that fixes it ({self.drill.runbook}) was not run")
        process = max(
            0, PROCESS_POINTS - HINT_COST * self.hints - SKIPPED_STEP_COST * self.steps_skipped
        )
        points += process
        lines.append(f"+{process} process ({self.hints} hints, {self.steps_skipped} steps skipped)")
        return points, lines

    def report(self) -> str:
        """The drill report, in Markdown."""
        score, lines = self.score()

        def took(seconds: float | None) -> str:
            return "never" if seconds is None else duration(seconds)

        started = f"{self.injected_at:%Y-%m-%d %H:%M:%S} UTC" if self.injected_at else "never"
        return "\n".join(
            [
                f"# Drill report: {self.drill.title}",
                "",
                f"- **Scenario:** {self.drill.id} (target {self.drill.target}, "
                f"fault {self.drill.fault.kind})",
                f"- **Fault injected:** {started}",
                f"- **Score:** {score} / 100",
                f"- **Incident:** {self.incident or 'none opened'}",
                "",
                "## Timings (from the injection)",
                "",
                f"- first breach on the dashboard: {took(self.breach_seen)}",
                f"- incident opened: {took(self.incident_opened)}",
                f"- the right runbook completed: {took(self.right_runbook)}",
                f"- steady state held again: {took(self.recovered)}",
                f"- hints used: {self.hints}; steps skipped: {self.steps_skipped}",
                "",
                "## Runs",
                "",
                *([f"- {run.said()}" for run in self.runs] or ["- none"]),
                "",
                "## Score",
                "",
                *(f"- {line}" for line in lines),
                "",
            ]
        )
