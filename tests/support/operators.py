"""An operator scripted by a test: it stands in for the person at the keyboard (the one
thing no server can play); everything it answers is what a person could have typed."""

from __future__ import annotations

from dataclasses import dataclass, field

from opsconsole.engine.operator import Confirmation
from opsconsole.runbooks.model import Answer, DecisionStep, ManualStep, NoteStep


@dataclass
class ScriptedOperator:
    name: str = "alice"
    confirm_with: str | None = None
    """What the operator types at a confirmation; None: they type nothing."""
    answers: list[int] = field(default_factory=list)
    """The answer index at each decision, in order."""
    notes: list[str] = field(default_factory=list)
    asked: list[Confirmation] = field(default_factory=list)

    async def confirm(self, request: Confirmation) -> bool:
        self.asked.append(request)
        return self.confirm_with == request.target

    async def decide(self, step: DecisionStep) -> Answer | None:
        if not self.answers:
            return None
        return step.answers[min(self.answers.pop(0), len(step.answers) - 1)]

    async def checklist(self, step: ManualStep) -> bool:
        return True

    async def note(self, step: NoteStep) -> str | None:
        return self.notes.pop(0) if self.notes else None
