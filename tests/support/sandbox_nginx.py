"""nginx serving TLS in a real Docker container: what the certificate-expiry drill acts on.
No registry is reachable: the container runs the machine's own nginx (nginx-light) from
the host's /usr (HOST_IMAGE). Its configuration is the test's own, at
/etc/nginx/nginx.conf where `nginx -t` and `nginx -s reload` look for it (as in an nginx
image); its certificate and key are in a directory of this host bind-mounted at the same
path, so that what the runbook copies there on this host is what nginx reads. The
certificates come from a CA of the test's own (SandboxCA), which the console trusts
through SSL_CERT_FILE, as a sandbox would trust its own CA."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.servers import HOST_IMAGE, HOST_MOUNTS, TEST_LABEL, DockerDaemon, free_port

CONTAINER = "sandbox-web"
SERVER_NAME = "127.0.0.1"
NGINX = "/usr/sbin/nginx"

CONFIG = """\
daemon off;
pid /tmp/nginx.pid;
error_log stderr;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path /tmp/nginx-body;
    proxy_temp_path /tmp/nginx-proxy;
    fastcgi_temp_path /tmp/nginx-fastcgi;
    uwsgi_temp_path /tmp/nginx-uwsgi;
    scgi_temp_path /tmp/nginx-scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location = /health {{
            default_type application/json;
            return 200 '{{"status": "ok"}}';
        }}
    }}
}}
"""


def openssl(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {args[0]}: {done.stderr.strip()}")
    return done.stdout


class SandboxCA:
    """A certificate authority of the test's own (EC P-256 keys: quick to make)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.cert = directory / "ca.pem"
        self.key = directory / "ca.key"
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-noenc", "-keyout", str(self.key), "-out", str(self.cert), "-days", "365",
                "-subj", "/O=opsconsole sandbox/CN=opsconsole sandbox CA")  # fmt: skip
        self.key.chmod(0o600)

    def issue(self, cert: Path, key: Path, *, days: int, name: str = SERVER_NAME) -> None:
        """A new key at `key` and a certificate for it at `cert`, for `name` (an IP
        address, as the health URL's host), valid for `days` days from now."""
        with tempfile.TemporaryDirectory() as scratch:
            request, ext = Path(scratch) / "req.csr", Path(scratch) / "ext.cnf"
            ext.write_text(f"subjectAltName=IP:{name}\n")
            openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc",
                    "-keyout", str(key), "-out", str(request), "-subj", f"/CN={name}")  # fmt: skip
            key.chmod(0o600)
            openssl("x509", "-req", "-in", str(request), "-CA", str(self.cert),
                    "-CAkey", str(self.key), "-set_serial", "0x" + os.urandom(8).hex(),
                    "-days", str(days), "-extfile", str(ext), "-out", str(cert))  # fmt: skip


def fingerprint(cert: Path) -> str:
    """Its SHA-256 fingerprint as openssl prints it (AB:CD:...)."""
    said = openssl("x509", "-in", str(cert), "-noout", "-fingerprint", "-sha256")
    return said.split("=")[1].strip()


@dataclass
class SandboxNginx:
    container: Any
    port: int
    tls_dir: Path
    """On this host, and at the same path in the container."""
    ca: SandboxCA

    @property
    def name(self) -> str:
        return str(self.container.name)

    @property
    def health_url(self) -> str:
        return f"https://{SERVER_NAME}:{self.port}/health"

    @property
    def cert(self) -> Path:
        return self.tls_dir / "cert.pem"

    @property
    def key(self) -> Path:
        return self.tls_dir / "key.pem"

    @property
    def delivered_cert(self) -> Path:
        """Where the CA / security team delivers a renewal (the drill's new_cert_path)."""
        return self.tls_dir / "cert.pem.new"

    @property
    def delivered_key(self) -> Path:
        return self.tls_dir / "key.pem.new"

    def service_section(self) -> str:
        return (
            f'[[services]]\nname = "{self.name}"\nhealth_url = "{self.health_url}"\n'
            f'container = "{self.name}"\ntls_certificate = "{self.cert}"\n'
            f'tls_key = "{self.key}"\nsandbox_ca_certificate = "{self.ca.cert}"\n'
            f'sandbox_ca_key = "{self.ca.key}"\nsandbox = true\n'
        )

    def served(self) -> str:
        """The fingerprint of the certificate it serves now, verified against the CA."""
        context = ssl.create_default_context(cafile=str(self.ca.cert))
        with (
            socket.create_connection((SERVER_NAME, self.port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=SERVER_NAME) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        digest = hashlib.sha256(der).hexdigest().upper()
        return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))

    def wait_serving(self, cert: Path, timeout: float = 15) -> None:
        """Until it serves `cert` (a reload takes effect for new connections at once)."""
        wanted, deadline = fingerprint(cert), time.monotonic() + timeout
        while True:
            with suppress(OSError):
                if self.served() == wanted:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} does not serve {cert}:\n{self.logs()}")
            time.sleep(0.1)

    def logs(self) -> str:
        return bytes(self.container.logs()).decode(errors="replace")[-2000:]

    def reset(self) -> None:
        """A certificate good for 90 days served, and nothing delivered nor backed up:
        what each test starts from, whatever the last one left."""
        for leftover in self.tls_dir.iterdir():
            if leftover.name not in ("cert.pem", "key.pem"):
                leftover.unlink()
        self.ca.issue(self.cert, self.key, days=90)
        self.container.reload()
        if self.container.status != "running":
            self.container.start()
        else:
            self.container.kill(signal="SIGHUP")
        self.wait_serving(self.cert)


@contextmanager
def sandbox_nginx(docker_daemon: DockerDaemon) -> Iterator[SandboxNginx]:
    if not os.access(NGINX, os.X_OK):
        raise RuntimeError(f"{NGINX} is not installed (scripts/bootstrap --servers installs it)")
    workdir = Path(tempfile.mkdtemp(prefix="opsconsole-nginx-"))
    ca = SandboxCA(workdir / "ca")
    tls_dir = workdir / "tls"
    tls_dir.mkdir()
    port = free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(CONFIG.format(port=port, cert=tls_dir / "cert.pem", key=tls_dir / "key.pem"))
    ca.issue(tls_dir / "cert.pem", tls_dir / "key.pem", days=90)
    container = docker_daemon.client().containers.run(
        HOST_IMAGE,
        [NGINX],
        name=CONTAINER,
        detach=True,
        network_mode="host",
        volumes=[*HOST_MOUNTS, f"{conf}:/etc/nginx/nginx.conf:ro", f"{tls_dir}:{tls_dir}"],
        labels={TEST_LABEL: "drills"},
    )
    sandbox = SandboxNginx(container, port, tls_dir, ca)
    try:
        sandbox.wait_serving(sandbox.cert)
        yield sandbox
    finally:
        container.remove(force=True)
        shutil.rmtree(workdir, ignore_errors=True)
