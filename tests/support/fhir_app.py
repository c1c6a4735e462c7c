"""Stand-ins for the seeds' nl-fhir app and its HAPI FHIR dependency, run in containers
of the host image by the drills of high-error-rate and high-response-times. Standard
library only: they run on the machine's own python3.

`hapi` answers /fhir/metadata after a fixed piece of work, with a bounded pool of
workers (as Tomcat's maxThreads): connections held open by stuck clients take workers
away, and the rest queue; its /metrics counts every request it answers under its --name
(the rolling-restart drill runs it as three replicas, each scraped by Prometheus). `app`
sends itself steady traffic, each request calling HAPI, and exposes Prometheus metrics
under its service label: a request HAPI fails is a 502 and an ERROR line in its log, and
a slow HAPI is a slow request."""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn
from typing import Any

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
ARGS = argparse.Namespace()


class Metrics:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict[str, int] = {}
        self.buckets = [0] * len(BUCKETS)
        self.count = 0
        self.total = 0.0

    def observe(self, status: int, seconds: float) -> None:
        with self.lock:
            self.requests[str(status)] = self.requests.get(str(status), 0) + 1
            for index, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self.buckets[index] += 1
            self.count += 1
            self.total += seconds

    def text(self, service: str) -> str:
        label = f'service="{service}"'
        lines = ["# TYPE http_requests_total counter"]
        with self.lock:
            for status, count in sorted(self.requests.items()):
                lines.append(f'http_requests_total{{{label},status="{status}"}} {count}')
            lines.append("# TYPE http_request_duration_seconds histogram")
            for bound, count in zip(BUCKETS, self.buckets, strict=True):
                lines.append(
                    f'http_request_duration_seconds_bucket{{{label},le="{bound}"}} {count}'
                )
            lines.append(f'http_request_duration_seconds_bucket{{{label},le="+Inf"}} {self.count}')
            lines.append(f"http_request_duration_seconds_sum{{{label}}} {self.total}")
            lines.append(f"http_request_duration_seconds_count{{{label}}} {self.count}")
        return "\n".join(lines) + "\n"


METRICS = Metrics()


# A release's own bug: an image built with FAIL_RATE set fails that share of its requests
# (the planned-maintenance rehearsal deploys such a release, and must roll it back).
FAIL_RATE = float(os.environ.get("FAIL_RATE", "0"))


def convert() -> int:
    """One request of the app: it asks HAPI, and fails with it."""
    started = time.monotonic()
    if random.random() < FAIL_RATE:  # noqa: S311 - a share of requests, not a secret
        print("ERROR conversion failed: KeyError 'coding' (this release)", flush=True)
        METRICS.observe(500, time.monotonic() - started)
        return 500
    try:
        with urllib.request.urlopen(ARGS.hapi, timeout=ARGS.hapi_timeout) as answer:
            answer.read()
        status = 200
    except (urllib.error.URLError, OSError) as failed:
        print(f"ERROR HAPI FHIR validation failed: {failed}", flush=True)
        status = 502
    METRICS.observe(status, time.monotonic() - started)
    return status


def traffic() -> None:
    while True:
        started = time.monotonic()
        convert()
        time.sleep(max(0.0, ARGS.interval - (time.monotonic() - started)))


class Handler(BaseHTTPRequestHandler):
    status = 0

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line a request would drown the ERROR lines the runbook greps for

    def do_GET(self) -> None:
        started = time.monotonic()
        if self.path == "/health":
            self.answer(200, "application/json", json.dumps({"status": "ok"}))
        elif self.path in ("/metrics", "/metrics/prometheus"):
            self.answer(200, "text/plain; version=0.0.4", METRICS.text(ARGS.name))
        elif ARGS.role == "app" and self.path == "/convert":
            status = convert()
            self.answer(status, "application/json", json.dumps({"status": status}))
        elif ARGS.role == "hapi" and self.path == "/fhir/metadata":
            time.sleep(ARGS.work)  # validation's fixed cost, holding its worker
            self.answer(200, "application/fhir+json", '{"resourceType": "CapabilityStatement"}')
        else:
            self.answer(404, "application/json", '{"error": "not found"}')
        if ARGS.role == "hapi":
            # Every request it answers, its scrapes too (a server's own middleware counts
            # them): the series are there from the first scrape, without traffic.
            METRICS.observe(self.status, time.monotonic() - started)

    def answer(self, status: int, kind: str, body: str) -> None:
        data = body.encode()
        self.status = status
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class PooledServer(HTTPServer):
    """At most `workers` requests at once; the rest wait in the pool's queue."""

    def __init__(self, address: tuple[str, int], workers: int) -> None:
        super().__init__(address, Handler)
        self.pool = ThreadPoolExecutor(max_workers=workers)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.pool.submit(self._work, request, client_address)

    def _work(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        finally:
            self.shutdown_request(request)


class ThreadedServer(ThreadingMixIn, HTTPServer):
    daemon_threads = True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["app", "hapi"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", default="nl-fhir")
    parser.add_argument("--hapi", default="")
    parser.add_argument("--hapi-timeout", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--interval", type=float, default=0.25)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--work", type=float, default=0.1)
    parser.parse_args(namespace=ARGS)
    # PID 1 of its container: without a handler SIGTERM is ignored, and docker stop or
    # restart waits 10 s for its SIGKILL.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    address = ("127.0.0.1", ARGS.port)
    server: HTTPServer
    if ARGS.role == "hapi":
        server = PooledServer(address, ARGS.workers)
    else:
        server = ThreadedServer(address, Handler)
        for _ in range(ARGS.clients):
            threading.Thread(target=traffic, daemon=True).start()
    print(f"{ARGS.role}: serving on 127.0.0.1:{ARGS.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
