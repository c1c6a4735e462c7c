"""Request metrics of a service, and the histogram arithmetic Prometheus uses for them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime


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
    stale: str | None = None
    """Why these figures are not current, when they are not: a target they are scraped
    from is down, and Prometheus still computes them from the samples left in its window
    (then none at all, which is no "no requests" either)."""


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
class DownTarget:
    """A scrape target Prometheus cannot scrape now (`up == 0`)."""

    labels: dict[str, str]
    """Its target labels: job, instance, and any a relabelling gave it."""
    since: datetime
    """Its first failed scrape after its last good one, as Prometheus recorded them."""
    since_before: bool = False
    """Never up in the range looked back over: `since` is its start, and it was down then."""
    services: tuple[str, ...] = ()
    """The configured services (as the metrics source knows them) whose series it
    exported: empty for a target of no configured service."""

    @property
    def job(self) -> str:
        return self.labels.get("job", "?")

    @property
    def instance(self) -> str:
        return self.labels.get("instance", "?")

    def when(self) -> str:
        """Since when, in local time: `03:12`, or `before 03:12`."""
        return f"{'before ' if self.since_before else ''}{self.since.astimezone():%H:%M}"

    def said(self) -> str:
        """`scrape target 127.0.0.1:9101 (job api) down since 03:12`."""
        return f"scrape target {self.instance} (job {self.job}) down since {self.when()}"

    def stale_said(self) -> str:
        """What it means for the figures of a service it belongs to."""
        return f"{self.said()}: {STALE_FIGURES}"


STALE_FIGURES = "its P95 and errors are stale"


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
    down: list[DownTarget] | None = None
    """Every target Prometheus cannot scrape now; None where the source cannot tell (a
    direct scrape says its failure in `errors`)."""
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
