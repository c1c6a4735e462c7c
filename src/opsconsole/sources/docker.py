"""Containers from a Docker daemon: state, health, restarts, OOM kills and resource use of
the named containers and of every container carrying a label."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import docker
import docker.errors
import docker.utils
import requests

from opsconsole.sources.readings import STOPPED, ContainerStatus, missing
from opsconsole.sources.sessions import Errand, serving

R = TypeVar("R")

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
"""The state of a configured container that the daemon does not have."""

# Docker's zero time: what StartedAt says of a container that never ran.
_NEVER = "0001-01-01T00:00:00Z"
# One-shot stats (a single sample, no wait for a second one) came with API 1.41.
_ONE_SHOT_API = "1.41"
# The daemon answers a stats request at its next collection round, once a second; requests
# made together share a round. This many at once keeps a poll near one second; the pool
# starts its threads only as they are needed.
_STATS_AT_ONCE = 64
# Only these states have a last exit code worth showing; a running container says 0.
_EXITED_STATES = frozenset({"exited", "dead", "restarting"})

# How often a follow looks whether it was asked to stop: the bound on how long a stop takes.
_STOP_CHECK_SECONDS = 0.1
# A container that never writes a newline must not fill memory: past this much, what it
# wrote so far goes out as a line of its own.
LONGEST_LINE_BYTES = 64 * 1024


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"not a container name: {name!r}")
    return name


@dataclass(frozen=True)
class _CpuSample:
    started_at: str
    """A restart resets the container's counter: samples of two runs do not subtract."""
    container_ns: int
    system_ns: int
    online_cpus: int


