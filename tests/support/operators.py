"""An operator scripted by a test: it stands in for the person at the keyboard (the one
thing no server can play); everything it answers is what a person could have typed."""

from __future__ import annotations

from dataclasses import dataclass, field

from opsconsole.engine.decisions import Decision, Proposal
from opsconsole.engine.operator import Confirmation
from opsconsole.runbooks.model import DecisionStep, ManualStep, NoteStep

PROPOSED = -1
"""An answer index that takes what the decision proposes."""


@dataclass
class ScriptedOperator:
    name: str = "alice"
    confirm_with: str | None = None
    """What the operator types at a confirmation; None: they type nothing."""
    answers: list[int] = field(default_factory=list)
    """The answer index at each decision, in order (PROPOSED: the proposed one)."""
    reasons: list[str] = field(default_factory=list)
    """Why, at each decision where the answer is not the proposed one."""
    proposals: list[Proposal | None] = field(default_factory=list)
    """What each decision proposed, as it was asked."""
    notes: list[str] = field(default_factory=list)
    asked: list[Confirmation] = field(default_factory=list)

    async def confirm(self, request: Confirmation) -> bool:
        self.asked.append(request)
        return self.confirm_with == request.target

    async def decide(self, step: DecisionStep, proposal: Proposal | None) -> Decision | None:
        self.proposals.append(proposal)
        if not self.answers:
            return None
        index = self.answers.pop(0)
        if index == PROPOSED:
            return None if proposal is None else Decision(proposal.answer)
        answer = step.answers[min(index, len(step.answers) - 1)]
        if proposal is None or answer == proposal.answer:
            return Decision(answer)
        return Decision(
            answer, self.reasons.pop(0) if self.reasons else "the operator knows better"
        )

    async def checklist(self, step: ManualStep) -> bool:
        return True

    async def note(self, step: NoteStep) -> str | None:
        return self.notes.pop(0) if self.notes else None
