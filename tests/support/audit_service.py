"""A stand-in for the seeds' audit-logging service, run in a container by the drill of
audit-queue-backlog: it answers its health, and drains the Redis queue into its audit log
only when asked (POST /admin/process-queue), as the real one does after its worker has
died. Standard library and redis-cli only: it runs on the machine's own python3 in the
host image (tests/support/servers.py HOST_IMAGE)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = argparse.Namespace()


def drain() -> int:
    """Moves every waiting event into the audit log; returns how many."""
    moved = 0
    with open(ARGS.log, "a", encoding="utf-8") as log:
        while True:
            popped = subprocess.run(
                ["redis-cli", "-h", ARGS.redis_host, "-p", str(ARGS.redis_port),
                 "-n", str(ARGS.redis_db), "LPOP", ARGS.queue, "500"],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            events = [line for line in popped.splitlines() if line and line != "(nil)"]
            if not events:
                return moved
            log.writelines(event + "\n" for event in events)
            moved += len(events)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/health":
            self.answer(200, {"status": "ok"})
        else:
            self.answer(404, {"error": "not found"})

    def do_POST(self) -> None:
        if self.path == "/admin/process-queue":
            self.answer(200, {"processed": drain()})
        else:
            self.answer(404, {"error": "not found"})

    def answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-host", default="127.0.0.1")
    parser.add_argument("--redis-port", type=int, required=True)
    parser.add_argument("--redis-db", type=int, default=0)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--log", default="/tmp/audit.log")
    parser.parse_args(namespace=ARGS)
    # PID 1 of its container: without a handler SIGTERM is ignored, and docker stop or
    # restart waits 10 s for its SIGKILL.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    print(f"audit-logging: serving on 127.0.0.1:{ARGS.port}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
