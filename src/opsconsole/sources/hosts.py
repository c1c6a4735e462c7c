"""The Docker engines of several hosts, polled together, each on its own: one host that
cannot be reached says so (ssh's reason, since when) on its containers, which keep their
last known state, and the others are read as if it were not there. With this machine's
own engine ([docker]) beside them, when it is configured.

Containers are known by `host/name` on a host (container_key), by their name on this
machine's engine."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime

import requests

from opsconsole.config.model import Config, HostSection, host_containers
from opsconsole.sources.base import describe_error
from opsconsole.sources.docker import DockerSource
from opsconsole.sources.readings import ContainerStatus, unknown
from opsconsole.sources.sessions import Errand, serving
from opsconsole.sources.ssh import SESSIONS_A_LANE, Unreachable, reach

# Requests at once to one host's engine: its stats are answered at the engine's next
# collection round, so a poll takes a round when all go at once. Each is a session of one
# of the host's kept connections (a lane: SESSIONS_A_LANE sessions each).
_MOST_SESSIONS = 64
ANSWER_SECONDS = 4.0
"""A host's poll past this is said as not answering: under the dashboard's own deadline
for a reading (5 s), so that the hosts that answer are read."""


@dataclass
class _Down:
    reason: str
    since: datetime


class HostDocker:
    """One host's engine over ssh."""

    def __init__(self, host: HostSection, containers: list[str], timeout: float) -> None:
        from opsconsole.sources.ssh_docker import ssh_docker_client  # paramiko, on use

        self.host = host
        self.containers = containers
        sessions = min(_MOST_SESSIONS, len(containers) + 1)  # the stats, and the listing
        self.lanes = -(-sessions // SESSIONS_A_LANE)
        self.source = DockerSource(
            f"ssh://{host.ssh}", containers=containers, timeout=timeout,
            make_client=lambda: ssh_docker_client(host, timeout, self.lanes * SESSIONS_A_LANE),
        )  # fmt: skip
        self.last: dict[str, ContainerStatus] = {name: unknown(name) for name in containers}
        self.down: _Down | None = None
        self._pending: asyncio.Future[dict[str, ContainerStatus]] | None = None
        self._errand = Errand()
        """The pending poll's sessions (sources/sessions.py)."""

    async def poll(self, seconds: float = ANSWER_SECONDS) -> dict[str, ContainerStatus]:
        """Within `seconds`, or said as not answering: a host whose packets are dropped
        must not hold the others' reading. One poll in flight at most: the next waits on
        it rather than start another (threads would pile up on a host that hangs)."""
        if self._pending is None or self._pending.done():
            self._pending = asyncio.ensure_future(self._poll())
        try:
            return await asyncio.wait_for(asyncio.shield(self._pending), seconds)
        except TimeoutError:
            # A read from ssh's pipe ignores the socket's timeout: the sessions that wait
            # on an engine that does not answer would hold the poll's thread, and their
            # place in the pool, for as long as ssh lives. Ended, the poll tries once
            # more on fresh sessions, and the next poll takes what it found. (In a thread:
            # each ssh is given a moment to go.)
            await asyncio.to_thread(self._errand.abandon)
            return self._unreachable(f"no answer within {seconds:g} s")

    async def _poll(self) -> dict[str, ContainerStatus]:
        try:
            # The kept connection first: its failure is ssh's reason in ssh's words.
            await asyncio.to_thread(reach, self.host, self.lanes)
            try:
                found = await self._read()
            except requests.exceptions.ConnectionError:
                # Sessions of a connection that has since died (the host came back, or
                # the kept connection was renewed), or ended past the deadline: the
                # source dropped them; once more.
                found = await self._read()
        except Unreachable as unreachable:
            return self._unreachable(str(unreachable))
        except Exception as error:  # the engine, or the session, failed past ssh
            if self._errand.abandoned and self.down is not None:
                return self._unreachable(self.down.reason)  # not answering, as was said
            # The session died under the request: the host gone, or its connection lost.
            # ssh says which, in its own words, better than the transport's broken pipe.
            try:
                await asyncio.to_thread(reach, self.host, self.lanes)
            except Unreachable as unreachable:
                return self._unreachable(str(unreachable))
            except Exception:  # noqa: S110  # the engine's own failure is said below
                pass
            return self._unreachable(f"docker on {self.host.name}: {describe_error(error)}")
        self.down = None
        self.last = found
        return {f"{self.host.name}/{n}": replace(s, host=self.host.name) for n, s in found.items()}

    async def _read(self) -> dict[str, ContainerStatus]:
        self._errand = errand = Errand()
        with serving(errand):  # the poll's thread starts from a copy of this context
            return await self.source.poll()

    def _unreachable(self, reason: str) -> dict[str, ContainerStatus]:
        if self.down is None or self.down.reason != reason:
            since = self.down.since if self.down is not None else datetime.now().astimezone()
            self.down = _Down(reason, since)
        said = f"{reason}, since {self.down.since:%H:%M:%S}"
        return {
            f"{self.host.name}/{n}": replace(s, host=self.host.name, unreachable=said)
            for n, s in self.last.items()
        }

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()  # its thread ends on a closed source, making nothing
        self._errand.abandon()  # nor waits on a host that does not answer
        self.source.close()


class Containers:
    """This machine's engine and every host's, as one reading."""

    def __init__(self, local: DockerSource | None, hosts: list[HostDocker]) -> None:
        self.local = local
        self.hosts = hosts
        # Before its first answer, what is watched by name: an engine down from the start
        # is said on those, not on nothing.
        self._last: dict[str, ContainerStatus] = {
            name: unknown(name) for name in (local.containers if local is not None else [])
        }
        self._down: _Down | None = None

    async def poll(self) -> dict[str, ContainerStatus]:
        local = self._local() if self.local is not None else _nothing()
        readings = await asyncio.gather(local, *(host.poll() for host in self.hosts))
        found: dict[str, ContainerStatus] = {}
        for reading in readings:
            found |= reading
        return found

    async def _local(self) -> dict[str, ContainerStatus]:
        assert self.local is not None
        try:
            found = await self.local.poll()
        except Exception as error:
            if not self.hosts:
                raise  # the Docker reading fails, as it always has with one engine
            reason = f"this machine's docker: {describe_error(error)}"
            if self._down is None or self._down.reason != reason:
                since = self._down.since if self._down else datetime.now().astimezone()
                self._down = _Down(reason, since)
            said = f"{reason}, since {self._down.since:%H:%M:%S}"
            return {n: replace(s, unreachable=said) for n, s in self._last.items()}
        self._down, self._last = None, found
        return found

    def close(self) -> None:
        if self.local is not None:
            self.local.close()
        for host in self.hosts:
            host.close()


async def _nothing() -> dict[str, ContainerStatus]:
    return {}


def host_sources(config: Config, timeout: float) -> list[HostDocker]:
    return [
        HostDocker(host, host_containers(config, host.name), timeout)
        for host in config.hosts
        if host.docker and host_containers(config, host.name)  # check says of one without
    ]
