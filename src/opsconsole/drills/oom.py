"""A container's main process OOM-killed under its memory limit, as when a service
outgrows it: Docker then reports the container exited (137) with State.OOMKilled."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import docker
from docker.errors import NotFound

EXIT_WAIT_SECONDS = 15.0
ATTEMPTS = 3
HOG_GONE_WAIT_SECONDS = 3.0
"""Once the hog's exec has returned, the main process, if killed, is on record by then."""
MARGIN_BYTES = 64 * 1024 * 1024


class OomRefused(Exception):
    """The container cannot take this fault."""


def hog_script(limit_bytes: int) -> str:
    """What the drill runs inside the container. The kernel's OOM killer picks the
    largest process of the cgroup: the hog, and the service would live on. Raising the
    main process's oom_score_adj (allowed unprivileged: only lowering it is not) makes
    the service the one killed. tail keeps a line without a newline whole, so it grows
    until the limit; bounded by head, and its output dropped, should nothing be killed.
    If the main process survives, its score is set back."""
    return (
        "echo 1000 > /proc/1/oom_score_adj"
        f" && head -c {limit_bytes} /dev/zero | tail > /dev/null;"
        " echo 0 > /proc/1/oom_score_adj"
    )


@dataclass
class ContainerOom:
    """Memory filled inside the container until the kernel kills its main process.
    Refused on a container without a memory limit: that memory would be the host's.
    Needs sh, head and tail in the image (busybox, alpine, debian: any but distroless)."""

    base_url: str
    container: str

    def record(self) -> dict[str, Any]:
        return {"kind": "container_oom", "container": self.container}

    def inject(self) -> str:
        client = docker.DockerClient(base_url=self.base_url, timeout=60)
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
            hog = max(limit, swap) + MARGIN_BYTES
            for _ in range(ATTEMPTS):
                found.exec_run(["sh", "-c", hog_script(hog)])
                # Now and then the kernel takes the hog all the same (seen under load in
                # CI): the service is still up, untouched, and the hog can go again.
                if _exited(found, within=HOG_GONE_WAIT_SECONDS):
                    break
            state = _wait_for_oom_exit(found)
        finally:
            client.close()
        if state.get("Status") == "running":
            raise OomRefused(
                "the memory hog was killed, not the container's main process: "
                "the container is still running"
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
        client = docker.DockerClient(base_url=self.base_url, timeout=60)
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


def _exited(found: Any, within: float) -> bool:
    deadline = time.monotonic() + within
    while True:
        found.reload()
        if found.attrs["State"].get("Status") != "running":
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


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
