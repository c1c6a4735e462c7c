"""A rehearsal: a scenario with no fault (`fault = { kind = "none" }`), a change carried
out by its runbook in the sandbox (a deploy, a rollback). What it proves is that the
steady state holds before, through and after it: watched every poll while the runbook
runs, it may break for `steady_state.tolerate_seconds` in all (a container recreated
answers 503 for a moment), and must hold once the runbook is done."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from opsconsole.drills.model import Drill
from opsconsole.drills.steady import POLL_SECONDS, DrillOutcome, SteadyStateCheck, until
from opsconsole.engine.runner import Runner
from opsconsole.runbooks.model import Runbook


class BrokenTime:
    """How long the steady state was seen broken while the runbook ran, and the first
    reason it gave."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.first: str | None = None

    async def watch(self, steady: SteadyStateCheck) -> None:
        while True:
            started = time.monotonic()
            why = await steady.check()
            await asyncio.sleep(max(0.0, POLL_SECONDS - (time.monotonic() - started)))
            if why is not None:
                self.seconds += time.monotonic() - started
                self.first = self.first or why


async def rehearse(
    drill: Drill,
    runbook: Runbook,
    runner: Runner,
    steady: SteadyStateCheck,
    outcome: DrillOutcome,
    say: Callable[[str], None],
    fail: Callable[[str], DrillOutcome],
) -> DrillOutcome:
    if (why := await steady.check()) is not None:
        return fail(
            f"the steady state does not hold before the change ({why}): nothing to rehearse"
        )
    say(f"· steady state holds on {drill.target}; a rehearsal: no fault goes in")
    started = time.monotonic()
    broken = BrokenTime()
    watching = asyncio.ensure_future(broken.watch(steady))
    say(f"· running runbook {runbook.id}")
    running = asyncio.ensure_future(runner.run())
    try:
        finished, _ = await asyncio.wait({running}, timeout=drill.time_limit_seconds)
        if not finished:
            runner.abort()  # as a person would: its command ends, its rollback runs
            await running
            return fail(f"runbook {runbook.id} did not finish within the time limit")
    finally:
        watching.cancel()
    result = running.result()
    outcome.runbook_outcome = result.outcome
    if result.outcome != "completed":
        return fail(f"runbook {runbook.id} {result.outcome}: {result.reason}")
    remaining = drill.time_limit_seconds - (time.monotonic() - started)
    if (still := await until(steady, holds=True, seconds=max(1.0, remaining))) is not None:
        return fail(f"the steady state does not hold after the runbook: {still}")
    tolerated = drill.steady_state.tolerate_seconds
    said = f"broken for {broken.seconds:.0f} s of the run"
    if broken.seconds > tolerated:
        return fail(f"the steady state was {said}, over {tolerated:g} s: {broken.first}")
    outcome.recovered_after = time.monotonic() - started
    say(f"· steady state held through the change ({said}, {tolerated:g} s tolerated) and after")
    outcome.passed = True
    outcome.reason = "the change kept the steady state"
    return outcome
