"""Every configured source polled on its own clock, each reading filed on the board, and
whoever listens told what changed. No Textual: the app starts it, screens listen and
redraw, the incident session and a drill hear the breaches.

A source's next poll is armed only when the last one is back, so polls of a source never
overlap, and a failing source is asked less and less often (the board's backoff). Polls
keep a beat: the next is due one interval after the last was due, not after it ended,
and not after its timer happened to fire. Sources started together stay together instead
of drifting apart by their durations, so a screen can draw their readings once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from opsconsole.monitoring.board import Board
from opsconsole.monitoring.monitor import Monitor
from opsconsole.monitoring.snapshot import Breach
from opsconsole.sources.base import read
from opsconsole.sources.disk import DISK_TIMEOUT_SECONDS

HEALTH = "health"
"""The health checks' clock; the others are named as the board files them (`metrics`,
`postgres`, `redis`, `containers`, `disk`)."""


@dataclass
class Clock:
    """One source's beat."""

    run: Callable[[], Awaitable[Any]]
    timeout: float
    busy: bool = False
    due: float = 0.0
    """time.monotonic() when the poll in flight, or the next one, is meant to start."""
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    """Set to start the next poll now."""

    def next_wait(self, delay: float, interval: float, now: float) -> float:
        """Seconds from `now` to the next start, `delay` after the last was due; never less
        than half an interval, so a slow source is not asked again straight away (it then
        takes a new beat)."""
        wait = max(self.due + delay - now, interval / 2)
        self.due = now + wait
        return wait

    def pending(self, now: float, within: float) -> bool:
        """In flight, or due to start within `within` seconds."""
        return self.busy or self.due - now < within


@dataclass(frozen=True)
class Polled:
    """One poll of one source came back and is on the board."""

    source: str
    error: str | None = None
    """Why the health round itself failed (a bug of ours: each check turns the world's
    failures into DOWN); a backend's failure is on the board, as its reading."""
    breaches: list[Breach] | None = None
    """What breaches now, when it is not the same set of (subject, signal) as before."""


Listener = Callable[[Polled], None]


class Poller:
    def __init__(self, monitor: Monitor, board: Board) -> None:
        self.monitor = monitor
        self.board = board
        self.interval = monitor.config.console.refresh_seconds
        self.clocks = self._clocks()
        self.breaches: list[Breach] = []
        self._breaching: frozenset[tuple[str, str]] = frozenset()
        self._listeners: list[Listener] = []
        self._tasks: list[asyncio.Task[None]] = []

    def _clocks(self) -> dict[str, Clock]:
        config, monitor = self.monitor.config, self.monitor
        health_timeout = max([config.health_timeout(s) for s in config.services], default=2.0)
        # Looked up at each poll, not bound once: a source may be replaced by a test's own.
        clocks = {HEALTH: Clock(lambda: monitor.health.check_all(), health_timeout + 1)}
        slow_backend = config.thresholds.health_timeout_seconds + 4
        timeouts = {
            "metrics": (config.prometheus.timeout_seconds if config.prometheus else 5.0) + 1,
            "postgres": slow_backend,
            "redis": slow_backend,
            # Stats come at the daemon's next once-a-second round: room for two.
            "containers": 10.0,
            # The source says a read that has not come back itself, with its last value.
            "disk": DISK_TIMEOUT_SECONDS + 1,
        }
        for source, poll in monitor.polls().items():
            clocks[source] = Clock(poll, timeouts[source])
        return clocks

    def continue_from(self, old: Poller) -> None:
        """Takes up the breaches `old` last told of: the first poll tells what changed
        since then, not everything again."""
        self.breaches = old.breaches
        self._breaching = old._breaching

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Calls `listener` on the loop after each poll is filed; returns how to stop."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def start(self) -> None:
        """Every source's first poll now, then each on its beat. On the running loop."""
        now = time.monotonic()
        for source, clock in self.clocks.items():
            clock.due = now
            self._tasks.append(asyncio.create_task(self._keep(source, clock)))

    def poll_now(self) -> None:
        """A new beat for every source: the poll in flight is as fresh as a new one."""
        now = time.monotonic()
        for clock in self.clocks.values():
            if not clock.busy:
                clock.due = now
                clock.wake.set()

    def pending(self, source: str, within: float) -> bool:
        """Is `source` in flight or due within `within` seconds (False if not polled)?"""
        clock = self.clocks.get(source)
        return clock is not None and clock.pending(time.monotonic(), within)

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _keep(self, source: str, clock: Clock) -> None:
        while True:
            clock.busy = True
            reading = await read(clock.run, clock.timeout)
            clock.wake.clear()  # before it is not busy: a "poll now" from then on counts
            clock.busy = False
            delay, error = self._file(source, reading)
            wait = clock.next_wait(delay, self.interval, time.monotonic())
            self._tell(Polled(source, error, self._breaches_changed()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(clock.wake.wait(), wait)

    def _file(self, source: str, reading: Any) -> tuple[float, str | None]:
        """Files a reading; the delay to the next poll, and a failed round's reason."""
        if source == HEALTH:
            if reading.value is None:
                return self.interval * 2, reading.error
            self.board.observe_health(reading.value)
            return self.interval, None
        return self.board.observe(source, reading).next_delay(self.interval), None

    def _breaches_changed(self) -> list[Breach] | None:
        self.breaches = self.board.breaches()
        breaching = frozenset((b.subject, b.signal) for b in self.breaches)
        if breaching == self._breaching:
            return None
        self._breaching = breaching
        return self.breaches

    def _tell(self, polled: Polled) -> None:
        for listener in list(self._listeners):
            listener(polled)
