"""The container faults of a drill: stopped, killed, paused; the whole stack stopped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import docker
from docker.errors import NotFound


@dataclass
class ContainerFault:
    """A container stopped, killed (SIGKILL) or paused; undo starts or unpauses it."""

    base_url: str
    container: str
    action: str

    def record(self) -> dict[str, Any]:
        return {"kind": f"container_{self.action}", "container": self.container}

    def inject(self) -> str:
        client = docker.DockerClient(base_url=self.base_url, timeout=30)
        try:
            found = client.containers.get(self.container)
            if self.action == "stop":
                found.stop(timeout=5)
            elif self.action == "kill":
                found.kill()
            else:
                found.pause()
        finally:
            client.close()
        return f"container {self.container}: {self.action}"

    def undo(self) -> str:
        client = docker.DockerClient(base_url=self.base_url, timeout=30)
        try:
            found = client.containers.get(self.container)
            if found.status == "paused":
                found.unpause()
                return f"container {self.container} unpaused"
            if found.status != "running":
                found.start()
                return f"container {self.container} started"
            return f"container {self.container} was running"
        except NotFound:
            return f"container {self.container} is gone: nothing to start"
        finally:
            client.close()


@dataclass
class StackStop:
    """Every container of the stack stopped, as a host's reboot leaves those without a
    restart policy: the entry points first, the databases last. Undo starts them again
    in the order they depend on each other (the order given)."""

    base_url: str
    containers: list[str]

    def record(self) -> dict[str, Any]:
        return {"kind": "containers_stop", "containers": self.containers}

    def inject(self) -> str:
        for name in reversed(self.containers):
            ContainerFault(self.base_url, name, "stop").inject()
        return f"{len(self.containers)} containers stopped: {', '.join(self.containers)}"

    def undo(self) -> str:
        """Each started again, whatever became of the one before: one that cannot be is
        said, and raised at the end, so that its record stays for a retry."""
        said, failed = [], []
        for name in self.containers:
            try:
                said.append(ContainerFault(self.base_url, name, "stop").undo())
            except Exception as error:  # the next one still starts
                failed.append(f"{name}: {error}")
        if failed:
            raise RuntimeError("; ".join(said + failed))
        return "; ".join(said)
