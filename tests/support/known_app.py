"""A service on loopback whose latency distribution and error share are known exactly.

Every second it records one full cycle of 100 requests with latencies 5 ms, 15 ms, ...
995 ms (uniform on 0-1 s, so the true P95 is 0.950 s) of which 2 answered 500 (a true
error rate of 2 %). Bucket bounds every 100 ms make interpolation inside a bucket exact
for a uniform distribution, so any error in what the console shows is the console's.
"""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

TRUE_P95 = 0.95
TRUE_ERROR_RATE = 0.02
REQUESTS_PER_SECOND = 100.0
BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 2.5)


class KnownTrafficApp:
    """`status_label`, `grouped` (`2xx`, `5xx` for 200, 500) and the metric names give
    the conventions apps are instrumented in: prometheus_client's (the defaults), Go's
    (`code`), grouped statuses, a service's own names (`nl_fhir_*`)."""

    def __init__(
        self,
        service: str = "known",
        *,
        status_label: str = "status",
        grouped: bool = False,
        histogram: str = "http_request_duration_seconds",
        counter: str = "http_requests_total",
        failing: tuple[int, ...] = (13, 71),
    ) -> None:
        self.service = service
        self.grouped = grouped
        self.failing = failing
        """Which of each 100 requests answer 500: 2 %, or none once "fixed"."""
        self.registry = CollectorRegistry()
        self.durations = Histogram(
            histogram, "Durations.", ["service"], buckets=BUCKETS, registry=self.registry
        )
        self.requests = Counter(
            counter, "Requests.", ["service", status_label], registry=self.registry
        )
        self._stop = threading.Event()
        self.port = 0

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def start(self) -> KnownTrafficApp:
        server, _ = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        self._server = server
        self.port = server.server_address[1]
        threading.Thread(target=self._record, daemon=True).start()
        return self

    def _record(self) -> None:
        # Ten slices a second, ten requests each: a whole cycle every second.
        step = 0
        while not self._stop.wait(0.1):
            for _ in range(10):
                position = step % 100
                self.durations.labels(self.service).observe((position + 0.5) / 100)
                status = "500" if position in self.failing else "200"
                if self.grouped:
                    status = status[0] + "xx"
                self.requests.labels(self.service, status).inc()
                step += 1

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
