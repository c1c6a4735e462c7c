"""Request metrics and firing alerts from Prometheus: one query per signal, for all
services together, grouped by the service label."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import requests
from prometheus_api_client import PrometheusConnect
from urllib3.util.retry import Retry

from opsconsole.config.model import MetricNames, PrometheusSection
from opsconsole.sources.holdings import Holdings, Unknown, explain
from opsconsole.sources.metrics import Alert, DownTarget, MetricsReading, ServiceMetrics

DISCOVERY_SECONDS = 600.0
"""How long what Prometheus holds is trusted: asked again after that, or after a minute
while something is missing (a fix being deployed shows within it)."""
MISSING_DISCOVERY_SECONDS = 60.0
HOLDINGS_SECONDS = 3600.0
"""What Prometheus holds is what it held over the last hour, not every series its TSDB
ever had: what a figure is computed from is there now."""
DOWN_LOOK_BACK_SECONDS = 3600
"""How far back a down target's last good scrape is looked for (its samples of `up`):
longer down, it is said to be down since before then."""
OWNER_LOOK_BACK_SECONDS = 86400.0
"""How far back the series a down target exported are looked for, to know whose it is:
its series end when it goes down, and a target down for two hours is still its service's."""


class PrometheusSource:
    """prometheus-api-client is synchronous: every poll runs in a thread of its own.

    `services`: the service label value and the names of each configured service. Their
    figures come from one query per signal for each set of names they share, and each
    figure that cannot be computed says why (`holdings.explain`), from what Prometheus
    holds, asked at the first poll and again now and then. Without `services`, every
    service label value found is read with the section's names, reasons unsaid."""

    def __init__(
        self, config: PrometheusSection, services: Sequence[tuple[str, MetricNames]] = ()
    ) -> None:
        self.config = config
        self.services = list(services)
        self._session = _session_reading_the_environment_once(config.url)
        # A failed poll must show as failed now: the poll loop retries, with backoff.
        self._session.mount(config.url, requests.adapters.HTTPAdapter(max_retries=Retry(0)))
        self._client = PrometheusConnect(
            url=config.url.rstrip("/"),
            session=self._session,
            retry=Retry(0),
            timeout=math.ceil(config.timeout_seconds),
        )
        self._holdings: Holdings | None = None
        self._asked_at = -math.inf
        self._missing = False
        self._down: dict[frozenset[tuple[str, str]], DownTarget] = {}

    @property
    def names(self) -> MetricNames:
        c = self.config
        return MetricNames(c.latency_histogram, c.requests_total, c.service_label, c.status_label)

    def queries(self, names: MetricNames | None = None) -> dict[str, str]:
        """The PromQL of each signal. Every name in it was validated as a metric or label
        name when the configuration loaded, so nothing here can inject PromQL."""
        n = names or self.names
        by, window = n.service_label, self.config.window
        return {
            "p95": f"histogram_quantile(0.95, sum by (le, {by}) "
            f"(rate({n.latency_histogram}_bucket[{window}])))",
            "requests": f"sum by ({by}) (rate({n.requests_total}[{window}]))",
            "errors": f"sum by ({by}) "
            f'(rate({n.requests_total}{{{n.status_label}=~"5.."}}[{window}]))',
        }

    async def poll(self) -> MetricsReading:
        return await asyncio.to_thread(self._poll)

    def _poll(self) -> MetricsReading:
        groups: dict[MetricNames, list[str]] = {}
        for service, names in self.services:
            groups.setdefault(names, []).append(service)
        if not groups:
            groups[self.names] = []
        holdings = self._holdings_now(list(groups)) if self.services else None
        down = self._down_now(list(groups))
        # Prometheus computes rate() from whatever samples are left in the window: numbers
        # that look current for minutes after the target stopped answering, then none.
        stale = {service: target.stale_said() for target in down for service in target.services}
        reading = MetricsReading({}, alerts=self._alerts(), down=down)
        missing = False
        for names, services in groups.items():
            values = {signal: self._by_service(q) for signal, q in self.queries(names).items()}
            for service in services or values["p95"].keys() | values["requests"].keys():
                unknown = explain(holdings, names, service) if holdings else Unknown()
                if holdings and _contradicted(unknown, values, service):
                    # Series came since it was asked (a deploy, a first scrape): ask again.
                    holdings = self._holdings = self.discover(list(groups))
                    self._asked_at = time.monotonic()
                    unknown = explain(holdings, names, service)
                missing |= bool(unknown)
                if unknown:
                    reading.errors[service] = unknown.said()
                    reading.misnamed.add(service)
                if unknown.requests:
                    continue  # no figure at all: the reason stands in for them
                rate = values["requests"].get(service, 0.0)
                p95 = None if unknown.p95 else values["p95"].get(service)
                errors = values["errors"].get(service, 0.0)
                reading.metrics[service] = ServiceMetrics(
                    p95_seconds=p95 if p95 is not None and math.isfinite(p95) else None,
                    request_rate=rate,
                    error_rate=None if unknown.errors or rate <= 0 else errors / rate,
                    note=None
                    if rate > 0 or service in stale
                    else f"no requests in the last {self.config.window}",
                    stale=stale.get(service),
                )
        self._missing = missing
        return reading

    def _holdings_now(self, groups: list[MetricNames]) -> Holdings:
        """What Prometheus holds for these names: asked again once it is old."""
        age = time.monotonic() - self._asked_at
        if self._holdings is None or age > (
            MISSING_DISCOVERY_SECONDS if self._missing else DISCOVERY_SECONDS
        ):
            self._holdings = self.discover(groups)
            self._asked_at = time.monotonic()
        return self._holdings

    def discover(self, groups: list[MetricNames]) -> Holdings:
        """A few cheap calls a metric (its label names, the values of the service label
        on it, and on the counter's series with a status), the label names of each
        service whose counter has no status, and every metric name only when one is
        missing: never a query a service while all is well."""
        holdings = Holdings()
        for names in groups:
            by = names.service_label
            for metric in (names.requests_total, f"{names.latency_histogram}_bucket"):
                if metric not in holdings.labels:
                    labels = frozenset(self._api("labels", metric))
                    holdings.labels[metric] = labels or None
                    if by in labels:
                        holdings.services[metric] = frozenset(
                            self._api(f"label/{by}/values", metric)
                        )
            counter, status = names.requests_total, names.status_label
            if by not in (holdings.labels.get(counter) or ()):
                continue
            having = f'{counter}{{{status}!=""}}'  # its series that carry the status label
            with_status = frozenset(self._api(f"label/{by}/values", having))
            holdings.with_status[counter] = (
                holdings.with_status.get(counter, frozenset()) | with_status
            )
            for service in holdings.services.get(counter, frozenset()) - with_status:
                if (counter, service) not in holdings.own_labels:
                    selector = f'{counter}{{{by}="{_promql_string(service)}"}}'
                    holdings.own_labels[counter, service] = frozenset(self._api("labels", selector))
        if None in holdings.labels.values():
            holdings.names = sorted(self._api("label/__name__/values", None))
        return holdings

    def down_targets(self) -> list[dict[str, str]]:
        """The labels of each target Prometheus cannot scrape now (`up == 0`)."""
        return [
            {name: value for name, value in series["metric"].items() if name != "__name__"}
            for series in self._client.custom_query("up == 0")
        ]

    def _down_now(self, groups: list[MetricNames]) -> list[DownTarget]:
        """Every target down now, with since when and whose it is: asked once per target
        while it stays down, so that a refresh costs one query more while all are up."""
        known = {}
        for labels in self.down_targets():
            key = frozenset(labels.items())
            known[key] = self._down.get(key) or self._down_target(labels, groups)
        self._down = known  # one back up is forgotten: down again, it is asked again
        return list(known.values())

    def _down_target(self, labels: dict[str, str], groups: list[MetricNames]) -> DownTarget:
        """Whose a down target is, as the services' series are matched: by the service
        label where the target carries it (`service_label = "job"`), else by the values
        of the service label on the series it exported."""
        selector = "{" + ",".join(f'{k}="{_promql_string(v)}"' for k, v in sorted(labels.items()))
        selector += "}"
        found: set[str] = set()
        for names in groups:
            by = names.service_label
            if by in labels:
                found.add(labels[by])
                continue
            for metric in (names.requests_total, f"{names.latency_histogram}_bucket"):
                path = f"label/{by}/values"
                found.update(self._api(path, metric + selector, OWNER_LOOK_BACK_SECONDS))
        configured = {service for service, _ in self.services}
        services = tuple(sorted(found & configured if configured else found))
        since, before = self._down_since(selector)
        return DownTarget(labels, since, before, services)

    def _down_since(self, selector: str) -> tuple[datetime, bool]:
        """The first failed scrape after the last good one, from the samples of `up`; or
        the first sample looked back over, when none was good (then True)."""
        answer = self._client.custom_query(f"up{selector}[{DOWN_LOOK_BACK_SECONDS}s]")
        samples = sorted(
            (float(at), float(value)) for series in answer for at, value in series["values"]
        )
        good = [n for n, (_, value) in enumerate(samples) if value == 1]
        if not good:
            start = samples[0][0] if samples else time.time()
            return datetime.fromtimestamp(start, UTC), True
        failed = [at for at, value in samples[good[-1] + 1 :] if value == 0]
        return datetime.fromtimestamp(failed[0] if failed else time.time(), UTC), False

    def _api(self, path: str, metric: str | None, seconds: float = HOLDINGS_SECONDS) -> list[str]:
        params: dict[str, str | float] = {"start": time.time() - seconds}
        if metric is not None:
            params["match[]"] = metric
        answer = self._session.get(
            f"{self.config.url.rstrip('/')}/api/v1/{path}",
            params=params,
            timeout=self.config.timeout_seconds,
        )
        answer.raise_for_status()
        data = answer.json().get("data")
        if not isinstance(data, list):
            raise ValueError(f"/api/v1/{path} answered no list")
        return [str(each) for each in data]

    def _by_service(self, query: str) -> dict[str, float]:
        label = self.config.service_label
        return {
            series["metric"].get(label, ""): float(series["value"][1])
            for series in self._client.custom_query(query)
        }

    def _alerts(self) -> list[Alert]:
        answer = self._session.get(
            self.config.url.rstrip("/") + "/api/v1/alerts", timeout=self.config.timeout_seconds
        )
        answer.raise_for_status()
        return [
            Alert(
                name=alert["labels"].get("alertname", "?"),
                state=alert.get("state", "?"),
                severity=alert["labels"].get("severity"),
                summary=alert.get("annotations", {}).get("summary", ""),
                labels=alert["labels"],
                active_since=alert.get("activeAt"),
            )
            for alert in answer.json()["data"]["alerts"]
        ]

    def forget(self) -> None:
        """What Prometheus holds is asked again at the next poll: `r` after a deploy or a
        relabelling, without waiting for the holdings to age."""
        self._holdings = None

    async def aclose(self) -> None:
        """As every metrics source closes: the monitor need not know which it holds."""
        self._session.close()


def _promql_string(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _contradicted(unknown: Unknown, values: dict[str, dict[str, float]], service: str) -> bool:
    """Whether a query found what the holdings say is not there: they are out of date."""
    return bool(
        (unknown.requests and service in values["requests"])
        or (unknown.p95 and service in values["p95"])
        or (unknown.errors and service in values["errors"])
    )


def _session_reading_the_environment_once(url: str) -> requests.Session:
    """A session with the proxy, CA bundle and ~/.netrc the environment gives `url` now.

    requests reads them again at every request while trust_env is on, scanning all of
    os.environ twice: a quarter of the CPU of each poll (bench/prometheus_poll.py). Read
    once, at start, they are what
    a restart of the console would pick up anyway."""
    session = requests.Session()
    settings = session.merge_environment_settings(url, {}, None, True, None)
    session.proxies.update(settings["proxies"])
    session.verify = settings["verify"]
    session.auth = requests.utils.get_netrc_auth(url)
    session.trust_env = False
    return session
