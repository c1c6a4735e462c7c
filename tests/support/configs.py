"""Configurations and times for tests: a refresh, a console section, a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opsconsole.config.model import Config, ConsoleSection
from opsconsole.sources.readings import HealthCheck, HealthState


def with_refresh(config: Config, seconds: float) -> Config:
    console = ConsoleSection(environment=config.console.environment, refresh_seconds=seconds)
    return config.model_copy(update={"console": console})


def with_console(base: Config, **settings: object) -> Config:
    return base.model_copy(update={"console": base.console.model_copy(update=settings)})


T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def check(state: HealthState, at: int, reason: str = "") -> HealthCheck:
    code = 200 if state is HealthState.UP else None
    return HealthCheck(
        "api", state, reason, code, 0.01 if code else None, T0 + timedelta(seconds=at)
    )
