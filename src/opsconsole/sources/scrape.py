"""Request metrics read straight from services' /metrics, for sites without Prometheus
and for the demo fleet: the same P95 and error rate, from the difference of scrapes."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from opsconsole.config.model import (
    DEFAULT_COUNTER,
    DEFAULT_HISTOGRAM,
    DEFAULT_STATUS_LABEL,
    MetricNames,
)
from opsconsole.sources.base import describe_error
from opsconsole.sources.holdings import Holdings, explain
from opsconsole.sources.http import describe_http_error, new_session, read_capped
from opsconsole.sources.metrics import MetricsReading, ServiceMetrics, histogram_quantile

# An exposition of many megabytes is not one we want to parse on every refresh.
MAX_EXPOSITION_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Snapshot:
    """The cumulative counters of one scrape."""

    at: float  # monotonic seconds
    buckets: dict[float, float]
    requests: float
    errors: float
    holdings: Holdings = field(default_factory=Holdings)
    """The label names of the histogram's buckets and of the counter (None: no such
    series), and the metric names of the exposition when one of them is missing."""


@dataclass(frozen=True)
class ScrapeTarget:
    name: str
    url: str
    latency_histogram: str = DEFAULT_HISTOGRAM
    requests_total: str = DEFAULT_COUNTER
    status_label: str = DEFAULT_STATUS_LABEL

    @property
    def names(self) -> MetricNames:
        return MetricNames(self.latency_histogram, self.requests_total, "", self.status_label)


class ScrapeSource:
    """Keeps the scrapes of the last `window` seconds and computes rates over them,
    as Prometheus' rate() does over its range."""

    def __init__(
        self,
        targets: list[ScrapeTarget],
        window: float = 60.0,
        timeout: float = 5.0,
    ) -> None:
        self.targets = targets
        self.window = window
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._history: dict[str, deque[Snapshot]] = {t.name: deque() for t in targets}
        self._series = {t.name: SeriesMemo() for t in targets}

    def forget(self) -> None:
        """As every metrics source forgets: a scrape reads the whole exposition each time,
        so nothing is held between polls to be asked again."""

    async def poll(self) -> MetricsReading:
        """Metrics by service, and the reason for each service whose scrape failed.
        A service scraped for the first time has no rate yet and is left out of both."""
        results = await asyncio.gather(
            *(self._scrape(target) for target in self.targets), return_exceptions=True
        )
        reading = MetricsReading(metrics={})
        for target, result in zip(self.targets, results, strict=True):
            if isinstance(result, aiohttp.ClientError):
                reading.errors[target.name] = describe_http_error(result)
                continue
            if isinstance(result, TimeoutError):
                reading.errors[target.name] = f"timeout after {self.timeout:g} s"
                continue
            if isinstance(result, BaseException):
                reading.errors[target.name] = describe_error(result)
                continue
            unknown = explain(result.holdings, target.names, target.name)
            if unknown:
                reading.errors[target.name] = unknown.said()
                reading.misnamed.add(target.name)
            metrics = self._remember(target.name, result)
            if metrics is not None and not unknown.requests:
                reading.metrics[target.name] = replace(
                    metrics,
                    p95_seconds=None if unknown.p95 else metrics.p95_seconds,
                    error_rate=None if unknown.errors else metrics.error_rate,
                    note=None
                    if metrics.request_rate > 0
                    else f"no requests in the last {self.window:g}s",
                )
        return reading

    async def _scrape(self, target: ScrapeTarget) -> Snapshot:
        if self._session is None:
            self._session = new_session()
        async with (
            asyncio.timeout(self.timeout),
            self._session.get(target.url, allow_redirects=False) as answer,
        ):
            if not 200 <= answer.status < 300:  # a redirect is not an exposition either
                raise ValueError(f"HTTP {answer.status} {answer.reason or ''}".rstrip())
            exposition, whole = await read_capped(answer, MAX_EXPOSITION_BYTES)
        if not whole:
            raise ValueError(f"exposition larger than {MAX_EXPOSITION_BYTES // 2**20} MiB")
        # The exposition format is UTF-8 whatever the header says.
        return parse_snapshot(
            exposition.decode(errors="replace"), target, time.monotonic(), self._series[target.name]
        )

    def _remember(self, name: str, snapshot: Snapshot) -> ServiceMetrics | None:
        snapshots = self._history[name]
        if snapshots and snapshot.requests < snapshots[-1].requests:
            snapshots.clear()  # the service restarted: its counters began again
        snapshots.append(snapshot)
        while len(snapshots) > 2 and snapshot.at - snapshots[1].at >= self.window:
            snapshots.popleft()
        if len(snapshots) < 2:
            return None
        return difference(snapshots[0], snapshot)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def difference(old: Snapshot, new: Snapshot) -> ServiceMetrics:
    seconds = max(new.at - old.at, 1e-9)
    requests = new.requests - old.requests
    buckets = [(le, count - old.buckets.get(le, 0.0)) for le, count in new.buckets.items()]
    return ServiceMetrics(
        p95_seconds=histogram_quantile(0.95, buckets) if requests > 0 else None,
        request_rate=requests / seconds,
        error_rate=(new.errors - old.errors) / requests if requests > 0 else None,
    )


