"""Which piece of work holds which of a host's ssh sessions, so that work given up on can
end them. A read from ssh's pipe ignores the socket's timeout, and closing a stream does
not end the ssh behind it: a request the engine never answers, or a followed log that
stays quiet, holds its thread and its session until ssh dies. Work done inside
`serving(errand)` has the sessions it takes from the pool (sources/ssh_docker.py) noted
on the errand; `errand.abandon()` ends them, and the reads blocked on them return with
an error. Sessions are noted only while taken: one handed back serves others, and is
theirs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol


class Session(Protocol):
    def end(self) -> None:
        """Ends the session from any thread (its ssh killed): a read on it returns."""


class Errand:
    """One piece of work on a host's engine: a poll, or a follow of a log."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: set[Session] = set()
        self.abandoned = False

    def took(self, session: Session) -> None:
        with self._lock:
            self._held.add(session)
            abandoned = self.abandoned
        if abandoned:  # whatever still runs of it gets no answer either
            session.end()

    def gave_back(self, session: Session) -> None:
        with self._lock:
            self._held.discard(session)

    def abandon(self) -> bool:
        """Ends the sessions the errand holds, and those it takes from now on; whether it
        held any."""
        with self._lock:
            self.abandoned = True
            held = list(self._held)
        for session in held:
            session.end()
        return bool(held)


_errand: ContextVar[Errand | None] = ContextVar("opsconsole_errand", default=None)


def current() -> Errand | None:
    return _errand.get()


@contextmanager
def serving(errand: Errand) -> Iterator[None]:
    """The sessions taken in this context, and in threads started from a copy of it
    (asyncio.to_thread), are the errand's."""
    token = _errand.set(errand)
    try:
        yield
    finally:
        _errand.reset(token)
