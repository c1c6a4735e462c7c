"""Real servers for the tests: each started on a free loopback port in a temp dir.

Recipes verified on these machines are in ../shared/ENVIRONMENT.md. Every server is a
child process that the harness owns, so it can be stopped, killed and restarted.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

import pytest

TEST_LABEL = "opsconsole-test"
BUSYBOX_IMAGE = "opsconsole-test/busybox:latest"
# An image of nothing but merged-/usr links: run with the host's /usr mounted read-only
# (HOST_MOUNTS), its containers run the machine's own programs (postgres, python3, df)
# as real containers, where no registry can be pulled from.
HOST_IMAGE = "opsconsole-test/host:latest"
HOST_MOUNTS = ["/usr:/usr:ro", "/etc/passwd:/etc/passwd:ro", "/etc/group:/etc/group:ro"]


class QuietHandler(BaseHTTPRequestHandler):
    """A test's own HTTP handler, without a log line per request on stderr."""

    def log_message(self, *_: object) -> None:
        pass


@contextlib.contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server for `handler` on a free loopback port; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class ServerUnavailable(Exception):
    """The server's program is not installed here."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(ready: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if ready():
                return
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(200 <= answer.status < 300)
    except (urllib.error.URLError, OSError):
        return False


def find_program(name: str, *extra_dirs: str) -> str:
    for directory in extra_dirs:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise ServerUnavailable(f"{name} is not installed (scripts/test installs it)")
    return found


@dataclass
class Server:
    """A child process with a temp dir of its own."""

    name: str
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="opsconsole-")))
    process: subprocess.Popen[bytes] | None = None
    _argv: list[str] = field(default_factory=list)
    _options: dict[str, object] = field(default_factory=dict)

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    stop_signal: ClassVar[int] = signal.SIGTERM

    def start(self) -> Self:
        raise NotImplementedError

    def ready(self) -> bool:
        """Answers as a client would be answered."""
        raise NotImplementedError

    def resume(self, timeout: float = 60.0) -> None:
        """Start again after stop(): same program, port and data, as after an outage."""
        assert self._argv, "resume() follows start() and stop()"
        self.spawn(self._argv, **self._options)
        self.wait_ready(self.ready, timeout)

    def spawn(self, argv: list[str], **options: object) -> None:
        self._argv, self._options = argv, options
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **options,  # type: ignore[call-overload]
            )

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self, ready: Callable[[], bool], timeout: float = 30.0) -> None:
        def alive_and_ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
            return ready()

        try:
            wait_until(alive_and_ready, self.name, timeout)
        except TimeoutError as error:
            raise TimeoutError(f"{error}\n{self.log_tail()}") from None

    def stop(self, sig: int | None = None, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(self.stop_signal if sig is None else sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def cleanup(self) -> None:
        self.stop()
        _unmount_below(self.workdir)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _unmount_below(directory: Path) -> None:
    """dockerd leaves namespace mounts in its exec root; rmtree cannot remove those."""
    with contextlib.suppress(OSError):
        mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
        for mount in sorted((m for m in mounts if m.startswith(str(directory))), reverse=True):
            subprocess.run(["umount", "-l", mount], check=False, capture_output=True)


@contextlib.contextmanager
def small_filesystem(directory: Path, size: str = "4m") -> Iterator[Path]:
    """A real file system of its own, `size` big (tmpfs), mounted on `directory`: a volume
    a test can fill. Mounting needs root; without it the test cannot be run here."""
    directory.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        raise ServerUnavailable(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False, capture_output=True)


# -- PostgreSQL -------------------------------------------------------------------


@dataclass
class PostgresServer(Server):
    name: str = "postgres"
    port: int = 0
    fsync: bool = False
    """Off for tests (nothing there needs to survive a power cut); on for a benchmark
    of what a durable commit costs."""
    # SIGTERM waits for every client to hang up; an outage does not.
    stop_signal: ClassVar[int] = signal.SIGINT

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> PostgresServer:
        bindirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
        initdb = find_program("initdb", *bindirs)
        postgres = find_program("postgres", *bindirs)
        data = self.workdir / "data"
        data.mkdir()
        as_postgres: dict[str, object] = {}
        if os.geteuid() == 0:  # initdb refuses to run as root
            self.workdir.chmod(0o755)
            shutil.chown(data, "postgres", "postgres")
            shutil.chown(self.workdir, "postgres", "postgres")
            as_postgres = {"user": "postgres", "group": "postgres", "extra_groups": []}
        subprocess.run(
            [initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
            check=True,
            capture_output=True,
            **as_postgres,  # type: ignore[call-overload]
        )
        self.port = free_port()
        self.spawn(
            [
                postgres,
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-k",
                str(self.workdir),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "shared_preload_libraries=pg_stat_statements",
                "-c",
                f"fsync={'on' if self.fsync else 'off'}",
            ],
            **as_postgres,
        )
        self.wait_ready(self.ready)
        self.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        return self

    def ready(self) -> bool:
        import psycopg

        with psycopg.connect(self.dsn, connect_timeout=2) as connection:
            connection.execute("SELECT 1")
        return True

    def execute(self, sql: str) -> list[tuple[object, ...]]:
        return self.execute_in("postgres", sql)

    def execute_in(self, database: str, sql: str) -> list[tuple[object, ...]]:
        import psycopg

        dsn = f"postgresql://postgres@127.0.0.1:{self.port}/{database}"
        with psycopg.connect(dsn, autocommit=True) as connection:
            cursor = connection.execute(sql.encode())
            return cursor.fetchall() if cursor.description else []


# -- Redis ------------------------------------------------------------------------


@dataclass
class RedisServer(Server):
    name: str = "redis"
    port: int = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        program = find_program("redis-server")
        self.port = free_port()
        self.spawn(
            [
                program,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ]
        )
        self.wait_ready(self.ready)
        return self

    def ready(self) -> bool:
        import redis

        return bool(redis.Redis.from_url(self.url, socket_timeout=2).ping())


# -- Prometheus -------------------------------------------------------------------


@dataclass
class PrometheusServer(Server):
    name: str = "prometheus"
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def targets_file(self) -> Path:
        return self.workdir / "targets.json"

    def start(self) -> PrometheusServer:
        program = find_program("prometheus")
        self.port = free_port()
        # Scrapes itself, and whatever tests list in targets.json (re-read every second).
        self.targets_file.write_text("[]")
        rules = self.workdir / "rules.yml"
        rules.write_text(ERROR_RATE_RULE)
        config = self.workdir / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"rule_files: ['{rules}']\n"
            "scrape_configs:\n"
            "  - job_name: prometheus\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{self.port}']\n"
            "  - job_name: tests\n    file_sd_configs:\n"
            f"      - files: ['{self.targets_file}']\n        refresh_interval: 1s\n"
        )
        self.spawn(
            [
                program,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ]
        )
        self.wait_ready(self.ready)
        return self

    def ready(self) -> bool:
        return http_ok(self.url + "/-/ready")

    def scrape(self, *addresses: str) -> None:
        """Have Prometheus scrape these host:port targets (as well as itself)."""
        self.targets_file.write_text(json.dumps([{"targets": list(addresses)}]))

    def until(self, query: str, timeout: float = 60) -> None:
        """Waits until the query returns a series: rates need a few scrapes, and what a
        test broke must leave the window before the next one starts."""
        deadline = time.monotonic() + timeout
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": query})
        while time.monotonic() < deadline:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if json.load(answer)["data"]["result"]:
                    return
            time.sleep(0.5)
        raise AssertionError(f"Prometheus had no {query} within {timeout} s")

    def until_targets_up(self, timeout: float = 60) -> None:
        """Waits until no target's last scrape failed: a drill refuses to start on a
        target down (what the last test restarted may not be scraped again yet)."""
        self.until("absent(up == 0)", timeout)


def no_5xx(service: str, window: str = "15s") -> str:
    """PromQL that holds when the service answered no 5xx over the window."""
    return (
        f'(sum(rate(http_requests_total{{service="{service}",status=~"5.."}}[{window}]))'
        " or vector(0)) == 0"
    )


# The shared runbooks' alert: error rate over 1 % (here over 10 s, to fire within a test).
ERROR_RATE_RULE = """\
groups:
  - name: opsconsole-tests
    rules:
      - alert: HighErrorRate
        expr: >
          sum by (service) (rate(http_requests_total{status=~"5.."}[10s]))
          / sum by (service) (rate(http_requests_total[10s])) > 0.01
        labels:
          severity: page
        annotations:
          summary: "Error rate above 1 %"
