"""Stand-ins for an external API with a rate limit (as the FDA API's, per API key) and the
service that calls it, run in containers of the host image by the drill of
external-api-rate-limit. Standard library only: they run on the machine's own python3.

`api` answers `--quota` calls per `--window` seconds per API key (the `api_key` query
parameter; calls without one are limited per client address, as the FDA API's). The call
that finds the quota spent is refused with 429, and so is every call of that key for the
next `--window` seconds: Retry-After says how long is left, X-RateLimit-Remaining 0 and
X-RateLimit-Reset (epoch seconds) when it ends. A few refused calls in one block are
callers checking whether it still holds; past `--strikes` of them the key is ignoring
Retry-After, and each further call blocks it again for `--window` from then (as APIs that
ban clients hammering through their limit do).

`caller` calls the API every `--interval` seconds with its key (the URL in $API_URL), and
logs each call without the key: `GET http://HOST/PATH -> 429 Too Many Requests
(Retry-After: 9)`. A refused call degrades it (its /health says why) and its backoff
honours Retry-After: no call until then."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ARGS = argparse.Namespace()


@dataclass
class Key:
    answered: deque[float] = field(default_factory=deque)
    """When its calls in the last window were answered."""
    blocked_until: float = 0.0
    refused: int = 0
    """Calls refused in the current block."""


class Limiter:
    def __init__(self, quota: int, window: float, strikes: int) -> None:
        self.quota, self.window, self.strikes = quota, window, strikes
        self.keys: dict[str, Key] = {}
        self.lock = threading.Lock()

    def call(self, key: str) -> tuple[int, dict[str, str]]:
        """The status of one call of `key`, and its limit headers."""
        now = time.monotonic()
        with self.lock:
            state = self.keys.setdefault(key, Key())
            while state.answered and state.answered[0] <= now - self.window:
                state.answered.popleft()
            if now >= state.blocked_until and len(state.answered) < self.quota:
                state.refused = 0
                state.answered.append(now)
                reset = state.answered[0] + self.window
                return 200, self._headers(self.quota - len(state.answered), reset - now)
            if now >= state.blocked_until:  # this call finds the quota spent
                state.blocked_until, state.refused = now + self.window, 0
            state.refused += 1
            if state.refused > self.strikes:  # ignoring Retry-After: blocked again
                state.blocked_until = now + self.window
            left = state.blocked_until - now
            headers = self._headers(0, left) | {"Retry-After": str(math.ceil(left))}
            return 429, headers

    def _headers(self, remaining: int, reset_in: float) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.quota),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(math.ceil(time.time() + reset_in)),
        }


LIMITER = Limiter(1, 1.0, 0)


class Health:
    """What the caller's last call to the API said."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.problem: str | None = None

    def set(self, problem: str | None) -> None:
        with self.lock:
            self.problem = problem

    def body(self) -> dict[str, str]:
        with self.lock:
            if self.problem is None:
                return {"status": "ok"}
            return {"status": "degraded", "reason": self.problem}


HEALTH = Health()


def call_once(url: str) -> float:
    """One call of the caller, logged without its key; how long to wait before the next."""
    parts = urlsplit(url)
    shown = f"GET {parts.scheme}://{parts.netloc}{parts.path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            answer.read()
        print(f"{shown} -> {answer.status} OK", flush=True)
        HEALTH.set(None)
        return float(ARGS.interval)
    except urllib.error.HTTPError as refused:
        if refused.code != 429:
            print(f"{shown} -> {refused.code} {refused.reason}", flush=True)
            HEALTH.set(f"the API answers {refused.code}")
            return float(ARGS.interval)
        retry_after = int(refused.headers.get("Retry-After") or ARGS.interval)
        print(f"{shown} -> 429 Too Many Requests (Retry-After: {retry_after})", flush=True)
        HEALTH.set(f"the API refuses its calls: 429, Retry-After {retry_after} s")
        return max(float(retry_after), float(ARGS.interval))
    except OSError as failed:
        print(f"{shown} -> no answer: {failed}", flush=True)
        HEALTH.set("the API does not answer")
        return float(ARGS.interval)


def calls() -> None:
    url = os.environ["API_URL"]
    while True:
        time.sleep(call_once(url))


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request line holds the key

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if ARGS.role == "caller" and parts.path == "/health":
            self.answer(200, json.dumps(HEALTH.body()))
        elif ARGS.role == "api" and parts.path == "/device/510k.json":
            key = parse_qs(parts.query).get("api_key", [f"address {self.client_address[0]}"])
            status, headers = LIMITER.call(key[0])
            body = (
                {"results": [{"k_number": "K000000"}]}
                if status == 200
                else {"error": {"code": "OVER_RATE_LIMIT", "message": "API rate limit exceeded"}}
            )
            self.answer(status, json.dumps(body), headers)
        else:
            self.answer(404, '{"error": "not found"}')

    def answer(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
        data = body.encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main() -> None:
    global LIMITER
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["api", "caller"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--quota", type=int, default=20)
    parser.add_argument("--window", type=float, default=12.0)
    parser.add_argument("--strikes", type=int, default=4)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.parse_args(namespace=ARGS)
    # PID 1 of its container: without a handler SIGTERM is ignored, and docker stop
    # waits 10 s for its SIGKILL.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    LIMITER = Limiter(ARGS.quota, ARGS.window, ARGS.strikes)
    server = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    server.daemon_threads = True
    if ARGS.role == "caller":
        threading.Thread(target=calls, daemon=True).start()
    print(f"{ARGS.role}: serving on port {ARGS.port}", flush=True)  # no host: not a call
    server.serve_forever()


if __name__ == "__main__":
    main()
