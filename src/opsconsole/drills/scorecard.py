"""A trainee's drill, timed from the recorded moment of injection: when the first breach
showed, when an incident was opened, when the right runbook started, when the steady
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


@dataclass
class Scorecard:
    drill: Drill
    injected_at: datetime | None = None
    breach_seen: float | None = None
    """Seconds from injection to the first breach of the target on the dashboard."""
    incident_opened: float | None = None
    right_runbook: float | None = None
    recovered: float | None = None
    ended: float | None = None
    hints: int = 0
    steps_skipped: int = 0
    runbooks_tried: list[str] = field(default_factory=list)
    incident: str | None = None

    def since(self, now: datetime) -> float:
        return 0.0 if self.injected_at is None else (now - self.injected_at).total_seconds()

    def first(self, what: str, now: datetime) -> bool:
        """Notes the first time `what` happened; True if this was it."""
        if self.injected_at is None or getattr(self, what) is not None:
            return False
        setattr(self, what, self.since(now))
        return True

    def runbook_started(self, runbook: str, now: datetime) -> bool:
        self.runbooks_tried.append(runbook)
        return runbook == self.drill.runbook and self.first("right_runbook", now)

    def hint(self) -> str:
        """The next hint: where to look first, then which runbook."""
        self.hints += 1
        if self.hints == 1:
            return f"Hint: look at {self.drill.target} on the dashboard."
        return f"Hint: the runbook '{self.drill.runbook}' fixes this."

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
        if self.right_runbook is not None:
            points += RIGHT_RUNBOOK_POINTS
            lines.append(f"+{RIGHT_RUNBOOK_POINTS} the right runbook ({self.drill.runbook})")
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
                f"- right runbook started: {took(self.right_runbook)}",
                f"- steady state held again: {took(self.recovered)}",
                f"- runbooks run: {', '.join(self.runbooks_tried) or 'none'}",
                f"- hints used: {self.hints}; steps skipped: {self.steps_skipped}",
                "",
                "## Score",
                "",
                *(f"- {line}" for line in lines),
                "",
            ]
        )