class DockerSource:
    """The docker SDK is synchronous: every call runs in a thread of its own."""

    def __init__(
        self,
        base_url: str,
        containers: list[str] | None = None,
        label: str | None = None,
        timeout: float = 5.0,
        make_client: Callable[[], Any] | None = None,
    ) -> None:
        self.base_url = base_url
        self.make_client = make_client
        """How the client is made when not from base_url (a host's engine over ssh)."""
        self.containers = [check_name(name) for name in containers or []]
        if label is not None and not label.partition("=")[0].strip():
            raise ValueError(f'not a label filter ("key" or "key=value"): {label!r}')
        self.label = label
        if not self.containers and label is None:
            raise ValueError("nothing to watch: give container names, a label, or both")
        self.timeout = timeout
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._cpu: dict[str, _CpuSample] = {}
        """The previous poll's CPU counters, by container id."""
        self._stats_pool = ThreadPoolExecutor(_STATS_AT_ONCE, thread_name_prefix="docker-stats")
        self._closed = False

    async def poll(self) -> dict[str, ContainerStatus]:
        """Every watched container by name: configured names first, then the labelled ones."""
        return await asyncio.to_thread(self._with_client, self._poll)

    async def logs(self, name: str, tail: int = 100) -> list[str]:
        """The last lines the container wrote, stdout and stderr as they came."""
        check_name(name)
        if tail < 1:
            raise ValueError(f"tail must be at least 1, not {tail}")

        def work(client: Any) -> list[str]:
            raw: bytes = client.api.logs(
                self._id_of(client, name), stdout=True, stderr=True, tail=tail
            )
            lines = raw.decode(errors="replace").split("\n")
            if lines[-1] == "":
                lines.pop()
            return [line.removesuffix("\r") for line in lines]

        return await asyncio.to_thread(self._with_client, work)

    def follow_logs(
        self,
        name: str,
        tail: int,
        on_line: Callable[[str], None],
        stop: threading.Event,
    ) -> str:
        """Call `on_line` with each line the container writes, stdout and stderr as they
        come, starting with the last `tail` lines it wrote before (0: new lines only), until
        `stop` is set or the container stops. Blocks: run it in a thread of its own.

        Lines are decoded as UTF-8 (what is not becomes U+FFFD) and come without their line
        ending. Setting `stop` ends the call within a fraction of a second, even while the
        container is quiet; no line is passed on after it is set.

        Returns why the follow ended, in a few words for the user: "stopped" (`STOPPED`)
        when asked to, else what became of the container: "container exited (code 0)",
        "container removed", ... Raises LookupError for no container of this name, and the
        client's connection error (requests.exceptions.ConnectionError) when the daemon
        cannot be reached or went away while following.
        """
        check_name(name)
        if tail < 0:
            raise ValueError(f"tail must not be negative, not {tail}")
        # Over ssh, the sessions this follow holds: ended when it is stopped.
        errand = Errand()

        def work(client: Any) -> str:
            container_id = self._id_of(client, name)
            if stop.is_set():
                return STOPPED
            try:
                stream = client.api.logs(
                    container_id,
                    stdout=True,
                    stderr=True,
                    stream=True,
                    follow=True,
                    timestamps=False,
                    tail=tail,
                )
            except docker.errors.NotFound:  # removed since it was looked up
                raise LookupError(f"no such container: {name}") from None
            _follow(stream, _LineSplitter(on_line, stop), stop, errand)
            if stop.is_set():
                return STOPPED
            # The stream ends quietly however it ends (the SDK takes a dropped connection
            # for an end): asking after the container tells which, and raises if the daemon
            # went away.
            return _why_ended(client, container_id)

        with serving(errand):
            return self._with_client(work)

    # `timeout` is docker's grace period before SIGKILL, not a deadline on this call.
    async def restart(self, name: str, timeout: int = 10) -> None:  # noqa: ASYNC109
        """Stop (SIGTERM, then SIGKILL after `timeout` seconds) and start the container."""
        check_name(name)
        if timeout < 0:
            raise ValueError(f"timeout must not be negative, not {timeout}")

        def work(client: Any) -> None:
            client.api.restart(self._id_of(client, name), timeout=timeout)

        await asyncio.to_thread(self._with_client, work)

    def close(self) -> None:
        with self._client_lock:
            # A poll still in its thread must not make a new client (and, over ssh, a
            # session that keeps the host's connection open) after this.
            self._closed = True
            client, self._client = self._client, None
        if client is not None:
            client.close()
        self._stats_pool.shutdown(wait=False, cancel_futures=True)

    # -- in the worker thread ----------------------------------------------------

    def _with_client(self, work: Callable[[Any], R]) -> R:
        with self._client_lock:
            if self._closed:
                raise ConnectionError("the Docker source was closed")
            # Made on first use, not at start: the client asks the daemon for its API
            # version as it is made, and the daemon may be down when the console starts.
            if self._client is None and self.make_client is not None:
                self._client = self.make_client()
            elif self._client is None:
                self._client = docker.DockerClient(
                    base_url=self.base_url, timeout=self.timeout, max_pool_size=_STATS_AT_ONCE
                )
            client = self._client
        try:
            return work(client)
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout):
            # The daemon that comes back may be another version: negotiate afresh.
            with self._client_lock:
                if self._client is client:
                    self._client = None
            client.close()
            raise

    def _id_of(self, client: Any, name: str) -> str:
        """The id of the container of exactly this name. Docker also takes an id prefix for
        a name: a name that is no container's yet looks like another's id must not act on
        that other container (a restart least of all)."""
        try:
            attrs = client.api.inspect_container(name)
        except docker.errors.NotFound:
            raise LookupError(f"no such container: {name}") from None
        if attrs["Name"].lstrip("/") != name:
            raise LookupError(f"no such container: {name}")
        return str(attrs["Id"])

    def _poll(self, client: Any) -> dict[str, ContainerStatus]:
        found: dict[str, dict[str, Any]] = {}  # inspect documents by container id, in order
        absent: set[str] = set()
        for name in self.containers:
            attrs = self._inspect(client, name)
            # A name that is no container's may still be taken as another's id prefix.
            if attrs is None or attrs["Name"].lstrip("/") != name:
                absent.add(name)
            else:
                found[attrs["Id"]] = attrs
        if self.label is not None:
            labelled = []
            for summary in client.api.containers(all=True, filters={"label": self.label}):
                if summary["Id"] not in found:
                    attrs = self._inspect(client, summary["Id"])
                    if attrs is not None:  # None: removed since the listing
                        labelled.append(attrs)
            for attrs in sorted(labelled, key=lambda a: str(a["Name"])):
                found[attrs["Id"]] = attrs

        # One-shot stats take a single sample where plain stats wait 1-2 s per container for
        # a second one. Before API 1.41 there is no one-shot: no resource numbers beats a
        # poll that stalls.
        measured = [
            container_id
            for container_id, attrs in found.items()
            if attrs["State"].get("Status") in ("running", "paused")
        ]
        if docker.utils.version_lt(client.api.api_version, _ONE_SHOT_API):
            measured = []
        # Together, not one by one: each request waits for the daemon's next round. Each
        # in a copy of this thread's context: over ssh, the sessions they take are the
        # poll's (sources/sessions.py), ended with the others when it is given up on.
        asks = [
            functools.partial(contextvars.copy_context().run, self._stats, client, container_id)
            for container_id in measured
        ]
        stats = dict(zip(measured, self._stats_pool.map(_call, asks), strict=True))
        statuses = {name: missing(name) for name in self.containers if name in absent}
        samples: dict[str, _CpuSample] = {}
        for container_id, attrs in found.items():
            status, sample = _status(attrs, stats.get(container_id), self._cpu.get(container_id))
            statuses[status.name] = status
            if sample is not None:
                samples[container_id] = sample
        # Replaced whole: containers gone since the last poll leave no sample behind.
        self._cpu = samples
        # Configured names in their order, then the labelled containers by name.
        return {name: statuses[name] for name in self.containers} | statuses

    @staticmethod
    def _inspect(client: Any, name_or_id: str) -> dict[str, Any] | None:
        try:
            attrs: dict[str, Any] = client.api.inspect_container(name_or_id)
        except docker.errors.NotFound:
            return None
        return attrs

    @staticmethod
    def _stats(client: Any, container_id: str) -> dict[str, Any] | None:
        try:
            stats: dict[str, Any] = client.api.stats(container_id, stream=False, one_shot=True)
        except docker.errors.NotFound:  # removed since it was inspected
            return None
        return stats


