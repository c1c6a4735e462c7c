"""The certificate-expiry drill against a real nginx serving TLS in a container (see
tests/support/sandbox_nginx.py): the fault puts in place a certificate that expires in 5
days, signed by the sandbox's own CA; the fixture plays the CA / security team and
delivers the renewal beside the served files; the runbook checks it (key, name, expiry,
chain), installs it, reloads nginx and sees it served. A wrong branch fails, and delivered
files that fail a check are never installed."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsconsole.config.model import Config, load_config
from opsconsole.documents.problems import ProblemsFound
from opsconsole.drills.model import Drill, FaultSpec, target_problem
from opsconsole.monitoring.offers import offers
from opsconsole.monitoring.snapshot import Breach
from opsconsole.runbooks.model import load_runbooks, shipped_runbooks
from tests.support.commands import drill
from tests.support.sandbox_nginx import SandboxCA, SandboxNginx, fingerprint, sandbox_nginx
from tests.support.servers import DockerDaemon

SCENARIO = "certificate-expiring"
PROPOSED_INSTALL = "Install the delivered files (they passed every check)"
PROPOSED_REFUSAL = "No valid files delivered: stop, ask the CA / security team for new ones"


@pytest.fixture(scope="module")
def nginx(docker_daemon: DockerDaemon) -> Iterator[SandboxNginx]:
    with sandbox_nginx(docker_daemon) as sandbox:
        yield sandbox


@pytest.fixture
def web(nginx: SandboxNginx) -> SandboxNginx:
    """Each test starts from a certificate good for 90 days, served, nothing delivered."""
    nginx.reset()
    return nginx


def write_config(web: SandboxNginx, docker_daemon: DockerDaemon, tmp_path: Path) -> None:
    (tmp_path / "opsconsole.toml").write_text(
        '[console]\nenvironment = "drill-sandbox"\n'
        f'[docker]\nbase_url = "{docker_daemon.base_url}"\n' + web.service_section()
    )


def run_drill(
    web: SandboxNginx, docker_daemon: DockerDaemon, tmp_path: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    write_config(web, docker_daemon, tmp_path)
    env = {
        "DOCKER_HOST": docker_daemon.base_url,  # the runbook's docker CLI
        # The sandbox's CA is what this host trusts: the console's health checks and the
        # runbook's `openssl verify` alike.
        "SSL_CERT_FILE": str(web.ca.cert),
    }
    return drill("run", SCENARIO, "--auto", *extra, cwd=tmp_path, env=env)


def assert_no_key_shown(web: SandboxNginx, said: str) -> None:
    assert "PRIVATE KEY" not in said
    assert str(web.ca.key) not in said


def test_an_expiring_certificate_is_replaced_by_the_delivered_renewal(
    web: SandboxNginx, docker_daemon: DockerDaemon, tmp_path: Path
) -> None:
    original = fingerprint(web.cert)
    web.ca.issue(web.delivered_cert, web.delivered_key, days=90)  # the CA delivers
    renewal = fingerprint(web.delivered_cert)

    ran = run_drill(web, docker_daemon, tmp_path)
    said = ran.stdout
    assert ran.returncode == 0, said + ran.stderr
    assert f"· fault injected: {web.cert} replaced by a certificate for 127.0.0.1 that " in said
    broken = next(line for line in said.splitlines() if "steady state broken" in line)
    assert "the certificate of sandbox-web expires in 4 days" in broken, broken
    # Each check of the delivered files, said before anything is touched.
    for line in (
        "key:    matches the certificate",
        "name:   carries 127.0.0.1",
        "expiry: good for more than 30 days",
        f"chain:  {web.delivered_cert}: OK",
        "delivered=valid",
    ):
        assert line in said, line
    assert f"→ {PROPOSED_INSTALL} (as proposed: delivered = 'valid'" in said, said
    assert f"'{web.delivered_cert}' -> '{web.cert}'" in said  # cp -v
    assert "configuration file /etc/nginx/nginx.conf test is successful" in said  # nginx -t
    assert f"served: sha256 Fingerprint={renewal}" in said  # what nginx serves now
    assert "served=file" in said
    assert f"✔ {SCENARIO}: broken after" in said
    assert_no_key_shown(web, said + ran.stderr)
    # The fault undone: the sandbox's own certificate back, and served again.
    assert fingerprint(web.cert) == original
    web.wait_serving(web.cert)
    assert not list(web.tls_dir.glob("*.drill-*"))


def test_renewing_with_certbot_instead_fails_and_restores_the_files(
    web: SandboxNginx, docker_daemon: DockerDaemon, tmp_path: Path
) -> None:
    web.ca.issue(web.delivered_cert, web.delivered_key, days=90)
    ran = run_drill(web, docker_daemon, tmp_path, "--overrule", "how=1", "--time-limit", "30")
    said = ran.stdout
    assert ran.returncode == 1, said + ran.stderr
    assert f"(over the proposed {PROPOSED_INSTALL!r}" in said, said
    assert "certbot renew --cert-name 127.0.0.1" in said
    assert f"✖ {SCENARIO}: runbook certificate-expiry failed" in said
    assert ">> restore-cert" in said  # the run's own rollback
    assert "steady state holds again" not in said
    assert "· fault undone:" in said


@pytest.mark.parametrize(
    ("delivery", "check", "overrule"),
    [
        pytest.param("wrong-key", "key:    does NOT match the certificate", (), id="wrong-key"),
        pytest.param("expiring", "expiry: expires within 30 days", (), id="expiring"),
        pytest.param("another-ca", "chain:  NOT trusted by this host: ", (), id="another-ca"),
        # Overruled to install them anyway: the install step checks again, copies nothing.
        pytest.param(
            "wrong-key", "not installed: the delivered files did not pass the checks (invalid)",
            ("--overrule", "how=2"), id="wrong-key-overruled",
        ),
    ],
)  # fmt: skip
def test_delivered_files_that_fail_a_check_are_never_installed(
    delivery: str, check: str, overrule: tuple[str, ...], web: SandboxNginx,
    docker_daemon: DockerDaemon, tmp_path: Path,
) -> None:  # fmt: skip
    if delivery == "wrong-key":  # a certificate, and some other key
        web.ca.issue(web.delivered_cert, tmp_path / "its.key", days=90)
        web.ca.issue(tmp_path / "other.pem", web.delivered_key, days=90)
    elif delivery == "expiring":  # a renewal that is none: it expires within warn_days too
        web.ca.issue(web.delivered_cert, web.delivered_key, days=10)
    else:  # signed by a CA this host does not trust
        SandboxCA(tmp_path / "another-ca").issue(web.delivered_cert, web.delivered_key, days=90)
    ran = run_drill(web, docker_daemon, tmp_path, *overrule, "--time-limit", "30")
    said = ran.stdout
    assert ran.returncode == 1, said + ran.stderr
    assert check in said, said
    assert "delivered=invalid" in said
    if not overrule:
        assert f"→ {PROPOSED_REFUSAL} (as proposed: delivered = 'invalid'" in said, said
        assert "not installed: " in said
        assert not list(web.tls_dir.glob("*.bak"))  # not even a backup was made
    assert f"'{web.delivered_cert}' -> " not in said  # no cp of them
    assert f"✖ {SCENARIO}: runbook certificate-expiry failed" in said
    assert "· fault undone:" in said
    assert_no_key_shown(web, said + ran.stderr)


def test_the_fault_is_undone_from_its_record_alone(
    web: SandboxNginx, docker_daemon: DockerDaemon, tmp_path: Path
) -> None:
    """After a crash, `opsconsole drill recover` has the record and the configuration: the
    originals go back and nginx serves them; the record holds nothing of the CA."""
    from opsconsole.drills.faults import make_fault, undo_recorded

    write_config(web, docker_daemon, tmp_path)
    config = load_config(tmp_path / "opsconsole.toml").config
    original = fingerprint(web.cert)
    fault = make_fault(FaultSpec(kind="certificate_expiring"), config, "sandbox-web", "crash-1")
    record = json.loads(json.dumps(fault.record()))  # as the pending file keeps it
    assert str(web.ca.directory) not in json.dumps(record)
    fault.inject()
    web.wait_serving(web.cert)
    assert fingerprint(web.cert) != original
    kept_key = web.tls_dir / "key.pem.drill-crash-1"
    assert kept_key.stat().st_mode & 0o777 == 0o600  # a private key's copy

    said = undo_recorded(record, config)
    assert said == f"{web.cert}, {web.key} restored; sandbox-web reloaded (SIGHUP)"
    assert fingerprint(web.cert) == original
    web.wait_serving(web.cert)
    assert undo_recorded(record, config) == "no original certificate kept: nothing to restore"


# -- what the configuration allows, without servers ---------------------------------------

SERVICE = """
[[services]]
name = "web"
health_url = "{url}"
container = "web"
{extra}
[docker]
base_url = "unix:///var/run/docker.sock"
"""
FILES = 'tls_certificate = "/srv/tls/cert.pem"\ntls_key = "/srv/tls/key.pem"\n'
CA = 'sandbox_ca_certificate = "/srv/ca/ca.pem"\nsandbox_ca_key = "/srv/ca/ca.key"\n'


def load(tmp_path: Path, extra: str, url: str = "https://127.0.0.1:8443/health") -> Config:
    path = tmp_path / "c.toml"
    path.write_text(SERVICE.format(url=url, extra=extra))
    return load_config(path, env={}).config


def test_a_sandbox_ca_key_belongs_to_a_sandbox_and_a_certificate_goes_with_its_key(
    tmp_path: Path,
) -> None:
    with pytest.raises(ProblemsFound) as raised:
        load(tmp_path, 'tls_certificate = "/srv/tls/cert.pem"\n' + CA)
    assert [p.message for p in raised.value.problems] == [
        "tls_certificate without tls_key",
        "sandbox_ca_key is for a service marked sandbox = true: a CA's key has no place in a"
        " production service's settings",
    ]


def test_the_offer_fills_the_files_a_service_is_served_from(tmp_path: Path) -> None:
    config = load(tmp_path, FILES)
    (offer,) = offers(
        load_runbooks(shipped_runbooks()), [Breach("web", "certificate_days", 4, 14)],
        config=config,
    )  # fmt: skip
    assert offer.params == {
        "host": "127.0.0.1", "port": "8443", "server_name": "127.0.0.1",
        "cert_path": "/srv/tls/cert.pem", "key_path": "/srv/tls/key.pem",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "url", "days", "why"),
    [
        (FILES + CA + "sandbox = true\n", "https://127.0.0.1:8443/health", 5, None),
        (FILES + "sandbox = true\n", "https://127.0.0.1:8443/health", 5,
         "a certificate_expiring fault needs sandbox_ca_certificate and sandbox_ca_key of web:"
         " the sandbox's CA signs the certificate it puts in place"),
        (CA + "sandbox = true\n", "https://127.0.0.1:8443/health", 5,
         "a certificate_expiring fault needs tls_certificate and tls_key of web"),
        (FILES + CA + "sandbox = true\n", "http://127.0.0.1:8080/health", 5,
         "a certificate_expiring fault needs an https health URL (web's is not)"),
        (FILES + CA + "sandbox = true\n", "https://127.0.0.1:8443/health", 14,
         "a certificate expiring in 14 days breaks nothing: [thresholds] certificate_days is 14"),
        (FILES, "https://127.0.0.1:8443/health", 5,
         "target web is not marked sandbox = true: drills are refused there"),
    ],
    ids=["allowed", "no-ca", "no-files", "http", "not-soon", "not-sandbox"],
)  # fmt: skip
def test_what_a_certificate_fault_needs_of_its_target(
    extra: str, url: str, days: int, why: str | None, tmp_path: Path
) -> None:
    config = load(tmp_path, extra, url)
    scenario = Drill(
        id="c", title="c", target="web", runbook="certificate-expiry",
        fault=FaultSpec(kind="certificate_expiring", days=days),
    )  # fmt: skip
    assert target_problem(config, scenario) == why
