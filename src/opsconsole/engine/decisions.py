"""A decision that proposes its answer from what the run has seen: the first answer whose
`when` holds on the captured values, with those values as its evidence. A person at 3
a.m. who was shown `OOMKilled=true` in a note and then picked "exited or crashed" started
the container into another OOM; now the evidence picks, and the person confirms it or
overrules it with a reason, which the incident log keeps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from opsconsole.engine.render import holds, limit, render
from opsconsole.runbooks.model import Answer, Condition, DecisionStep
from opsconsole.runbooks.placeholders import placeholders

SHOWN_VALUE_CHARS = 60
"""A captured value longer than this (a log line) is cut in the evidence: the output above
has it whole."""


@dataclass(frozen=True)
class Proposal:
    answer: Answer
    evidence: tuple[str, ...]
    """Each condition that holds, as read: `oom = 'true' (equals true)`."""

    def said(self) -> str:
        return "; ".join(self.evidence)


@dataclass(frozen=True)
class Decision:
    answer: Answer
    reason: str | None = None
    """Why the operator chose another answer than the proposed one; None when they took it,
    or when nothing was proposed."""


def propose(step: DecisionStep, values: Mapping[str, str]) -> Proposal | None:
    for answer in step.answers:
        if answer.when and all(holds(condition, values) for condition in answer.when):
            return Proposal(answer, tuple(evidence(c, values) for c in answer.when))
    return None


def evidence(condition: Condition, values: Mapping[str, str]) -> str:
    names = placeholders(condition.value)
    subject = names[0] if len(names) == 1 and condition.value == f"{{{names[0]}}}" else None
    seen = render(condition.value, values)
    if len(seen) > SHOWN_VALUE_CHARS:
        seen = seen[: SHOWN_VALUE_CHARS - 1] + "…"
    tests = [
        f"{word} {_shown(value)}"
        for word, value in (
            ("equals", condition.equals),
            ("not", condition.not_equals),
            ("matches", condition.matches),
            ("above", _limit(condition.above, values)),
            ("below", _limit(condition.below, values)),
            ("at least", _limit(condition.at_least, values)),
            ("one of", ", ".join(condition.one_of) if condition.one_of else None),
        )
        if value is not None
    ]
    return f"{subject or condition.value} = {seen!r} ({', '.join(tests)})"


def _limit(given: float | str | None, values: Mapping[str, str]) -> float | str | None:
    """The limit as it was compared: a template's number (`below 70`, disk_percent's)."""
    try:
        return limit(given, values)
    except (KeyError, ValueError):
        return given


def _shown(value: object) -> str:
    """A word as it reads (`equals true`); an empty or padded text quoted (`equals ''`)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # `above 0`, as the runbook says it, not `above 0.0`
    text = str(value)
    return repr(text) if isinstance(value, str) and (not text or text.strip() != text) else text
