"""The steady state of a drill: one look at whether it holds (and if not, why), and
waiting for it to hold or to break."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from opsconsole.config.model import Config
from opsconsole.drills.model import Drill, sandbox_values
from opsconsole.engine.probes import ConfiguredProbes
from opsconsole.engine.render import check_target, expectation_failure
from opsconsole.monitoring.monitor import Monitor
from opsconsole.monitoring.offers import describe

POLL_SECONDS = 1.0


@dataclass
class DrillOutcome:
    drill: str
    passed: bool = False
    reason: str = ""
    broke_after: float | None = None
    """Seconds from the injection to the steady state seen broken."""
    recovered_after: float | None = None
    """Seconds from the injection to the steady state seen holding again."""
    runbook_outcome: str | None = None
    said: list[str] = field(default_factory=list)


class SteadyStateCheck:
    """One look at whether the steady state holds, and if not, why."""

    def __init__(self, drill: Drill, config: Config, monitor: Monitor) -> None:
        self.drill = drill
        self.monitor = monitor
        self.probes = ConfiguredProbes(config)
        self.values = sandbox_values(config, drill.target, drill.fault)

    async def check(self) -> str | None:
        """Why it does not hold; None when it does."""
        # Each look reads the certificates anew, as `opsconsole status` does: the
        # dashboard's hour between reads would hide a certificate a drill replaced.
        self.monitor.health.forget_certificates()
        snapshot = await self.monitor.snapshot()
        everything = self.drill.steady_state.scope == "everything"
        breaching = [b for b in snapshot.breaches if everything or b.subject == self.drill.target]
        if breaching:
            return "; ".join(describe(b) for b in breaching)
        probe = self.drill.steady_state
        if probe.probe is None or probe.target is None:
            return None
        try:
            value = await self.probes.probe(
                probe.probe, check_target(probe.probe, probe.target, self.values)
            )
        except Exception as error:  # the world's failure is the steady state's failure
            return f"{probe.probe} probe failed: {error}"
        return expectation_failure(probe.expect, 0, str(value))


async def until(steady: SteadyStateCheck, *, holds: bool, seconds: float) -> str | None:
    """Waits for the steady state to hold (holds=True: returns None, or the last reason
    it did not) or to break (holds=False: returns why it broke, or None if it never did)."""
    deadline = time.monotonic() + seconds
    last: str | None = None
    while True:
        last = await steady.check()
        if holds and last is None:
            return None
        if not holds and last is not None:
            return last
        if time.monotonic() >= deadline:
            return last
        await asyncio.sleep(POLL_SECONDS)