"""


# -- Docker -----------------------------------------------------------------------


@dataclass
class DockerDaemon(Server):
    name: str = "dockerd"

    @property
    def base_url(self) -> str:
        return f"unix://{self.workdir / 'docker.sock'}"

    def start(self) -> DockerDaemon:
        program = find_program("dockerd")
        if os.geteuid() != 0:
            raise ServerUnavailable("dockerd needs root")
        # A daemon of our own, beside any other on the machine: own socket, roots and pidfile.
        self.spawn(
            [
                program,
                "--iptables=false",
                "--bridge=none",
                "--storage-driver=vfs",
                "-H",
                self.base_url,
                "--data-root",
                str(self.workdir / "data"),
                "--exec-root",
                str(self.workdir / "exec"),
                "--pidfile",
                str(self.workdir / "docker.pid"),
                # Should a system containerd be running, keep out of its "moby" namespace.
                "--containerd-namespace",
                "opsconsole-test",
                "--containerd-plugins-namespace",
                "opsconsole-test-plugins",
            ]
        )
        self.wait_ready(self.ready, timeout=60)
        self._import_busybox()
        return self

    def client(self) -> Any:  # the docker SDK ships no type hints
        import docker

        return docker.DockerClient(base_url=self.base_url, timeout=30)

    def ready(self) -> bool:
        return bool(self.client().ping())

    def _import_busybox(self) -> None:
        """No registry is reachable: the test image is built from the machine's busybox."""
        busybox = find_program("busybox")
        image = self.workdir / "busybox.tar"
        with tarfile.open(image, "w") as tar:
            tar.add(busybox, arcname="bin/busybox")
            link = tarfile.TarInfo("bin/sh")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        self.client().api.import_image(
            src=str(image), repository="opsconsole-test/busybox", tag="latest"
        )
        host = self.workdir / "host.tar"
        with tarfile.open(host, "w") as tar:
            for name in ("bin", "sbin", "lib", "lib64"):
                link = tarfile.TarInfo(name)
                link.type, link.linkname = tarfile.SYMTYPE, f"usr/{name}"
                tar.addfile(link)
            for name, mode in (("etc", 0o755), ("var", 0o755), ("tmp", 0o1777), ("run", 0o1777)):
                folder = tarfile.TarInfo(name)
                folder.type, folder.mode = tarfile.DIRTYPE, mode
                tar.addfile(folder)
        self.client().api.import_image(
            src=str(host), repository="opsconsole-test/host", tag="latest"
        )

    def remove_test_containers(self) -> None:
        for container in self.client().containers.list(all=True, filters={"label": TEST_LABEL}):
            container.remove(force=True)

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            self.remove_test_containers()
        super().cleanup()


IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


OWN_DATABASE = "own"


S = TypeVar("S", bound=Server)


def serve(make: Callable[[], S]) -> Iterator[S]:
    server = make()
    try:
        try:
            server.start()
        except ServerUnavailable as missing:
            if IN_CI:
                pytest.fail(f"{server.name} is required under CI=true: {missing}")
            pytest.skip(f"{server.name}: {missing}")
        yield server
    finally:
        server.cleanup()