def _only_wanted(exposition: str, target: ScrapeTarget) -> list[str]:
    """The sample lines of the two metrics read here. A service exposes hundreds of others
    (process, runtime, its own), and the parser, pure Python, costs per line: on every
    refresh of a large fleet that was most of the console's CPU."""
    names = (f"{target.latency_histogram}_bucket", target.requests_total)
    wanted = tuple(name + end for name in names for end in ("{", " "))
    return [line for line in exposition.splitlines() if line.startswith(wanted)]


class SeriesMemo:
    """The name and labels of each series one target exposed at its last scrape.

    A series is the same text at every scrape, only its value moves. prometheus_client's
    parser walks labels a character at a time (some 30 us a line), so each series is
    parsed by it once, when it first appears. What a scrape no longer shows is forgotten:
    a fleet of any size keeps its current series only."""

    def __init__(self) -> None:
        self._parsed: dict[str, tuple[str, Mapping[str, str]]] = {}

    def samples(self, lines: list[str]) -> list[tuple[str, Mapping[str, str], float]]:
        """Name, labels and value of each sample line; ValueError names a garbled one."""
        parsed: dict[str, tuple[str, Mapping[str, str]]] = {}
        samples = []
        for line in lines:
            try:
                series, value = _split(line)
                name, labels = parsed[series] = self._parsed.get(series) or _parse_series(series)
            except ValueError:
                raise ValueError(f"not a sample line: {line[:120]}") from None
            samples.append((name, labels, value))
        self._parsed = parsed
        return samples


def _split(line: str) -> tuple[str, float]:
    """`name{labels} value [timestamp]`: the labels end at the last brace, as a value
    and a timestamp have none, whatever braces the label values hold."""
    if "{" in line.partition(" ")[0]:
        series, _, rest = line.rpartition("}")
        series += "}"
    else:
        series, _, rest = line.partition(" ")
    value = rest.split(maxsplit=1)[0] if rest.strip() else ""
    if "_" in value:  # float() takes 1_000; the exposition format does not
        raise ValueError(value)
    return series, float(value)


def _parse_series(series: str) -> tuple[str, Mapping[str, str]]:
    families = list(text_string_to_metric_families(f"{series} 0\n"))
    if len(families) != 1 or len(families[0].samples) != 1:
        raise ValueError(series)
    sample = families[0].samples[0]
    return sample.name, sample.labels


def parse_snapshot(
    exposition: str, target: ScrapeTarget, at: float, series: SeriesMemo | None = None
) -> Snapshot:
    """Sums over every label but `le`: one histogram and one counter for the service."""
    buckets: dict[float, float] = {}
    requests = errors = 0.0
    bucket = f"{target.latency_histogram}_bucket"
    seen: dict[str, set[str]] = {}
    memo = series if series is not None else SeriesMemo()
    for name, labels, value in memo.samples(_only_wanted(exposition, target)):
        if not 0 <= value < math.inf:  # NaN too: a count that is none would read as a figure
            raise ValueError(f"{name} has the value {value}: counters and buckets count up from 0")
        seen.setdefault(name, set()).update(labels)
        if name == bucket:
            try:
                le = float(labels["le"])
            except (KeyError, ValueError):
                raise ValueError(f"{name} has a bucket without a numeric le label") from None
            buckets[le] = buckets.get(le, 0.0) + value
        elif name == target.requests_total:
            requests += value
            if labels.get(target.status_label, "").startswith("5"):
                errors += value
    counter = seen.get(target.requests_total)
    families = {bucket: (target.latency_histogram,),
                target.requests_total: (target.requests_total,
                                        target.requests_total.removesuffix("_total"))}  # fmt: skip
    # Declared (# TYPE) but with no sample yet: a labelled metric nothing has counted
    # since the service started. No traffic, not a wrong name.
    declared = _declared(exposition) if len(seen) < 2 else set()
    held: dict[str, frozenset[str] | None] = {}
    for metric, names in families.items():
        if metric in seen:
            held[metric] = frozenset(seen[metric])
        else:
            held[metric] = frozenset() if declared & set(names) else None
    uncounted = counter is None and held[target.requests_total] is not None
    holdings = Holdings(
        labels=held,
        with_status={target.requests_total: frozenset(
            {""} if uncounted or (counter is not None and target.status_label in counter) else ()
        )},
    )  # fmt: skip
    if None in holdings.labels.values():  # for "did you mean": only when one is missing
        holdings.names = sorted(_metric_names(exposition))
    return Snapshot(at, buckets, requests, errors, holdings)


def _declared(exposition: str) -> set[str]:
    """The families a `# TYPE name kind` line declares."""
    return {
        parts[2]
        for line in exposition.splitlines()
        if line.startswith("# TYPE ") and len(parts := line.split()) >= 4
    }


def _metric_names(exposition: str) -> set[str]:
    return {
        line.split("{", 1)[0].split(None, 1)[0]
        for line in exposition.splitlines()
        if line.strip() and not line.startswith("#")
    }
