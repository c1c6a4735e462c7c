"""The demo fleet's control channel: a Unix socket through which other processes (a
runbook's `opsconsole demo clear`, a drill) set and clear its services' faults.

The fleet runs inside one `opsconsole demo` process; its socket lives in a private
directory (0700, so only this user reaches it) and its address, with a configuration
that points at the fleet, is published under the state directory. Children of the fleet's
process (the runbooks it runs) are pointed at it by $OPSCONSOLE_DEMO_SOCKET, so they reach
their own fleet even when another one was started since."""

from __future__ import annotations

import json
import os
import shutil
import socket
import socketserver
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsconsole.common.paths import state_directory
from opsconsole.demo.faults import FAULTS, Fault

if TYPE_CHECKING:
    # A client of the channel (`demo fault`, a drill) starts no fleet: the servers are
    # the serving side's alone.
    from opsconsole.demo.fleet import DemoFleet

SOCKET_ENV = "OPSCONSOLE_DEMO_SOCKET"
ADDRESS_FILENAME = "fleet.json"
MAX_REQUEST_BYTES = 4096
TIMEOUT_SECONDS = 15.0
"""A DOWN fault waits for the service's open connections to close: seconds, not minutes."""


class DemoControlError(Exception):
    """No demo fleet answers, or it refused the request: the message says which."""


class NoDemoFleet(DemoControlError):
    """None is running: whatever faults one had ended with its process."""


def published_directory(env: Mapping[str, str] | None = None) -> Path:
    return state_directory("demo", env=env)


# -- the fleet's side -------------------------------------------------------------------------


class ControlServer:
    """Serves requests to a fleet from a thread of its own, until closed."""

    def __init__(self, fleet: DemoFleet, env: Mapping[str, str] | None = None) -> None:
        self.fleet = fleet
        self.published = published_directory(env)
        self._private = Path(tempfile.mkdtemp(prefix="opsconsole-demo-"))
        self.socket_path = self._private / "control.sock"
        handler = type("Handler", (_Handler,), {"fleet": fleet, "config": self.config_path})
        self._server = socketserver.ThreadingUnixStreamServer(str(self.socket_path), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="demo-control", daemon=True
        )

    def __enter__(self) -> ControlServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def config_path(self) -> Path:
        """This fleet's own configuration: valid for as long as this fleet runs, whatever
        other fleets start and stop meanwhile."""
        return self.published / f"{self._private.name}.toml"

    @property
    def _own_address(self) -> Path:
        return self.published / f"{self._private.name}.json"

    def start(self) -> None:
        self._thread.start()
        os.environ[SOCKET_ENV] = str(self.socket_path)
        self.published.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_atomically(self.config_path, config_toml(self.fleet))
        address = json.dumps(
            {"socket": str(self.socket_path), "pid": os.getpid(), "config": str(self.config_path)}
        )
        _write_atomically(self._own_address, address)
        # The newest fleet is the one a command without a fleet of its own reaches.
        _write_atomically(self.published / ADDRESS_FILENAME, address)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if os.environ.get(SOCKET_ENV) == str(self.socket_path):
            del os.environ[SOCKET_ENV]
        # Only what this fleet published goes: another fleet's files are that fleet's.
        self._own_address.unlink(missing_ok=True)
        self.config_path.unlink(missing_ok=True)
        if _published_socket(self.published) == str(self.socket_path):
            others = _running_fleets(self.published)
            if others:  # the newest one still running is the one reached from now on
                _write_atomically(self.published / ADDRESS_FILENAME, others[-1].read_text())
            else:
                (self.published / ADDRESS_FILENAME).unlink(missing_ok=True)
        shutil.rmtree(self._private, ignore_errors=True)


class _Handler(socketserver.StreamRequestHandler):
    fleet: DemoFleet
    config: Path

    def handle(self) -> None:
        line = self.rfile.readline(MAX_REQUEST_BYTES)
        try:
            answer = {"ok": True, **answer_request(self.fleet, json.loads(line), self.config)}
        except (ValueError, KeyError, TypeError) as error:
            answer = {"ok": False, "error": str(error).strip("'\"")}
        self.wfile.write(json.dumps(answer).encode() + b"\n")


