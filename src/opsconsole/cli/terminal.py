"""`opsconsole run`: the engine in a plain terminal. Output streams to stdout as it comes;
confirmations, decisions and notes are asked on the terminal, or answered by --yes."""

from __future__ import annotations

import asyncio
import shlex
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from opsconsole.engine.decisions import Decision, Proposal
from opsconsole.engine.events import (
    Checklist,
    Decided,
    Event,
    Output,
    Refused,
    RollbackStarted,
    RunFinished,
    RunStarted,
    StepFinished,
    StepSkipped,
    StepStarted,
)
from opsconsole.engine.operator import Confirmation
from opsconsole.runbooks.model import Answer, DecisionStep, ManualStep, NoteStep


class TerminalOperator:
    def __init__(
        self,
        name: str,
        assume_yes: bool,
        out: TextIO = sys.stdout,
        ask: Callable[[str], str | None] | None = None,
    ) -> None:
        self.name = name
        self.assume_yes = assume_yes
        self.out = out
        self._ask = ask or _read_line

    async def _line(self, prompt: str) -> str | None:
        # input() blocks: off the loop, so a running timer or signal is not held up; in a
        # daemon thread, so that a run aborted at a prompt (Ctrl+C) can end without
        # waiting for a line that will never be typed.
        loop = asyncio.get_running_loop()
        answered: asyncio.Future[str | None] = loop.create_future()

        def read() -> None:
            try:
                line = self._ask(prompt)
            except BaseException as error:
                loop.call_soon_threadsafe(_settle, answered, None, error)
            else:
                loop.call_soon_threadsafe(_settle, answered, line, None)

        threading.Thread(target=read, name="opsconsole-prompt", daemon=True).start()
        return await answered

    async def confirm(self, request: Confirmation) -> bool:
        self.say(
            f"\n!! destructive: {request.step.title}\n"
            f"   {request.step.description}\n"
            f"   environment: {request.environment}\n"
            f"   {request.where}"
        )
        if self.assume_yes:
            self.say("   confirmed by --yes")
            return True
        typed = await self._line(f"   type {request.target!r} to run it, anything else stops: ")
        return typed is not None and typed.strip() == request.target

    async def decide(self, step: DecisionStep, proposal: Proposal | None) -> Decision | None:
        self.say(f"\n?? {step.question}")
        proposed = proposal.answer if proposal else None
        for number, answer in enumerate(step.answers, 1):
            self.say(
                f"   {number}. {answer.label}" + ("  <- proposed" if answer == proposed else "")
            )
        if proposal is not None:
            self.say(f"   proposed from {proposal.said()}")
        if self.assume_yes:
            # --yes answers confirmations; a branch chosen from captured output, with
            # destructive steps behind it and nobody to read the evidence, is not a yes.
            self.say("   a decision needs a person: --yes does not choose for you")
            return None
        if proposal is None:
            prompt = "   answer (number, empty stops): "
        else:
            number = step.answers.index(proposal.answer) + 1
            prompt = f"   answer (number, empty takes {number}, 'stop' stops): "
        while True:
            typed = await self._line(prompt)
            if typed is None or typed.strip().lower() == "stop":
                return None
            if not typed.strip():
                if proposal is None:
                    return None
                return Decision(proposal.answer)
            if typed.strip().isdigit() and 1 <= int(typed) <= len(step.answers):
                chosen = step.answers[int(typed) - 1]
                if proposal is None or chosen == proposal.answer:
                    return Decision(chosen)
                return await self._overruled(chosen, proposal)

    async def _overruled(self, chosen: Answer, proposal: Proposal) -> Decision | None:
        while True:
            why = await self._line(
                f"   why not {proposal.answer.label!r}? (kept in the incident log) "
            )
            if why is None:
                return None
            if why.strip():
                return Decision(chosen, why.strip())

    async def checklist(self, step: ManualStep) -> bool:
        self.say(f"\n[] {step.title}" + (f"\n   {step.description}" if step.description else ""))
        for item in step.checklist:
            self.say(f"   - {item}")
        if self.assume_yes:
            return True
        typed = await self._line("   done? [y/N] ")
        return typed is not None and typed.strip().lower() in ("y", "yes")

    async def note(self, step: NoteStep) -> str | None:
        if self.assume_yes:
            return ""
        return await self._line(f"\n.. {step.prompt}\n   ")

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)


def _settle(
    answered: asyncio.Future[str | None], line: str | None, error: BaseException | None
) -> None:
    if answered.done():
        return  # the run was aborted while the prompt waited
    if error is not None:
        answered.set_exception(error)
    else:
        answered.set_result(line)


def _read_line(prompt: str) -> str | None:
    # No terminal (a pipe, /dev/null, or standard input closed: then there is no
    # sys.stdin at all): nobody to ask, and stopping is the safe answer.
    if sys.stdin is None or not sys.stdin.isatty():
        return None
    try:
        return input(prompt)
    except EOFError:
        return None


def printer(out: TextIO, checklists: bool = False) -> Callable[[Event], None]:
    """Shows events as they happen: a step's command, its output, how it ended. What is
    asked of the operator, the operator shows (TerminalOperator); with `checklists`, a
    manual step's items too, for a run nobody is asked in (a drill's --auto)."""

    first: list[str] = []
    """The runbook run: a step of a runbook it runs is named with that runbook's id."""

    def show(event: Event) -> None:
        first[:] = first or [event.runbook]
        step = event.step if event.runbook == first[0] else f"{event.runbook}/{event.step}"
        if isinstance(event, RunStarted) and event.runbook != first[0]:
            print(f"\n>> {event.runbook}: {event.describe()}", file=out)
        elif isinstance(event, StepStarted):
            print(f"\n>> {step}\n   {event.describe()}", file=out)
            if event.dry_run and event.host and event.argv:
                # What would run here, whole: ssh, its options, the quoted remote line.
                print(f"   via: {shlex.join(event.argv)}", file=out)
        elif isinstance(event, Output):
            out.write("".join(f"   {line}\n" for line in event.marked()))
        elif isinstance(event, StepFinished) and not event.dry_run:
            # The dry run's start already said it was not executed.
            print(f"   {'FAILED' if event.failed else 'ok'}: {event.describe()}", file=out)
        elif isinstance(event, StepSkipped):
            print(f"\n-- {step}: {event.describe()}", file=out)
        elif isinstance(event, Refused):
            print(f"   {event.describe()}", file=out)
        elif isinstance(event, Decided):  # what the log keeps of it, the answer and why
            print(f"   decided: {event.describe()}", file=out)
        elif isinstance(event, Checklist):
            count = len(event.items)
            print(f"\n[] {step}: {event.describe()} ({count} item{'s' * (count != 1)})", file=out)
            if checklists:
                out.write("".join(f"   - {item}\n" for item in event.items))
        elif isinstance(event, RollbackStarted):
            print(f"\n<< {event.describe()}", file=out)
        elif isinstance(event, RunFinished):
            print(f"\n== {event.runbook}: {event.describe()}", file=out)
        out.flush()

    return show
