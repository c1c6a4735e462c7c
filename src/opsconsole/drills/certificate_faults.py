"""The certificate fault of a drill: the certificate a service is served with replaced by
one that expires in a few days, signed by the sandbox's own CA (trusted, so that its
expiry is all that is wrong), and the server reloaded: a renewal nobody made, days before
the outage. The CA's key is only ever a path given to openssl: it is neither read here,
recorded nor said."""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, NotFound

from opsconsole.drills.fault import FaultRefused

OPENSSL_SECONDS = 30.0


@dataclass
class CertificateExpiring:
    base_url: str
    container: str
    cert_path: str
    key_path: str
    server_name: str
    """The health URL's host: the name the certificate is for (an IP address or DNS)."""
    ca_cert: str
    ca_key: str
    days: int
    run: str

    def saved(self) -> dict[str, str]:
        """Each served file, and where its original is kept until the undo: beside it,
        named by the run, so that a crash leaves it where the record says."""
        return {path: f"{path}.drill-{self.run}" for path in (self.cert_path, self.key_path)}

    def record(self) -> dict[str, Any]:
        return {"kind": "certificate_expiring", "container": self.container, "saved": self.saved()}

    def inject(self) -> str:
        for what, path in (("tls_certificate", self.cert_path), ("tls_key", self.key_path),
                           ("sandbox_ca_certificate", self.ca_cert),
                           ("sandbox_ca_key", self.ca_key)):  # fmt: skip
            if not os.path.isfile(path):
                raise FaultRefused(f"{what} of the service is not a file here: {path}")
        # The originals first: the runbook may replace the key too, and the undo puts
        # back both.
        for live, kept in self.saved().items():
            _keep(live, kept)
        with tempfile.TemporaryDirectory(prefix="opsconsole-drill-") as scratch:
            request, ext, signed = (Path(scratch) / n for n in ("req.csr", "ext.cnf", "cert.pem"))
            ext.write_text(f"subjectAltName={_san(self.server_name)}\n")
            # The service's own key: only the certificate changes, as a renewal
            # with the same key does.
            _openssl("req", "-new", "-key", self.key_path, "-subj", f"/CN={self.server_name}",
                     "-out", str(request))  # fmt: skip
            serial = "0x" + os.urandom(8).hex()
            _openssl("x509", "-req", "-in", str(request), "-CA", self.ca_cert,
                     "-CAkey", self.ca_key, "-set_serial", serial, "-days", str(self.days),
                     "-extfile", str(ext), "-out", str(signed))  # fmt: skip
            shutil.copyfile(signed, self.cert_path)  # in place: its mode and owner kept
        reloaded = reload(self.base_url, self.container)
        return (
            f"{self.cert_path} replaced by a certificate for {self.server_name} that expires in "
            f"{self.days} days, signed by the sandbox's CA; {reloaded}"
        )

    def undo(self) -> str:
        return restore(self.base_url, self.container, self.saved())


def restore(base_url: str | None, container: str, saved: dict[str, str]) -> str:
    """Puts back each original kept (mode and times too), then reloads the server: from
    the record alone, after a crash. Nothing kept, nothing to do."""
    restored = []
    for live, kept in saved.items():
        if os.path.isfile(kept):
            shutil.copy2(kept, live)
            os.unlink(kept)
            restored.append(live)
    if not restored:
        return "no original certificate kept: nothing to restore"
    if base_url is None:
        return f"{', '.join(restored)} restored; no [docker] to reload {container} with"
    return f"{', '.join(restored)} restored; {reload(base_url, container)}"


def reload(base_url: str, container: str) -> str:
    """SIGHUP to the container's main process: nginx (as most servers that read their
    certificates at start) reloads them for new connections, dropping none."""
    client = docker.DockerClient(base_url=base_url, timeout=30)
    try:
        client.containers.get(container).kill(signal="SIGHUP")
    except NotFound:
        return f"container {container} is gone: not reloaded"
    except APIError as error:  # not running: it reads the files when it starts
        return f"container {container} not reloaded ({error.explanation})"
    finally:
        client.close()
    return f"{container} reloaded (SIGHUP)"


def _keep(live: str, kept: str) -> None:
    """A copy only its owner can read from the start (one is a private key), never over
    an original kept before."""
    descriptor = os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(live, "rb") as source, os.fdopen(descriptor, "wb") as copy:
        shutil.copyfileobj(source, copy)
    shutil.copystat(live, kept)


def _san(name: str) -> str:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return f"DNS:{name}"
    return f"IP:{name}"


def _openssl(*args: str) -> None:
    try:
        done = subprocess.run(
            ["openssl", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL,
            timeout=OPENSSL_SECONDS,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as error:
        raise FaultRefused(f"openssl {args[0]} could not run: {error}") from error
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()
        raise FaultRefused(f"openssl {args[0]} failed: {said[0] if said else done.returncode}")
