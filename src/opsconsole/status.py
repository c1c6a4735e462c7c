"""What the console knows of each service over time: its state, since when, last good."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from opsconsole.sources.health import HealthCheck, HealthState


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    latest: HealthCheck | None = None
    """None until the first check has come back."""
    since: datetime | None = None
    """When the current state began (first seen)."""
    last_good: HealthCheck | None = None
    """The last check that found it UP."""

    def observe(self, check: HealthCheck) -> ServiceStatus:
        changed = self.latest is None or self.latest.state is not check.state
        return replace(
            self,
            latest=check,
            since=check.checked_at if changed else self.since,
            last_good=check if check.state is HealthState.UP else self.last_good,
        )


def observe_all(
    statuses: dict[str, ServiceStatus], checks: list[HealthCheck]
) -> dict[str, ServiceStatus]:
    updated = dict(statuses)
    for check in checks:
        updated[check.name] = updated.get(check.name, ServiceStatus(check.name)).observe(check)
    return updated
