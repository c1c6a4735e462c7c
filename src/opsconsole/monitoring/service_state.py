"""What the console knows of each service over time: its state, since when, last good."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from opsconsole.sources.readings import HealthCheck, HealthState


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

    def observe(self, check: HealthCheck) -> ServiceStatus:
        changed = self.latest is not None and self.latest.state is not check.state
        return replace(
            self,
            latest=check,
            since=check.checked_at if changed or self.since is None else self.since,
            began_before_since=self.began_before_since and not changed,
            last_good=check if check.state is HealthState.UP else self.last_good,
        )


def observe_all(
    statuses: dict[str, ServiceStatus], checks: list[HealthCheck]
) -> dict[str, ServiceStatus]:
    updated = dict(statuses)
    for check in checks:
        updated[check.name] = updated.get(check.name, ServiceStatus(check.name)).observe(check)
    return updated
