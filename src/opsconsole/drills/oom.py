"""A container's main process OOM-killed under its memory limit, as when a service
outgrows it: Docker then reports the container exited (137) with State.OOMKilled."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from docker.errors import NotFound

from opsconsole.config.model import HostSection
from opsconsole.drills.container_faults import engine_client, on_host

EXIT_WAIT_SECONDS = 15.0
MARGIN_BYTES = 64 * 1024 * 1024
HOG_PIECES_PER_LIMIT = 4
HOG_MAX_PIECES = 64
"""Enough for swap of 15 times the limit; a container allowed more is not filled."""
HOG_HOLD_SECONDS = 10
"""How long each piece is held should nothing be killed: then the drill says so."""


class OomRefused(Exception):
    """The container cannot take this fault."""


def hog_script(limit_bytes: int, total_bytes: int) -> str:
    """What the drill runs inside the container: memory filled in pieces until the
    kernel's OOM killer takes the largest process of the cgroup by its score.

    Raising the main process's oom_score_adj to 1000 (allowed unprivileged: only lowering
    it is not) adds about the whole limit to its score, but the kernel rounds that bonus
    down to 1000 times whole thousandths of the limit's pages: at 32 MiB 192 pages short,
    and one hog holding the whole limit outscored the service half the time. Hogs of a
    quarter of the limit each cannot. Each is a tail holding a line without a newline
    until its input ends, which a sleep holds open, so the pieces are all held at once
    and together exceed `total_bytes`. If the main process survives, its score is set
    back once they have ended by themselves."""
    piece = max(limit_bytes // HOG_PIECES_PER_LIMIT, 1)
    count = min(-(-total_bytes // piece) + 1, HOG_MAX_PIECES)
    hog = f"{{ head -c {piece} /dev/zero; sleep {HOG_HOLD_SECONDS}; }} | tail > /dev/null &"
    numbers = " ".join(str(n) for n in range(count))
    return (
        "echo 1000 > /proc/1/oom_score_adj"
        f" && for piece in {numbers}; do {hog} done; wait;"
        " echo 0 > /proc/1/oom_score_adj"
    )


@dataclass
class ContainerOom:
    """Memory filled inside the container until the kernel kills its main process.
    Refused on a container without a memory limit: that memory would be the host's.
    Needs sh, head and tail in the image (busybox, alpine, debian: any but distroless)."""

    base_url: str
    container: str
    host: HostSection | None = None
    """The host of [[hosts]] whose engine runs it; None: this machine's."""

    def record(self) -> dict[str, Any]:
        return on_host({"kind": "container_oom", "container": self.container}, self.host)

    def inject(self) -> str:
        client = engine_client(self.base_url, self.host, 60)
        try:
            found = client.containers.get(self.container)
            host = found.attrs.get("HostConfig") or {}
            limit = int(host.get("Memory") or 0)
            if limit <= 0:
                raise OomRefused(
                    f"container {self.container} has no memory limit: "
                    "filling it would fill the host"
                )
            if found.status != "running":
                raise OomRefused(f"container {self.container} is {found.status}, not running")
            # With swap allowed, the cgroup takes memory and swap together before it kills.
            swap = int(host.get("MemorySwap") or 0)
            fill = max(limit, swap) + MARGIN_BYTES
            # Killed, a piece frees its memory; those still held make the kernel choose
            # again, and the main process still scores highest.
            found.exec_run(["sh", "-c", hog_script(limit, fill)])
            state = _wait_for_oom_exit(found)
        finally:
            client.close()
        if state.get("Status") == "running":
            raise OomRefused(
                "filling its memory did not get its main process OOM-killed "
                "(swap far beyond its limit?): the container is still running"
            )
        if not state.get("OOMKilled"):
            raise OomRefused(
                f"container {self.container} is {state.get('Status')} "
                f"(exit {state.get('ExitCode')}) but Docker does not report it OOM-killed"
            )
        return (
            f"container {self.container}: main process OOM-killed under its "
            f"{limit // 2**20} MiB limit (exit {state.get('ExitCode')})"
        )

    def undo(self) -> str:
        client = engine_client(self.base_url, self.host, 60)
        try:
            found = client.containers.get(self.container)
            said = f"container {self.container} was running"
            if found.status == "paused":
                found.unpause()
            elif found.status != "running":
                found.start()
                said = f"container {self.container} started"
            found.reload()
            if found.attrs["State"].get("OOMKilled"):
                # Docker before 25 reports the last exit's OOMKilled for a container
                # started again, until it next exits: the dashboard would go on showing
                # the drill's kill. A clean exit and start now clear it.
                found.restart(timeout=5)
                said += ", restarted to clear the OOMKilled of the drill's kill"
            return said
        except NotFound:
            return f"container {self.container} is gone: nothing to start"
        finally:
            client.close()


def _wait_for_oom_exit(found: Any) -> dict[str, Any]:
    """Docker's state once the container has exited and the kill is on record: the
    daemon may record the exit a moment before containerd's OOM event reaches it."""
    deadline = time.monotonic() + EXIT_WAIT_SECONDS
    while True:
        found.reload()
        state: dict[str, Any] = found.attrs["State"]
        settled = state.get("Status") != "running" and state.get("OOMKilled")
        if settled or time.monotonic() >= deadline:
            return state
        time.sleep(0.2)
