"""What an incident session says it did: the words for the operator, a status proposed,
a check to hold; and the end of a run it hears of. Plain data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from opsconsole.engine.runner import RunResult
from opsconsole.incidents.holding import CheckResult, Hold, Verified, VerifyingCheck
from opsconsole.incidents.model import Status
from opsconsole.runbooks.model import Runbook


@dataclass(frozen=True)
class Said:
    """Something to tell the operator."""

    text: str
    severity: Literal["information", "warning", "error"] = "information"
    title: str = ""
    timeout: float | None = None


@dataclass(frozen=True)
class Proposal:
    """A status the evidence calls for, put to the operator; answered with `answer`."""

    to: Status
    question: str
    lines: list[str]
    data: dict[str, Any]
    check: VerifyingCheck | None = None
    """For MONITORING: the check to run again while it holds."""
    first: CheckResult | None = None
    hold: Hold | None = None
    """For RESOLVED: the hold that held."""


@dataclass
class Done:
    said: list[Said] = field(default_factory=list)
    proposal: Proposal | None = None
    hold_started: bool = False
    """A verifying check is to be run again, every [incidents] recheck_seconds."""

    def merge(self, other: Done | None) -> Done:
        if other is not None:
            self.said.extend(other.said)
            self.proposal = self.proposal or other.proposal
            self.hold_started |= other.hold_started
        return self


@dataclass(frozen=True)
class RunEnd:
    """A runbook run in the wizard is over."""

    runbook: Runbook
    result: RunResult
    verified: list[Verified]
    """Its verifying steps that passed, the last one last."""
    left_undone: int
    """Steps still to come when the run was aborted."""
    failed: list[str] = field(default_factory=list)
    """The titles of the steps that failed, in the order they ran."""
