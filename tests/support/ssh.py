"""Hosts behind a bastion, on loopback: one real OpenSSH server (Debian's sshd) per host,
each with a throwaway host key, reaching the harness's private Docker engine (its
sessions get DOCKER_HOST from sshd's SetEnv); the client's key, known_hosts and an
ssh_config naming every host are written to a temp dir, never to the real home (the
OpenSSH client reads ~/.ssh from the passwd entry, not $HOME: every call passes -F)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.servers import Server, ServerUnavailable, find_program, free_port

SSHD = "/usr/sbin/sshd"


def keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
        check=True, capture_output=True,
    )  # fmt: skip


@dataclass
class SshHost(Server):
    """One host: its sshd on 127.0.0.1:port."""

    alias: str = "app1"
    port: int = 0
    docker_host: str = ""
    client: Path = field(default_factory=Path)
    """The client's directory: authorized_keys takes its key."""

    def start(self) -> SshHost:
        if not Path(SSHD).exists():
            raise ServerUnavailable("sshd is not installed (scripts/test installs it)")
        find_program("ssh")
        os.makedirs("/run/sshd", exist_ok=True)  # its privilege separation directory
        self.port = free_port()
        keygen(self.workdir / "host_key")
        config = self.workdir / "sshd_config"
        config.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\n"
            f"HostKey {self.workdir / 'host_key'}\nPidFile {self.workdir / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {self.client / 'client_key.pub'}\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
            "StrictModes no\nPermitRootLogin prohibit-password\n"
            # What `docker` on this "host" talks to: the harness's own engine; and a name
            # only a session on this host has (its sshd sets it, no login here does).
            # SHLVL=1: bash run by sshd sources the login's ~/.bashrc, and this "host" is
            # this machine's own root, whose ~/.bashrc may be a developer's (pyenv's rehash
            # waits on a lock that a session killed by down() leaves behind: every login
            # after it would hang). A host's rc files are its own, not the test's.
            f"SetEnv DOCKER_HOST={self.docker_host} OPSCONSOLE_TEST_HOST={self.alias} SHLVL=1\n"
        )
        self.spawn([SSHD, "-D", "-f", str(config), "-E", str(self.log_path)])
        self.wait_ready(self.ready)
        return self

    def ready(self) -> bool:
        import socket

        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
            return sock.recv(4).startswith(b"SSH-")

    def resume(self, timeout: float = 60.0) -> None:
        """Its sshd back, once: a second would fail to bind the port, and the first be
        left running past the test (cleanup ends the process it knows)."""
        if self.process is not None and self.process.poll() is None:
            return
        super().resume(timeout)

    def down(self) -> None:
        """The host gone: its sshd and every session it holds (a kept connection too)."""
        if self.process is None:
            return
        for pid in [*descendants(self.process.pid), self.process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(5)

    def freeze(self, frozen: bool = True) -> None:
        """The host hung (SIGSTOP to sshd and every session): connections are taken by
        the kernel and answered by nothing, as when a host is out of memory."""
        assert self.process is not None
        for pid in [self.process.pid, *descendants(self.process.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP if frozen else signal.SIGCONT)

    def running(self, word: str) -> list[int]:
        """The host's processes (its sshd's, and their children) whose command line has
        `word`: `dial-stdio`, the host's side of the console's docker sessions."""
        assert self.process is not None
        return commands_under(self.process.pid, word)

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            self.freeze(False)
        self.down()
        super().cleanup()

    @property
    def public_key(self) -> str:
        return (self.workdir / "host_key.pub").read_text().split(" ")[1]


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        children = Path(f"/proc/{parent}/task/{parent}/children")
        try:
            kids = [int(each) for each in children.read_text().split()]
        except OSError:
            continue
        found += kids
        todo += kids
    return found


def commands_under(ancestor: int, word: str) -> list[int]:
    """The live processes under `ancestor` (whichever of its threads started them) whose
    command line has `word`: a zombie has none, and is not counted."""
    parents: dict[int, int] = {}
    lines: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # ended since the listing
            continue
        # The command's name, in parentheses, may hold spaces: the fields after it do not.
        parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
        lines[int(entry.name)] = line
    found: list[int] = []
    for pid, line in lines.items():
        above = parents.get(pid)
        while above is not None and above != ancestor:
            above = parents.get(above)
        if above == ancestor and word in line:
            found.append(pid)
    return sorted(found)


@dataclass
class SshHosts:
    """Several hosts and the client that reaches them: `ssh -F config ALIAS`."""

    directory: Path
    hosts: dict[str, SshHost] = field(default_factory=dict)

    @property
    def config(self) -> Path:
        return self.directory / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        return self.directory / "known_hosts"

    @property
    def key(self) -> Path:
        return self.directory / "client_key"

    def start(self, aliases: list[str], docker_host: str) -> SshHosts:
        self.directory.mkdir(parents=True, exist_ok=True)
        keygen(self.key)
        for alias in aliases:
            host = SshHost(name=f"sshd-{alias}", alias=alias, docker_host=docker_host,
                           client=self.directory)  # fmt: skip
            self.hosts[alias] = host.start()
        self.known_hosts.write_text(
            "".join(
                f"[127.0.0.1]:{h.port} ssh-ed25519 {h.public_key}\n" for h in self.hosts.values()
            )
        )
        self.config.write_text(
            "".join(
                f"Host {alias}\n  HostName 127.0.0.1\n  Port {host.port}\n  User root\n"
                f"  IdentityFile {self.key}\n  IdentitiesOnly yes\n"
                f"  UserKnownHostsFile {self.known_hosts}\n  StrictHostKeyChecking yes\n"
                "  BatchMode yes\n"
                for alias, host in self.hosts.items()
            )
        )
        return self

    def cleanup(self) -> None:
        for host in self.hosts.values():
            host.cleanup()


@contextlib.contextmanager
def kept_connections() -> Iterator[Path]:
    """A directory for ssh's kept connections (XDG_RUNTIME_DIR) of a test's own, under a
    short path (a socket's path has a length limit): one test's never serve another's.
    They are closed, and the directory removed, at the end."""
    directory = Path(tempfile.mkdtemp(prefix="oc-ssh-"))
    try:
        yield directory
    finally:
        for socket in directory.rglob("*"):
            if socket.is_socket():
                subprocess.run(["ssh", "-O", "exit", "-S", str(socket), "x"], capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)