def answer_request(fleet: DemoFleet, request: dict[str, Any], config: Path) -> dict[str, Any]:
    """What a request asks of the fleet, done; ValueError says why it cannot be. Its
    status names the configuration it published, for the other consoles and drills."""
    op = request.get("op")
    if op == "status":
        return {"services": status(fleet), "config": str(config)}
    name = str(request.get("service"))
    service = fleet.services.get(name)
    if service is None:
        raise ValueError(f"no demo service '{name}' (there are: {', '.join(fleet.services)})")
    if op == "clear":
        before = service.settings.fault
        service.clear_fault()
        cleared = "no fault to clear" if before is Fault.NONE else f"{before.value} fault cleared"
        return {"said": f"{name}: {cleared}, serving on {service.base_url}"}
    if op == "fault":
        kind = str(request.get("fault"))
        if kind not in FAULTS:
            raise ValueError(f"no fault '{kind}' (there are: {', '.join(FAULTS)})")
        service.set_fault(kind)
        return {"said": f"{name}: {kind}"}
    raise ValueError(f"unknown request '{op}'")


def status(fleet: DemoFleet) -> list[dict[str, str]]:
    return [
        {"service": s.name, "fault": s.settings.fault.value, "health_url": s.health_url}
        for s in fleet.services.values()
    ]


def config_toml(fleet: DemoFleet) -> str:
    """The fleet's configuration as a file, for `opsconsole --config` in another terminal."""
    config = fleet.config()
    lines = [
        "# Written by a running `opsconsole demo`: its services, on ports of this run.",
        "[console]",
        f"environment = {json.dumps(config.console.environment)}",
    ]
    for service in config.services:
        lines += [
            "",
            "[[services]]",
            f"name = {json.dumps(service.name)}",
            f"health_url = {json.dumps(str(service.health_url))}",
            f"metrics_url = {json.dumps(str(service.metrics_url))}",
            f"sandbox = {str(service.sandbox).lower()}",
            f"demo = {str(service.demo).lower()}",
        ]
    return "\n".join(lines) + "\n"


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(text)
    temporary.chmod(0o600)
    temporary.replace(path)


# -- everyone else's side ---------------------------------------------------------------------


def _running_fleets(directory: Path) -> list[Path]:
    """The address files of the fleets still running, oldest first. A fleet killed
    without closing leaves its files: its socket is gone, and so is it from this list."""
    found = []
    for path in directory.glob("*.json"):
        if path.name == ADDRESS_FILENAME:
            continue
        try:
            address = json.loads(path.read_text())
            alive = Path(str(address["socket"])).exists() and _pid_alive(int(address["pid"]))
            started = path.stat().st_mtime_ns
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if alive:
            found.append((started, path))
    return [path for _, path in sorted(found)]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's: alive, if not ours to signal
    return True


def _published_socket(directory: Path) -> str | None:
    try:
        return str(json.loads((directory / ADDRESS_FILENAME).read_text())["socket"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def fleet_socket(env: Mapping[str, str] | None = None) -> str:
    """The socket of the fleet this process belongs to, or else of the last one started."""
    environ = os.environ if env is None else env
    if environ.get(SOCKET_ENV):
        return environ[SOCKET_ENV]
    found = _published_socket(published_directory(environ))
    if found is None:
        raise NoDemoFleet(
            "no demo fleet is running: start one with `opsconsole demo` "
            "(or `opsconsole demo serve`, without the dashboard)"
        )
    return found


def call(request: dict[str, Any], env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Sends one request to the fleet; its answer, or DemoControlError."""
    path = fleet_socket(env)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(TIMEOUT_SECONDS)
            connection.connect(path)
            connection.sendall(json.dumps(request).encode() + b"\n")
            received = b""
            while not received.endswith(b"\n"):
                chunk = connection.recv(65536)
                if not chunk:
                    break
                received += chunk
    except (FileNotFoundError, ConnectionRefusedError):
        raise NoDemoFleet(
            f"no demo fleet answers at {path}: it has stopped. Start one with `opsconsole demo`"
        ) from None
    except OSError as error:
        raise DemoControlError(f"the demo fleet at {path} did not answer: {error}") from None
    try:
        answer: dict[str, Any] = json.loads(received)
    except ValueError:
        raise DemoControlError(f"the demo fleet at {path} hung up without an answer") from None
    if not answer.get("ok"):
        raise DemoControlError(str(answer.get("error", "refused")))
    return answer
