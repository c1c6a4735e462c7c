"""What the console knows of each service over time: its state, since when, last good."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from opsconsole.sources.readings import HealthCheck, HealthState

FLAP_WINDOW = timedelta(minutes=5)
FLAP_CHANGES = 3
"""Changes of state within FLAP_WINDOW that make a service FLAPPING: down, up and down
again. One outage and its recovery are two, and no flapping."""


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    latest: HealthCheck | None = None
    """None until the first check has come back."""
    since: datetime | None = None
    """When the current state was first seen."""
    began_before_since: bool = True
    """True while the state has held since the very first check: it may have begun
    long before the console was started, so `since` is a lower bound."""
    last_good: HealthCheck | None = None
    """The last check that found it UP."""
    changes: tuple[datetime, ...] = ()
    """When its state changed, within FLAP_WINDOW of the latest check."""

    def observe(self, check: HealthCheck) -> ServiceStatus:
        changed = self.latest is not None and self.latest.state is not check.state
        recent = (*self.changes, check.checked_at) if changed else self.changes
        horizon = check.checked_at - FLAP_WINDOW
        return replace(
            self,
            latest=check,
            since=check.checked_at if changed or self.since is None else self.since,
            began_before_since=self.began_before_since and not changed,
            last_good=check if check.state is HealthState.UP else self.last_good,
            changes=tuple(at for at in recent if at >= horizon),
        )

    @property
    def flapping(self) -> bool:
        """Up and down again and again: each state is not news, the flapping is."""
        return len(self.changes) >= FLAP_CHANGES

    @property
    def flapping_since(self) -> datetime | None:
        return self.changes[0] if self.flapping else None


def observe_all(
    statuses: dict[str, ServiceStatus], checks: list[HealthCheck]
) -> dict[str, ServiceStatus]:
    updated = dict(statuses)
    for check in checks:
        updated[check.name] = updated.get(check.name, ServiceStatus(check.name)).observe(check)
    return updated
