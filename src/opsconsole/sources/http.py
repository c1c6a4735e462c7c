"""The HTTP transport the health checks and direct scrapes share."""

from __future__ import annotations

import httpx


class PoolPerOrigin(httpx.AsyncBaseTransport):
    """One connection pool per scheme, host and port, instead of one for every service.

    httpcore's pool walks all its connections, and for each idle one all of them again,
    whenever a request starts or ends (encode/httpcore#1035): one pool holding a connection
    to each of 1,000 services spent over 30 s of CPU on a round. It also closes idle
    connections once it holds more than max_keepalive_connections in all, so every round
    reconnected. Small pools keep both cheap. (Given a transport, httpx no longer applies
    HTTP_PROXY and the like from the environment: checks go straight to the services.)
    """

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        self._ssl_context = httpx.create_ssl_context()  # one CA bundle, not one a pool
        self._pools: dict[tuple[str, str, int | None], httpx.AsyncHTTPTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        origin = (request.url.scheme, request.url.host, request.url.port)
        if (pool := self._pools.get(origin)) is None:
            pool = self._pools[origin] = httpx.AsyncHTTPTransport(
                verify=self._ssl_context, limits=self._limits
            )
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()
