"""Request metrics of a service, and the histogram arithmetic Prometheus uses for them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServiceMetrics:
    p95_seconds: float | None
    """None when there were no requests in the window: no latency to speak of."""
    request_rate: float
    """Requests per second."""
    error_rate: float | None
    """Share of requests answered 5xx; None when there were no requests, or when it
    cannot be computed (`MetricsReading.errors` then says why)."""
    note: str | None = None
    """What the figures mean when they are none: no requests in the window."""


@dataclass(frozen=True)
class Alert:
    name: str
    state: str
    """"firing" or "pending"."""
    severity: str | None
    summary: str
    labels: dict[str, str]
    active_since: str | None


@dataclass(frozen=True)
class MetricsReading:
    """What a metrics source knows of each service, keyed by its metrics name."""

    metrics: dict[str, ServiceMetrics]
    errors: dict[str, str] = field(default_factory=dict)
    """Services with a figure that could not be computed, with the reason: its scrape
    failed, or the source holds other names than configured (a metric, a label, a
    service label value): a figure is never silently absent, and a breach as `misnamed`
    says."""
    alerts: list[Alert] | None = None
    """Firing and pending alerts; None where the source has no alerting (direct scrape)."""
    misnamed: set[str] = field(default_factory=set)
    """Of `errors`, those whose reason is the names (a metric, a label): a breach as long as
    the service answers. The others (a scrape that failed) are one only when a health
    check that came after the scrape found the service answering: a service going down
    fails its scrape first, and its health breach says why."""


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The q-quantile of cumulative buckets ``(upper bound, count)``, as PromQL's
    ``histogram_quantile`` computes it: linear interpolation inside the bucket that
    holds the rank, the lower bound of the first bucket taken as 0, and the highest
    finite bound when the rank falls in the +Inf bucket. None when there is no data.
    """
    ordered = sorted(buckets)
    if len(ordered) < 2 or not math.isinf(ordered[-1][0]):
        return None
    # Counts from a rate() or a difference of scrapes can dip by rounding: keep monotonic.
    counts: list[float] = []
    for _, count in ordered:
        counts.append(max(count, counts[-1]) if counts else count)
    total = counts[-1]
    if total <= 0:
        return None
    rank = q * total
    for index, (upper, count) in enumerate(zip((le for le, _ in ordered), counts, strict=True)):
        if count >= rank:
            if math.isinf(upper):
                return ordered[-2][0]
            lower = ordered[index - 1][0] if index > 0 else 0.0
            below = counts[index - 1] if index > 0 else 0.0
            if index == 0 and upper <= 0:
                return upper
            if count == below:
                return upper
            return lower + (upper - lower) * (rank - below) / (count - below)
    return ordered[-2][0]
