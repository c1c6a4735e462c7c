"""Request metrics and firing alerts from Prometheus: one query per signal, for all
services together, grouped by the service label."""

from __future__ import annotations

import asyncio
import math

import requests
from prometheus_api_client import PrometheusConnect
from urllib3.util.retry import Retry

from opsconsole.config.model import PrometheusSection
from opsconsole.sources.metrics import Alert, MetricsReading, ServiceMetrics


class PrometheusSource:
    """prometheus-api-client is synchronous: every poll runs in a thread of its own."""

    def __init__(self, config: PrometheusSection) -> None:
        self.config = config
        self._session = _session_reading_the_environment_once(config.url)
        # A failed poll must show as failed now: the poll loop retries, with backoff.
        self._session.mount(config.url, requests.adapters.HTTPAdapter(max_retries=Retry(0)))
        self._client = PrometheusConnect(
            url=config.url.rstrip("/"),
            session=self._session,
            retry=Retry(0),
            timeout=math.ceil(config.timeout_seconds),
        )

    def queries(self) -> dict[str, str]:
        """The PromQL of each signal. Every name in it was validated as a metric or label
        name when the configuration loaded, so nothing here can inject PromQL."""
        c = self.config
        by, window = c.service_label, c.window
        return {
            "p95": f"histogram_quantile(0.95, sum by (le, {by}) "
            f"(rate({c.latency_histogram}_bucket[{window}])))",
            "requests": f"sum by ({by}) (rate({c.requests_total}[{window}]))",
            "errors": f"sum by ({by}) "
            f'(rate({c.requests_total}{{{c.status_label}=~"5.."}}[{window}]))',
        }

    async def poll(self) -> MetricsReading:
        return await asyncio.to_thread(self._poll)

    def _poll(self) -> MetricsReading:
        values = {signal: self._by_service(query) for signal, query in self.queries().items()}
        metrics = {}
        for service in values["p95"].keys() | values["requests"].keys():
            requests_per_second = values["requests"].get(service, 0.0)
            errors = values["errors"].get(service, 0.0)
            p95 = values["p95"].get(service)
            metrics[service] = ServiceMetrics(
                p95_seconds=p95 if p95 is not None and math.isfinite(p95) else None,
                request_rate=requests_per_second,
                error_rate=errors / requests_per_second if requests_per_second > 0 else None,
            )
        return MetricsReading(metrics, alerts=self._alerts())

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

    async def aclose(self) -> None:
        """As every metrics source closes: the monitor need not know which it holds."""
        self._session.close()


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
