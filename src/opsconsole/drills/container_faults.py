"""The container faults of a drill: stopped, killed, paused; the whole stack stopped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import docker
from docker.errors import NotFound

from opsconsole.config.model import HostSection


def engine_client(base_url: str, host: HostSection | None, timeout: float) -> Any:
    """The engine a fault acts on: a host's over ssh (its own kept connection, as the
    dashboard reads it), else this machine's [docker]."""
    if host is None:
        return docker.DockerClient(base_url=base_url, timeout=timeout)
    from opsconsole.sources.ssh_docker import ssh_docker_client

    return ssh_docker_client(host, timeout=timeout, maxsize=1)


def on_host(record: dict[str, Any], host: HostSection | None) -> dict[str, Any]:
    """A fault's record, with the host it was put into: its undo goes there too."""
    return {**record, "host": host.name} if host is not None else record


@dataclass
class ContainerFault:
    """A container stopped, killed (SIGKILL) or paused; undo starts or unpauses it."""

    base_url: str
    container: str
    action: str
    host: HostSection | None = None
    """The host of [[hosts]] whose engine runs it; None: this machine's."""

    def record(self) -> dict[str, Any]:
        return on_host({"kind": f"container_{self.action}", "container": self.container}, self.host)

    @property
    def where(self) -> str:
        return f"container {self.container}" + (f" on {self.host.name}" if self.host else "")

    def inject(self) -> str:
        client = engine_client(self.base_url, self.host, 30)
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
        return f"{self.where}: {self.action}"

    def undo(self) -> str:
        client = engine_client(self.base_url, self.host, 30)
        try:
            found = client.containers.get(self.container)
            if found.status == "paused":
                found.unpause()
                return f"{self.where} unpaused"
            if found.status != "running":
                found.start()
                return f"{self.where} started"
            return f"{self.where} was running"
        except NotFound:
            return f"{self.where} is gone: nothing to start"
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
