"""`opsconsole doctor` against the harness's real servers, each problem made on purpose:
said with its fix, exit 1; all well, exit 0. The real process, as a user runs it."""

from __future__ import annotations

import contextlib
import json
import re
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import redis

from opsconsole.monitoring.doctor import docker_version
from tests.support.commands import run
from tests.support.known_app import KnownTrafficApp
from tests.support.servers import (
    DockerDaemon,
    PostgresServer,
    PrometheusServer,
    QuietHandler,
    RedisServer,
    free_port,
)

SERVICE = '[[services]]\nname = "{name}"\nhealth_url = "{url}"\n{extra}\n'


def doctor(tmp_path: Path, text: str) -> tuple[int, list[dict[str, object]], str]:
    (tmp_path / "c.toml").write_text(text)
    as_json = run("doctor", "--json", "--config", "c.toml", cwd=tmp_path)
    table = run("doctor", "--config", "c.toml", cwd=tmp_path)
    assert as_json.returncode == table.returncode, table.stdout + table.stderr
    assert "Traceback" not in as_json.stderr + table.stderr
    return as_json.returncode, json.loads(as_json.stdout)["findings"], table.stdout


def problems(findings: list[dict[str, object]]) -> dict[str, str]:
    return {str(f["said"]): str(f["fix"]) for f in findings if not f["ok"]}


@pytest.fixture
def healthy_app() -> Iterator[KnownTrafficApp]:
    app = KnownTrafficApp("checkout", status_label="code").start()
    yield app
    app.stop()


def test_a_healthy_postgres_says_so_and_exits_0(
    own_database: str, healthy_app: KnownTrafficApp, tmp_path: Path
) -> None:
    code, findings, table = doctor(
        tmp_path,
        SERVICE.format(name="checkout", url=healthy_app.metrics_url, extra="")
        + f'[postgres]\ndsn = "{own_database}"\n',
    )
    assert code == 0, findings
    assert problems(findings) == {}
    said = [str(f["said"]) for f in findings]
    assert any(s.startswith("connected to postgresql://") for s in said)
    assert "pg_stat_statements is readable" in said
    assert table.splitlines()[-1] == "all well"


def test_postgres_without_pg_stat_statements_and_a_role_without_pg_monitor(
    postgres: PostgresServer, healthy_app: KnownTrafficApp, tmp_path: Path
) -> None:
    postgres.execute("DROP DATABASE IF EXISTS doctor_bare WITH (FORCE)")
    postgres.execute("CREATE DATABASE doctor_bare")
    postgres.execute("DROP ROLE IF EXISTS doctor_plain")
    postgres.execute("CREATE ROLE doctor_plain LOGIN PASSWORD 'plain-pw'")
    try:
        base = postgres.dsn.rsplit("@", 1)[1].rsplit("/", 1)[0]
        code, findings, table = doctor(
            tmp_path,
            SERVICE.format(name="checkout", url=healthy_app.metrics_url, extra="")
            + f'[postgres]\ndsn = "postgresql://doctor_plain:plain-pw@{base}/doctor_bare"\n',
        )
    finally:
        postgres.execute("DROP DATABASE IF EXISTS doctor_bare WITH (FORCE)")
        postgres.execute("DROP ROLE IF EXISTS doctor_plain")
    assert code == 1
    found = problems(findings)
    assert found[
        "pg_stat_statements is not installed: the pane shows no slowest statement"
    ].startswith("CREATE EXTENSION pg_stat_statements")
    assert (
        found[
            "role doctor_plain cannot see other sessions' queries: the longest query and "
            "idle-in-transaction figures are partial"
        ]
        == "GRANT pg_monitor TO doctor_plain"
    )
    assert "plain-pw" not in table  # the DSN is shown redacted
    assert "fix: GRANT pg_monitor TO doctor_plain" in table
    assert table.splitlines()[-1] == "2 problems"


