"""Synthetic traffic: a steady request rate to every demo service, so metrics move."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import aiohttp

from opsconsole.demo.service import WORK_PATH, DemoService


class TrafficGenerator:
    """Sends `rate` requests a second to each service, from a thread of its own.

    Requests are started on a fixed schedule, not one after another, so a slow
    service gets the same load as a fast one, as real users would give it.
    """

    def __init__(
        self, services: list[DemoService], rate: float = 5.0, max_in_flight: int = 40
    ) -> None:
        self.services = services
        self.rate = rate
        self.max_in_flight = max_in_flight
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=5)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        timeout = aiohttp.ClientTimeout(total=15.0)
        async with aiohttp.ClientSession(timeout=timeout) as client:
            senders = [asyncio.create_task(self._send_to(client, s)) for s in self.services]
            await self._stop.wait()
            for sender in senders:
                sender.cancel()
            await asyncio.gather(*senders, return_exceptions=True)

    async def _send_to(self, client: aiohttp.ClientSession, service: DemoService) -> None:
        in_flight: set[asyncio.Task[None]] = set()
        while True:
            if len(in_flight) < self.max_in_flight:
                task = asyncio.create_task(self._request(client, service))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            await asyncio.sleep(1 / self.rate)

    @staticmethod
    async def _request(client: aiohttp.ClientSession, service: DemoService) -> None:
        # A service under a fault fails requests; that is the point.
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with client.get(service.base_url + WORK_PATH) as answer:
                await answer.read()
