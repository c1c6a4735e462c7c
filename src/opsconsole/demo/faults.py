"""The faults a demo service can be given: named apart from the servers, so that the
command line knows them without starting any."""

from __future__ import annotations

from enum import StrEnum


class Fault(StrEnum):
    NONE = "none"
    DOWN = "down"
    """The listener is closed: connections are refused."""
    SLOW = "slow"
    """Every request takes `slow_seconds` longer; the health check answers slowly too, but
    in time (`health_delay_seconds`)."""
    ERRORING = "erroring"
    """A share of requests fails with HTTP 500; health still answers 200, as real apps do."""
    FLAPPING = "flapping"
    """Alternates between answering and 503 every `flap_seconds`."""
    DEGRADED = "degraded"
    """Health answers 200 but reports a dependency unavailable (graceful degradation)."""


FAULTS = tuple(f.value for f in Fault if f is not Fault.NONE)
