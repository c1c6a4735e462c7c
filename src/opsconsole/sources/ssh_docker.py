"""A host's Docker engine over ssh, through the docker SDK's own SSH transport (`ssh://`,
the system ssh client running `docker system dial-stdio` on the host), given the
console's ssh options: the SDK runs a bare `ssh HOST`, which would read the passwd
entry's ~/.ssh/config alone, wait on a prompt, and write ssh's complaints over the
dashboard. Each pooled connection is one ssh process, multiplexed over the host's one
kept connection (ControlMaster, sources/ssh.py)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from typing import Any

import docker
from docker.transport import sshconn

from opsconsole.config.model import HostSection
from opsconsole.sources.sessions import Errand, current
from opsconsole.sources.ssh import SESSIONS_A_LANE, ssh_argv

# Asked of every engine before the client knows its version: the oldest the SDK supports.
_FIRST_API = "1.24"
_NEWEST_API = "1.41"
# How long an ended session's ssh has to go on SIGTERM before it is killed.
_END_SECONDS = 1.0


class _HostSocket(sshconn.SSHSocket):  # type: ignore[misc]  # the SDK ships no types
    def __init__(self, host: HostSection, lane: int) -> None:
        super().__init__(host.ssh)
        self.config = host
        self.lane = lane

    def makefile(self, mode: str) -> Any:
        # A reader of its own for each response, over a copy of ssh's stdout: http.client
        # closes the one it is given once the response is read, and the next request on
        # this kept session needs ssh's stdout open (the SDK hands over the pipe itself).
        if self.proc is None:
            self.connect()
        assert self.proc.stdout is not None  # a pipe: Popen was given stdout=PIPE
        reader = os.fdopen(os.dup(self.proc.stdout.fileno()), "rb")
        reader.channel = self  # type: ignore[attr-defined]  # the SDK's streams look for it
        return reader

    def close(self) -> None:
        # The SDK's close writes to ssh's stdin, which a dead host's ssh has closed.
        with contextlib.suppress(OSError, ValueError):
            super().close()

    def end(self) -> None:
        """ssh ended: its end of the pipes closes, and a read blocked on them returns
        (closing our ends would not wake it). The kept connection stays: the master
        closes this session's channel alone."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(_END_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(_END_SECONDS)

    def connect(self, **kwargs: Any) -> None:
        self.proc = subprocess.Popen(
            ssh_argv(self.config, ["docker", "system", "dial-stdio"], self.lane),
            stdout=subprocess.PIPE,
            stdin=subprocess.PIPE,
            # Never onto the screen: the reason a host is unreachable comes from the
            # connection check (sources/ssh.py `reach`), asked on its own.
            stderr=subprocess.DEVNULL,
            # A session of its own: Ctrl+C in the console is the console's, and ssh has no
            # terminal to ask on (no preexec_fn: unsafe in a threaded program).
            start_new_session=True,
        )


class _HostConnection(sshconn.SSHConnection):  # type: ignore[misc]
    def __init__(self, host: HostSection, timeout: float, lane: int) -> None:
        super().__init__(None, timeout, host.ssh)
        self.host_config = host
        self.lane = lane
        self.errand: Errand | None = None
        """The work this session serves while taken from the pool (sources/sessions.py)."""

    @property
    def is_connected(self) -> bool:
        # urllib3 polls the socket's descriptor, which for the SDK's ssh socket is a
        # socket never connected: it always looks dropped, and no connection would be
        # kept. Alive while its ssh is.
        sock = self.sock
        return sock is not None and sock.proc is not None and sock.proc.poll() is None

    def connect(self) -> None:
        sock = _HostSocket(self.host_config, self.lane)
        sock.settimeout(self.timeout)
        sock.connect()
        self.sock = sock
        errand = self.errand
        if errand is not None and errand.abandoned:  # given up on while ssh started
            sock.end()

    def end(self) -> None:
        sock = self.sock
        if isinstance(sock, _HostSocket):
            sock.end()


class _HostPool(sshconn.SSHConnectionPool):  # type: ignore[misc]
    """At most `maxsize` sessions at once (a request waits for one to be free rather than
    open one more), spread over the host's lanes, SESSIONS_A_LANE each."""

    def __init__(self, host: HostSection, timeout: float, maxsize: int) -> None:
        super().__init__(None, timeout, maxsize, host.ssh)
        self.host_config = host
        self.block = True
        self.lanes = max(1, -(-maxsize // SESSIONS_A_LANE))
        self.opened = 0

    def _new_conn(self) -> _HostConnection:
        lane, self.opened = self.opened % self.lanes, self.opened + 1
        return _HostConnection(self.host_config, self.timeout, lane)

    def _get_conn(self, timeout: float | None = None) -> _HostConnection:
        conn: _HostConnection = super()._get_conn(timeout)
        conn.errand = errand = current()
        if errand is not None:
            errand.took(conn)
        return conn

    def _put_conn(self, conn: _HostConnection | None) -> None:
        if conn is not None and conn.errand is not None:
            conn.errand.gave_back(conn)
            conn.errand = None
        super()._put_conn(conn)


class _HostAdapter(sshconn.SSHHTTPAdapter):  # type: ignore[misc]
    def __init__(self, host: HostSection, timeout: float, maxsize: int) -> None:
        super().__init__(f"ssh://{host.ssh}", timeout, max_pool_size=maxsize, shell_out=True)
        self.host_config = host

    def get_connection(self, url: Any, proxies: Any = None) -> _HostPool:
        # One pool for the host, whatever the request's path: the SDK keys its pools by
        # the whole URL, a pool (an ssh session) per container asked about.
        with self.pools.lock:
            pool = self.pools.get(self.ssh_host)
            if pool is None:
                pool = _HostPool(self.host_config, self.timeout, self.max_pool_size)
                self.pools[self.ssh_host] = pool
        return pool  # type: ignore[no-any-return]


def ssh_docker_client(host: HostSection, timeout: float, maxsize: int) -> Any:
    """A DockerClient of the host's engine, over ssh with the console's options."""
    # Made with a fixed version, so that the SDK asks nothing over its own bare ssh...
    client = docker.DockerClient(
        base_url=f"ssh://{host.ssh}", version=_FIRST_API, timeout=timeout, use_ssh_client=True
    )
    adapter = _HostAdapter(host, timeout, maxsize)
    client.api._custom_adapter = adapter
    client.api.mount("http+docker://ssh", adapter)
    # ... then the version both sides speak, asked through ours.
    server = str(client.api.version(api_version=False)["ApiVersion"])
    client.api._version = min(server, _NEWEST_API, key=lambda v: tuple(map(int, v.split("."))))
    return client