class _LineSplitter:
    """Bytes as they come, in chunks of any size, out as decoded lines."""

    def __init__(self, on_line: Callable[[str], None], stop: threading.Event) -> None:
        self._on_line = on_line
        self._stop = stop
        self._partial = bytearray()

    def feed(self, chunk: bytes) -> None:
        self._partial += chunk
        # A container with a TTY comes a byte at a time: split only when there is a line.
        if b"\n" in chunk:
            *lines, rest = self._partial.split(b"\n")
            self._partial = rest
            for line in lines:
                self._emit(line)
        if len(self._partial) > LONGEST_LINE_BYTES:
            self.flush()

    def flush(self) -> None:
        """What came after the last line ending, as a line of its own."""
        if self._partial:
            line, self._partial = self._partial, bytearray()
            self._emit(line)

    def _emit(self, line: bytearray) -> None:
        if not self._stop.is_set():
            # A container with a TTY ends its lines with \r\n.
            self._on_line(line.decode("utf-8", errors="replace").removesuffix("\r"))


def _call(call: Callable[[], R]) -> R:
    return call()


def _follow(stream: Any, lines: _LineSplitter, stop: threading.Event, errand: Errand) -> None:
    """Pass the stream's lines on until it ends or `stop` is set. A stream blocks until the
    container writes: only closing its socket from another thread ends it sooner, or, over
    ssh, ending the session behind it (the errand's)."""
    finished = threading.Event()
    close_lock = threading.Lock()

    # Closed already; or over ssh, where the SDK's close looks for a socket that is not
    # there (AttributeError, or UnboundLocalError: a NameError).
    cannot_close = (OSError, AttributeError, NameError, docker.errors.DockerException)

    def close() -> None:
        with close_lock:
            # The SDK's close of a stream over ssh leaves its ssh running, and the read
            # blocked on it; ending the session ends both.
            if stop.is_set() and errand.abandon():
                return
            with contextlib.suppress(*cannot_close):
                stream.close()

    def close_on_stop() -> None:
        while not stop.wait(_STOP_CHECK_SECONDS):
            if finished.is_set():
                return
        close()

    watcher = threading.Thread(target=close_on_stop, name="docker-logs-stop", daemon=True)
    watcher.start()
    try:
        for chunk in stream:
            lines.feed(chunk)
            if stop.is_set():
                return
        lines.flush()
    finally:
        finished.set()
        watcher.join()
        close()