def test_redis_without_maxmemory_and_a_queue_that_is_not_a_list(
    redis_server: RedisServer, healthy_app: KnownTrafficApp, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    before = str(client.config_get("maxmemory")["maxmemory"])
    client.config_set("maxmemory", 0)
    client.set("doctor:jobs", "not a list")
    client.delete("doctor:empty")
    try:
        code, findings, _ = doctor(
            tmp_path,
            SERVICE.format(name="checkout", url=healthy_app.metrics_url, extra="")
            + f'[redis]\nurl = "{redis_server.url}"\nqueues = ["doctor:jobs", "doctor:empty"]\n',
        )
    finally:
        client.config_set("maxmemory", before)
        client.delete("doctor:jobs")
        client.close()
    assert code == 1
    found = problems(findings)
    assert set(found) == {
        "maxmemory is not set: memory has no ceiling, and the pane's memory ratio means nothing",
        "queue doctor:jobs is a string, not a list: its length cannot be read",
    }
    assert "queue doctor:empty is empty (no such key yet)" in [str(f["said"]) for f in findings]


async def test_prometheus_names_a_label_to_set_and_a_target_that_is_down(
    prometheus: PrometheusServer, healthy_app: KnownTrafficApp, tmp_path: Path
) -> None:
    dead = f"127.0.0.1:{free_port()}"
    prometheus.scrape(f"127.0.0.1:{healthy_app.port}", dead)
    text = (
        SERVICE.format(name="checkout", url=healthy_app.metrics_url, extra="")
        + f'[prometheus]\nurl = "{prometheus.url}"\nwindow = "10s"\n'
    )
    down = f"target tests {dead} is down (up == 0)"
    label = (
        "metrics: http_requests_total has no label 'status'; its labels are code, instance, "
        'job, service: set status_label = "code"'
    )
    for _ in range(40):  # until Prometheus has scraped both, the dead one as down
        code, findings, _ = doctor(tmp_path, text)
        found = problems(findings)
        if down in found and label in found:
            break
    assert code == 1
    assert found[down].startswith("Prometheus cannot"), found
    assert found[label] == "set the names in [prometheus] or in the service"


def test_docker_names_a_container_that_does_not_exist(
    docker_daemon: DockerDaemon, healthy_app: KnownTrafficApp, tmp_path: Path
) -> None:
    code, findings, _ = doctor(
        tmp_path,
        SERVICE.format(name="checkout", url=healthy_app.metrics_url,
                       extra='container = "no-such-container"')
        + f'[docker]\nbase_url = "{docker_daemon.base_url}"\n',
    )  # fmt: skip
    assert code == 1
    assert problems(findings) == {
        "no container named no-such-container": "check services[].container (docker ps --all)"
    }
    assert any(str(f["said"]).startswith("Docker ") for f in findings if f["ok"])


def test_a_service_that_is_down_and_a_backend_that_cannot_be_reached(tmp_path: Path) -> None:
    port = free_port()
    code, findings, _ = doctor(
        tmp_path,
        SERVICE.format(name="ledger", url=f"http://127.0.0.1:{port}/health", extra="")
        + f'[redis]\nurl = "redis://127.0.0.1:{free_port()}/0"\n',
    )
    assert code == 1
    found = problems(findings)
    assert found[f"http://127.0.0.1:{port}/health: DOWN, connection refused"]
    assert any(said.startswith("cannot be reached:") for said in found)


def make_test_ca(pki: Path) -> Callable[..., None]:
    """A CA of the test's own (ca.pem) and a key and request for 127.0.0.1 (leaf.csr,
    ext.cnf), made with the openssl command in `pki`; the command, to sign the leaf."""
    pki.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=pki, check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "30",
        "-subj",
        "/CN=opsconsole test CA",
    )
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr",
            "-subj", "/CN=127.0.0.1")  # fmt: skip
    (pki / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    return openssl


@contextlib.contextmanager
def serving_tls(pki: Path) -> Iterator[str]:
    """A health URL over TLS, answering 200 with the certificate pki/leaf.pem."""

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "leaf.pem", pki / "leaf.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/health"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def https_health(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A health URL over TLS whose certificate (from a CA of the test's own, made with
    the openssl command) expires in 5 days; and that CA, for SSL_CERT_FILE."""
    pki = tmp_path / "pki"
    pki.mkdir()

    openssl = make_test_ca(pki)
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "leaf.pem", "-days", "5", "-extfile", "ext.cnf")  # fmt: skip

    with serving_tls(pki) as url:
        yield url, pki / "ca.pem"


def test_a_certificate_about_to_expire_is_a_problem_and_an_untrusted_one_too(
    https_health: tuple[str, Path], tmp_path: Path
) -> None:
    url, ca = https_health
    (tmp_path / "c.toml").write_text(SERVICE.format(name="portal", url=url, extra=""))
    trusted = run("doctor", "--json", "--config", "c.toml", cwd=tmp_path,
                  env={"SSL_CERT_FILE": str(ca)})  # fmt: skip
    assert trusted.returncode == 1, trusted.stdout + trusted.stderr
    found = json.loads(trusted.stdout)["findings"]
    assert [f["said"] for f in found if f["ok"]] == [f"{url} answers HTTP 200"]
    (expiring,) = problems(found)
    assert re.fullmatch(r"the certificate of 127\.0\.0\.1 expires in [45] days", expiring)

    untrusted = run("doctor", "--json", "--config", "c.toml", cwd=tmp_path)
    found = problems(json.loads(untrusted.stdout)["findings"])
    assert untrusted.returncode == 1
    assert any(said.startswith(f"TLS of 127.0.0.1:{url.split(':')[2].split('/')[0]}: ")
               for said in found), found  # fmt: skip


def test_the_dashboards_sources_breach_on_a_certificate_about_to_expire(
    https_health: tuple[str, Path], tmp_path: Path
) -> None:
    """Not only doctor: every health check over https reads the certificate it was answered
    with, and one that expires in fewer than certificate_days (14) is a breach of `status`
    that offers certificate-expiry, filled with that service's host, port and name."""
    url, ca = https_health
    (tmp_path / "c.toml").write_text(SERVICE.format(name="portal", url=url, extra=""))
    status = run("status", "--json", "--config", "c.toml", cwd=tmp_path,
                 env={"SSL_CERT_FILE": str(ca)})  # fmt: skip
    assert status.returncode == 1, status.stdout + status.stderr
    (breach,) = json.loads(status.stdout)["breaches"]
    assert (breach["subject"], breach["signal"], breach["threshold"]) == (
        "portal", "certificate_days", 14,
    )  # fmt: skip
    assert breach["value"] in (4, 5)

    from opsconsole.config.model import load_config
    from opsconsole.monitoring.offers import offers
    from opsconsole.monitoring.snapshot import Breach
    from opsconsole.runbooks.model import load_runbooks, shipped_runbooks

    config = load_config(tmp_path / "c.toml").config
    found = offers(
        load_runbooks(shipped_runbooks()),
        [Breach("portal", "certificate_days", breach["value"], 14)], config=config,
    )  # fmt: skip
    (offer,) = found
    assert offer.runbook.id == "certificate-expiry"
    port = url.split(":")[2].split("/")[0]
    assert offer.params == {"host": "127.0.0.1", "port": port, "server_name": "127.0.0.1"}
    assert offer.text.startswith(f"the certificate of portal expires in {breach['value']} days")


@pytest.fixture
def expired_https(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A health URL over TLS whose certificate (from a CA of the test's own) expired a
    week ago: `openssl ca` dates it in the past, which `openssl x509 -days` cannot."""
    pki = tmp_path / "pki-expired"
    (pki / "db").mkdir(parents=True)
    (pki / "db" / "index.txt").write_text("")
    (pki / "db" / "serial").write_text("01\n")
    (pki / "ca.cnf").write_text(
        "[ca]\ndefault_ca = d\n[d]\ndatabase = db/index.txt\nserial = db/serial\n"
        "new_certs_dir = db\ndefault_md = sha256\npolicy = p\ncopy_extensions = copy\n"
        "[p]\ncommonName = supplied\n"
    )

    openssl = make_test_ca(pki)
    now = datetime.now(UTC)
    openssl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key",
            "-in", "leaf.csr", "-out", "leaf.pem", "-extfile", "ext.cnf",
            "-startdate", (now - timedelta(days=30)).strftime("%Y%m%d%H%M%SZ"),
            "-enddate", (now - timedelta(days=7)).strftime("%Y%m%d%H%M%SZ"))  # fmt: skip

    with serving_tls(pki) as url:
        yield url, pki / "ca.pem"


def test_a_service_down_for_an_expired_certificate_is_that_breach_and_offers_its_runbook(
    expired_https: tuple[str, Path], tmp_path: Path
) -> None:
    """One cause, one breach: not `health: DOWN` (which offers a restart) but the
    certificate, which offers certificate-expiry."""
    url, ca = expired_https
    (tmp_path / "c.toml").write_text(SERVICE.format(name="portal", url=url, extra=""))
    status = run("status", "--json", "--config", "c.toml", cwd=tmp_path,
                 env={"SSL_CERT_FILE": str(ca)})  # fmt: skip
    assert status.returncode == 1, status.stdout + status.stderr
    report = json.loads(status.stdout)
    assert report["services"][0]["health"]["state"] == "DOWN"
    assert "certificate has expired" in report["services"][0]["health"]["error"]
    assert report["breaches"] == [
        {"subject": "portal", "signal": "certificate_days", "value": "expired", "threshold": 14}
    ]

    from opsconsole.monitoring.offers import offers
    from opsconsole.monitoring.snapshot import Breach
    from opsconsole.runbooks.model import load_runbooks, shipped_runbooks

    (offer,) = offers(
        load_runbooks(shipped_runbooks()), [Breach("portal", "certificate_days", "expired", 14)]
    )
    assert offer.text == (
        "the certificate of portal has expired: press R for runbook "
        "'TLS certificate expiring or expired'"
    )


def test_a_health_url_whose_host_name_does_not_resolve_says_it_is_dns(tmp_path: Path) -> None:
    """`.invalid` never resolves (RFC 2606): the problem is the name, not the service."""
    code, findings, table = doctor(
        tmp_path, SERVICE.format(name="ledger", url="http://ledger.invalid:8080/health", extra="")
    )
    assert code == 1
    assert problems(findings) == {
        "http://ledger.invalid:8080/health: DOWN, host name not found": (
            "this host cannot resolve ledger.invalid: check the name in services[].health_url, "
            "and this host's resolver (getent hosts ledger.invalid)"
        )
    }
    assert "✖ ledger" in table


@pytest.mark.parametrize(
    ("answer", "ok", "said"),
    [
        ({"Version": "24.0.5", "ApiVersion": "1.43"}, True, "Docker 24.0.5 (API 1.43) at X"),
        ({"Version": "1.11.2", "ApiVersion": "1.23"}, False,
         "Docker 1.11.2 (API 1.23) at X: the console needs API 1.24 or newer"),
        ({"Version": "?", "ApiVersion": "v2"}, False, "Docker ? (API v2) at X: not an API version"),
    ],
)  # fmt: skip
def test_the_docker_engines_api_version_is_judged(
    answer: dict[str, object], ok: bool, said: str
) -> None:
    """A fake answer of `GET /version`: no engine older than the harness's can be started
    here; the harness's own is judged in the test above (its finding is ok)."""
    found = docker_version(answer, "X")
    assert (found.ok, found.said) == (ok, said)
