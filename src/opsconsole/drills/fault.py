"""What every fault of a drill is, whichever backend it is put into."""

from __future__ import annotations

from typing import Any, Protocol


class Fault(Protocol):
    def record(self) -> dict[str, Any]:
        """All that undoing it needs, besides the configuration: no secret in it."""
        ...

    def inject(self) -> str:
        """Does it; says what it did."""
        ...

    def undo(self) -> str:
        """Undoes it, as far as it went; says what it did."""
        ...


def application_name(run: str) -> str:
    """How the drill's own PostgreSQL sessions are known, to end them after a crash."""
    return f"opsconsole drill {run}"


class FaultRefused(Exception):
    """The fault would do harm beyond the drill, or the target cannot take it."""
