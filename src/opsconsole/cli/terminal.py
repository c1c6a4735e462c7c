"""`opsconsole run`: the engine in a plain terminal. Output streams to stdout as it comes;
confirmations, decisions and notes are asked on the terminal, or answered by --yes."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import TextIO

from opsconsole.engine.events import Event, EventKind
from opsconsole.engine.process import OutputLine
from opsconsole.engine.runner import Confirmation
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
        # input() blocks: off the loop, so a running timer or signal is not held up.
        return await asyncio.to_thread(self._ask, prompt)

    async def confirm(self, request: Confirmation) -> bool:
        self.say(
            f"\n!! destructive: {request.step.title}\n"
            f"   {request.step.description}\n"
            f"   environment: {request.environment}\n"
            f"   $ {request.command}"
        )
        if self.assume_yes:
            self.say("   confirmed by --yes")
            return True
        typed = await self._line(f"   type {request.target!r} to run it, anything else stops: ")
        return typed is not None and typed.strip() == request.target

    async def decide(self, step: DecisionStep) -> Answer | None:
        self.say(f"\n?? {step.question}")
        for number, answer in enumerate(step.answers, 1):
            self.say(f"   {number}. {answer.label}")
        if self.assume_yes:
            self.say("   a decision needs a person: --yes does not choose for you")
            return None
        while True:
            typed = await self._line("   answer (number, empty stops): ")
            if typed is None or not typed.strip():
                return None
            if typed.strip().isdigit() and 1 <= int(typed) <= len(step.answers):
                return step.answers[int(typed) - 1]

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


def _read_line(prompt: str) -> str | None:
    if not sys.stdin.isatty():
        return None  # nobody to ask: stopping is the safe answer
    try:
        return input(prompt)
    except EOFError:
        return None


def printer(out: TextIO) -> Callable[[Event], None]:
    """Shows events as they happen: a step's command, its output, how it ended."""

    def show(event: Event) -> None:
        detail = event.detail
        if event.kind is EventKind.STEP_STARTED:
            what = detail.get("command") or f"{detail.get('probe')} {detail.get('target')}"
            dry = "  (dry run: not executed)" if detail.get("dry_run") else ""
            print(f"\n>> {event.step}\n   $ {what}{dry}", file=out)
        elif event.kind is EventKind.OUTPUT:
            lines: list[OutputLine] = detail["lines"]
            out.write("".join(_output(line) for line in lines))
        elif event.kind is EventKind.STEP_FINISHED and not detail.get("dry_run"):
            error = detail.get("error")
            took = f" in {detail['duration']:.1f} s" if "duration" in detail else ""
            code = f"exit {detail['exit_code']}" if "exit_code" in detail else "checked"
            mark = f"FAILED: {error}" if error else "ok"
            print(f"   {code}{took}: {mark}", file=out)
        elif event.kind is EventKind.STEP_SKIPPED:
            print(f"\n-- {event.step} skipped: {detail.get('reason')}", file=out)
        elif event.kind is EventKind.REFUSED:
            print(f"   refused ({detail.get('reason')})", file=out)
        elif event.kind is EventKind.ROLLBACK_STARTED:
            print("\n<< rolling back", file=out)
        elif event.kind is EventKind.RUN_FINISHED:
            print(f"\n== {event.runbook}: {detail['outcome']} ({detail['reason']})", file=out)
        out.flush()

    return show


def _output(line: OutputLine) -> str:
    prefix = "   " if line.stream == "stdout" else "   ! "
    return f"{prefix}{line.text}\n"
