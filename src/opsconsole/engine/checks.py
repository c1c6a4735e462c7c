"""A check step: its probe asked, judged by its expectation, and, for a verifying check
right after a fix, asked again until the truth shows or its time is up.

A check over a 5-minute window, asked the moment a fix is in, still holds the incident's
slow or failing requests: it fails, and the run escalates a fix that worked. With
`within_seconds` it waits for the figure instead (`pause_seconds` before the first try,
then every `every_seconds`), each try shown with its value and the time left."""

from __future__ import annotations

import asyncio
import time

from opsconsole.common.redact import Redactor
from opsconsole.engine.control import RunControl, RunOptions
from opsconsole.engine.events import Emit, StepFinished, StepStarted
from opsconsole.engine.operator import Probes
from opsconsole.engine.render import (
    ParamError,
    backend_url,
    captured_values,
    check_target,
    expectation_failure,
)
from opsconsole.runbooks.model import CheckStep

SINCE_FIX = "since_fix"
"""A placeholder every check may use, of no runbook's declaring (`check` knows it)."""
MIN_WINDOW_SECONDS = 30
"""Shortest window `{since_fix}` gives: rate() needs two scrapes in it (15 s apart)."""


class CheckSteps:
    """The check steps of one run, which share its values with its commands."""

    def __init__(
        self,
        values: dict[str, str],
        probes: Probes | None,
        options: RunOptions,
        redact: Redactor,
        emit: Emit,
        control: RunControl,
    ) -> None:
        self.values = values
        self.probes = probes
        self.options = options
        self.redact = redact
        self.emit = emit
        self.control = control

    async def run(self, step: CheckStep) -> str | None:
        """Why the check failed (its last try, if it waits); None when it held."""
        try:
            target = self._target(step)
            on = backend_url(step.on, self.values) if step.on is not None else None
        except KeyError as missing:
            return f"needs {{{missing.args[0]}}}, which no step before it captured"
        except ParamError as refused:
            return str(refused)
        shown = self.redact(target if on is None else f"{target}  (on {on})")
        if self.options.dry_run:
            self.emit(StepStarted, step.id, probe=step.probe, target=shown, dry_run=True)
            self.emit(StepFinished, step.id, dry_run=True)
            return None
        deadline = time.monotonic() + (step.pause_seconds + (step.within_seconds or 0))
        attempt = 1
        while True:
            waits = step.within_seconds is not None
            left = max(0.0, deadline - time.monotonic()) if waits else None
            self.emit(
                StepStarted, step.id, probe=step.probe, target=shown,
                attempt=attempt if waits else None, seconds_left=left,
                pause=step.pause_seconds if attempt == 1 and step.pause_seconds else None,
            )  # fmt: skip
            if attempt == 1 and step.pause_seconds:
                await self.control.ask(asyncio.sleep(step.pause_seconds))
            target = self._target(step)  # {since_fix} has grown
            failure, value = await self._try(step, target, on)
            values = captured_values(step.capture, str(value)) if failure is None else {}
            self.values.update(values)
            seen = None if value is None else self.redact(str(value))
            self.emit(
                StepFinished, step.id, error=failure, value=seen, captured=values,
                attempt=attempt if waits else None,
            )  # fmt: skip
            if failure is None or not waits or time.monotonic() + step.every_seconds > deadline:
                return failure
            await self.control.ask(asyncio.sleep(step.every_seconds))
            attempt += 1

    def _target(self, step: CheckStep) -> str:
        """The target as asked now: `{since_fix}` is the time since the fix, as a PromQL
        range (`93s`, at least MIN_WINDOW_SECONDS, at most an hour): a window that holds
        only what came after the fix, not the fault before it."""
        seconds = min(3600, max(MIN_WINDOW_SECONDS, round(self.control.since_fix())))
        values = {**self.values, SINCE_FIX: f"{seconds}s"}
        return check_target(step.probe, step.target, values)

    async def _try(self, step: CheckStep, target: str, on: str | None) -> tuple[str | None, object]:
        if self.probes is None:
            return f"no {step.probe} probe here", None
        try:
            value = await self.probes.probe(step.probe, target, on)
        except Exception as error:  # the world's failures are the step's failure
            # A driver's message may quote the connection string it was given.
            return self.redact(f"{step.probe} probe failed: {error}"), None
        return expectation_failure(step.expect, 0, str(value)), value
