"""A stand-in for the load balancer in front of a service's replicas, run in a container of
the host image by the rolling-restart drill: layer 4, least connections (HAProxy's `mode
tcp` with `balance leastconn`, IPVS's `lc`). Each connection goes, whole, to the replica
with the fewest open through it, the next if that one refuses it; a replica that closes
its side (a restart) has its clients' connections closed. At layer 4 a request begun and
never ended reaches a replica, as it does through these balancers, and holds one of its
workers. Standard library only: it runs on the machine's own python3."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

CHUNK = 64 * 1024


class Balancer:
    def __init__(self, backends: list[tuple[str, int]]) -> None:
        self.backends = backends
        self.open = [0] * len(backends)
        self.turn = 0
        """Ties go round: a replica back from its restart is not the only one chosen."""

    def order(self) -> list[int]:
        count = len(self.backends)
        self.turn = (self.turn + 1) % count
        return sorted(range(count), key=lambda i: (self.open[i], (i - self.turn) % count))

    async def serve(self, client_in: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        for index in self.order():
            # Counted before the connect, so that connections arriving meanwhile spread.
            self.open[index] += 1
            try:
                backend_in, backend = await asyncio.open_connection(*self.backends[index])
            except OSError:
                self.open[index] -= 1
                continue
            try:
                await _relay(client_in, client, backend_in, backend)
            finally:
                self.open[index] -= 1
            return
        client.close()  # none takes connections: refused, as far as the client can tell


async def _relay(
    client_in: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    backend_in: asyncio.StreamReader,
    backend: asyncio.StreamWriter,
) -> None:
    """Both ways until either side ends; then both are closed, so that a replica gone
    takes its clients' connections with it (a half-closed one would stay counted)."""
    ways = [
        asyncio.ensure_future(_copy(client_in, backend)),
        asyncio.ensure_future(_copy(backend_in, client)),
    ]
    await asyncio.wait(ways, return_when=asyncio.FIRST_COMPLETED)
    for way in ways:
        way.cancel()
    for writer in (client, backend):
        writer.close()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("backends", nargs="+", metavar="HOST:PORT")
    args = parser.parse_args()
    backends = [(host, int(port)) for host, _, port in (b.rpartition(":") for b in args.backends)]
    balancer = Balancer(backends)
    server = await asyncio.start_server(balancer.serve, "127.0.0.1", args.port)
    print(f"balancer: 127.0.0.1:{args.port} -> {' '.join(args.backends)}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    # PID 1 of its container: without a handler SIGTERM is ignored.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    asyncio.run(main())
