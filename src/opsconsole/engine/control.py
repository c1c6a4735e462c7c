"""What a run is told before it starts (RunOptions) and while it runs: abort, which kills
the command under way, or stop, which lets it finish (RunControl)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from opsconsole.config.model import HostSection

T = TypeVar("T")


@dataclass
class RunOptions:
    environment: str
    artifacts: Path
    dry_run: bool = False
    """Render and show every command; run none."""
    read_only: bool = False
    """Refuse every destructive step outright."""
    hosts: Mapping[str, HostSection] = field(default_factory=dict)
    """The configuration's [[hosts]] by name: where a step's `host` may send it."""


class Aborted(Exception):
    """The operator stopped the run."""


class RunControl:
    def __init__(self) -> None:
        self.aborting = False
        self._stop_reason: str | None = None
        self._rolling_back = False
        self._current: asyncio.Task[Any] | None = None
        self.started_at = time.monotonic()
        self.fixed_at: float | None = None
        """When the run's last destructive step succeeded: the fix."""

    def fixed(self) -> None:
        self.fixed_at = time.monotonic()

    def since_fix(self) -> float:
        """Seconds since the fix (since the run began, if nothing was changed yet)."""
        return time.monotonic() - (self.fixed_at or self.started_at)

    def abort(self) -> None:
        """The command running now is ended (its process group killed by its cancel);
        during the rollback, nothing: the rollback is what an abort leads to."""
        if self._rolling_back:
            return
        self.aborting = True
        if self._current is not None:
            self._current.cancel()

    def stop(self, reason: str) -> None:
        """Ends the run at the next step, as an abort does, but lets the command running
        now finish: for when the run must not go on (its record cannot be written) and
        killing a half-done `docker restart` would only make things worse. A rollback
        under way runs to its end."""
        if not self._rolling_back and self._stop_reason is None:
            self._stop_reason = reason

    @property
    def stopping(self) -> bool:
        return self.aborting or self._stop_reason is not None

    def raise_if_stopping(self) -> None:
        if self.aborting:
            raise Aborted("aborted by the operator")
        if self._stop_reason is not None:
            raise Aborted(self._stop_reason)

    def rolling_back(self) -> None:
        """Rollback runs even after an abort or a stop, and neither ends it."""
        self.aborting = False
        self._stop_reason = None
        self._rolling_back = True

    async def ask(self, question: Coroutine[Any, Any, T]) -> T:
        """The operator's answer to `question`; an abort meanwhile stops the wait (the
        engineer pressed Ctrl+C at a prompt: the run ends as aborted, its rollback runs)."""
        try:
            return await self.run(question)
        except asyncio.CancelledError:
            if not self.aborting:
                raise
            raise Aborted("aborted by the operator") from None

    async def run(self, work: Coroutine[Any, Any, T]) -> T:
        """`work` as the task an abort cancels."""
        task = asyncio.create_task(work)
        self._current = task
        try:
            return await task
        finally:
            self._current = None
