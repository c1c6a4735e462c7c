"""Who and what a run asks: the operator, where a person must confirm, decide, tick or
write, and the probes its check steps look through."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from opsconsole.engine.decisions import Decision, Proposal
from opsconsole.engine.events import prompt
from opsconsole.runbooks.model import CommandStep, DecisionStep, ManualStep, NoteStep


@dataclass(frozen=True)
class Confirmation:
    """What the operator is shown before a destructive step, and must type to go on."""

    runbook: str
    step: CommandStep
    command: str
    """The fully rendered command, secrets redacted."""
    environment: str
    target: str
    """What the operator types to confirm: the value the command acts on."""
    host: str | None = None
    """The host of [[hosts]] it runs on; None for this machine."""

    @property
    def where(self) -> str:
        """The command as a prompt shows it: `app1 $ docker restart x` on a host."""
        return prompt(self.host, self.command)


class Operator(Protocol):
    """The person at the keyboard, as the wizard or a terminal presents them."""

    name: str

    async def confirm(self, request: Confirmation) -> bool: ...

    async def decide(self, step: DecisionStep, proposal: Proposal | None) -> Decision | None:
        """The chosen answer (with why, when it is not the proposed one); None to abort
        the run."""
        ...

    async def checklist(self, step: ManualStep) -> bool:
        """True when the operator has done it; False to abort the run."""
        ...

    async def note(self, step: NoteStep) -> str | None:
        """What they write; None to abort the run."""
        ...


class Probes(Protocol):
    async def probe(self, kind: str, target: str, on: str | None = None) -> object:
        """The value a check step looks at: an HTTP status, a PromQL or SQL scalar...; `on`,
        the backend to ask (a URL without a password), else the configured one."""
        ...