def _why_ended(client: Any, container_id: str) -> str:
    try:
        state = client.api.inspect_container(container_id)["State"]
    except docker.errors.NotFound:
        return "container removed"
    status = str(state.get("Status", "unknown"))
    if status == "removing":
        return "container removed"
    if status in _EXITED_STATES:
        return f"container {status} (code {state.get('ExitCode')})"
    if status == "running":  # the daemon ended the stream, not the container
        return "log stream ended"
    return f"container {status}"


def _status(
    attrs: dict[str, Any], stats: dict[str, Any] | None, previous: _CpuSample | None
) -> tuple[ContainerStatus, _CpuSample | None]:
    """The status of one inspected container, and the CPU sample for the next poll."""
    state = attrs["State"]
    status = str(state.get("Status", "unknown"))
    started_at = state.get("StartedAt")
    if started_at in (None, "", _NEVER):
        started_at = None
    health = (state.get("Health") or {}).get("Status")
    memory = memory_limit = None
    cpu_percent = None
    sample = None
    if stats is not None:
        memory, memory_limit = _memory(stats.get("memory_stats") or {})
        if status == "running" and started_at is not None:
            sample = _cpu_sample(stats.get("cpu_stats") or {}, started_at)
            if sample is not None and previous is not None:
                cpu_percent = _cpu_percent(previous, sample)
    return (
        ContainerStatus(
            name=attrs["Name"].lstrip("/"),
            state=status,
            health=str(health) if health else None,
            restart_count=int(attrs.get("RestartCount") or 0),
            oom_killed=bool(state.get("OOMKilled")),
            exit_code=int(state["ExitCode"]) if status in _EXITED_STATES else None,
            started_at=started_at,
            cpu_percent=cpu_percent,
            memory_bytes=memory,
            memory_limit_bytes=memory_limit,
        ),
        sample,
    )


def _memory(memory_stats: dict[str, Any]) -> tuple[int | None, int | None]:
    usage = memory_stats.get("usage")
    limit = memory_stats.get("limit")
    limit = int(limit) if limit else None
    if usage is None:  # a container that stopped between inspect and stats
        return None, limit
    usage = int(usage)
    # Page cache the kernel drops before it OOM-kills is not memory the service holds.
    # cgroup v1 names it total_inactive_file, v2 inactive_file; `docker stats` does this.
    detail = memory_stats.get("stats") or {}
    inactive = detail.get("total_inactive_file", detail.get("inactive_file"))
    if inactive is not None and int(inactive) < usage:
        usage -= int(inactive)
    return usage, limit


def _cpu_sample(cpu_stats: dict[str, Any], started_at: str) -> _CpuSample | None:
    total = (cpu_stats.get("cpu_usage") or {}).get("total_usage")
    system = cpu_stats.get("system_cpu_usage")
    # Older daemons leave online_cpus out; their per-CPU list has one entry per CPU.
    online = cpu_stats.get("online_cpus") or len(
        (cpu_stats.get("cpu_usage") or {}).get("percpu_usage") or []
    )
    if total is None or system is None or not online:  # Windows daemons lack a system total
        return None
    return _CpuSample(started_at, int(total), int(system), int(online))


def _cpu_percent(previous: _CpuSample, current: _CpuSample) -> float | None:
    if previous.started_at != current.started_at:
        return None
    cpu_delta = current.container_ns - previous.container_ns
    system_delta = current.system_ns - previous.system_ns
    # The system counter moves in clock ticks: two polls within one tick show no time.
    if cpu_delta < 0 or system_delta <= 0:
        return None
    return cpu_delta / system_delta * current.online_cpus * 100.0
