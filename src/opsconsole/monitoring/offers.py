"""Which runbook the dashboard offers for what it sees: each breach against the runbooks'
`suggest_when`, in words an on-call engineer acts on ("P95 of nl-fhir is 3.1s > 2s")."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from opsconsole.common.readable import percent, seconds
from opsconsole.common.redact import Redactor, redact_url
from opsconsole.config.model import Config, ServiceSection
from opsconsole.monitoring.snapshot import Breach
from opsconsole.runbooks.model import Library, Runbook
from opsconsole.sources.metrics import STALE_FIGURES

SEVERITY_ORDER = ("P0", "P1", "P2", "P3", "P4")
SERVICE_PARAMS = ("health_url", "container", "metrics_url")
"""A runbook offered for a configured service gets that service's own values in the
parameters of these names, and an empty field where it has none: never the runbook's
default, which names some other service's container."""
METRIC_PARAMS = ("latency_histogram", "requests_total", "service_label", "status_label")
"""And the names its figures are read by (`Config.metric_names`), with `metrics_name`
the value of its service label: a check's PromQL asks for what the dashboard shows."""


@dataclass(frozen=True)
class Offer:
    runbook: Runbook
    breach: Breach
    params: dict[str, str]
    """The subject of the breach, in the parameter the runbook names for it, and what
    the configuration says of that service (SERVICE_PARAMS)."""

    @property
    def text(self) -> str:
        return f"{describe(self.breach)}: press R for runbook '{self.runbook.title}'"


def offers(
    library: Library,
    breaches: list[Breach],
    services: Mapping[str, ServiceSection] | None = None,
    config: Config | None = None,
) -> list[Offer]:
    """Every runbook that fits a breach, the most severe runbook first, then in the order
    the breaches came (services as configured, then backends)."""
    if config is not None and services is None:
        services = {service.name: service for service in config.services}
    hosts = {host.name for host in config.hosts} if config is not None else set()
    found = []
    for breach in breaches:
        signal = breach.signal.partition(":")[0]  # "queue:audit_events_queue" is a "queue"
        service = (services or {}).get(breach.subject)
        for runbook in library.runbooks:
            for when in runbook.suggest_when:
                if when.signal != signal or when.subject not in (None, breach.subject):
                    continue
                if not fits(runbook, when.demo, service):
                    continue
                if "ssh_host" in _declared(runbook) and breach.subject not in hosts:
                    continue  # a runbook for a host of [[hosts]], not for a backend
                params = (
                    {when.subject_param: breach.subject}
                    if when.subject_param in _declared(runbook) and when.subject_param
                    else {}
                )
                if service is not None:
                    params |= service_params(runbook, service, config)
                if breach.subject == "postgres" and config is not None:
                    params |= postgres_params(runbook, config)
                found.append(Offer(runbook, breach, params))
                break
    return sorted(found, key=lambda offer: SEVERITY_ORDER.index(offer.runbook.severity))


def fits(runbook: Runbook, for_demo: bool, service: ServiceSection | None) -> bool:
    """Whether a runbook can run on this service as it runs: one that acts on its
    container (declares `container`, `metrics_url`) is for a service that has one, and a
    demo fleet's services take the demo's runbooks only (and only they take them)."""
    if service is None:
        return not for_demo
    if service.demo != for_demo:
        return False
    declared = _declared(runbook)
    if service.host is not None and "container" in declared and "service_host" not in declared:
        # Its commands would run `docker` here, on this machine's engine, not on the host
        # that runs the container: only a runbook whose steps go there (`service_host`).
        return False
    needed = declared & {"container", "metrics_url"}
    return all(getattr(service, name) for name in needed)


def service_params(
    runbook: Runbook, service: ServiceSection, config: Config | None = None
) -> dict[str, str]:
    """The parameters of `runbook` that a service fills: its name in `service`, its own
    health_url, container and metrics_url (or nothing where it has none), and its api_url
    where it has one; with the configuration, the names its figures are read by
    (METRIC_PARAMS, `metrics_name`)."""
    declared = _declared(runbook)
    params = {"service": service.name} if "service" in declared else {}
    if "service_host" in declared:
        # Where its docker steps run: empty is this machine, never the runbook's default.
        params["service_host"] = service.host or ""
    params |= {name: _shown_value(service, name) for name in SERVICE_PARAMS if name in declared}
    params |= _tls_params(declared, service)
    if "compose_file" in declared and service.compose_file:
        params["compose_file"] = os.path.expanduser(service.compose_file)
    if "api_url" in declared and service.api_url is not None:
        url = service.api_url.get_secret_value()
        # With its key in it, the form would show the key: left for the operator to type.
        params["api_url"] = url if Redactor(env={})(url) == url else ""
    if config is not None:
        names = config.metric_names(service)
        params |= {name: getattr(names, name) for name in METRIC_PARAMS if name in declared}
        if "metrics_name" in declared:
            params["metrics_name"] = config.metrics_name(service)
        if "window" in declared and config.prometheus is not None:
            params["window"] = config.prometheus.window  # the window it breached over
    # A direct scrape has no service label: the runbook's own default stands.
    kept = (*SERVICE_PARAMS, "api_url", "service_host")
    return {name: value for name, value in params.items() if value or name in kept}


def postgres_params(runbook: Runbook, config: Config) -> dict[str, str]:
    """A runbook offered for PostgreSQL acts on the configured one: its host, port, user
    and database (pg_host, pg_port, pg_user, pg_db), its container, backup_dir and RPO,
    the data volume as this host sees it (`volume`, from data_dir: not `data_dir`, which
    disk-wal-pressure reads inside the container); never the runbook's defaults, which
    name the example stack's."""
    if config.postgres is None:
        return {}
    from psycopg.conninfo import conninfo_to_dict  # only for a config with [postgres]

    info = conninfo_to_dict(config.postgres.dsn.get_secret_value())
    found = {
        "pg_host": str(info.get("host") or "127.0.0.1"),
        "pg_port": str(info.get("port") or 5432),
        "pg_user": str(info.get("user") or "postgres"),
        "pg_db": str(info.get("dbname") or "postgres"),
        "backup_dir": os.path.expanduser(config.postgres.backup_dir or ""),
        "rpo_hours": f"{config.postgres.backup_rpo_hours:g}",
        "pg_container": config.postgres.container or "",
        "volume": os.path.expanduser(config.postgres.data_dir or ""),
        # df's Use% is whole: a limit of 87.5 is held to 87.
        "disk_percent": str(int(config.postgres.disk_percent)),
    }
    declared = _declared(runbook)
    return {name: value for name, value in found.items() if name in declared and value}


def _tls_params(declared: set[str], service: ServiceSection) -> dict[str, str]:
    """An https health URL's host, port and server name, for a runbook that looks at the
    certificate served there (`host`, `port`, `server_name`); and the files it is served
    from, where the configuration names them (`cert_path`, `key_path`)."""
    parts = urlsplit(str(service.health_url))
    if parts.scheme != "https" or not parts.hostname:
        return {}
    found = {
        "host": parts.hostname,
        "port": str(parts.port or 443),
        "server_name": parts.hostname,
        "cert_path": os.path.expanduser(service.tls_certificate or ""),
        "key_path": os.path.expanduser(service.tls_key or ""),
    }
    return {name: value for name, value in found.items() if name in declared and value}


def _declared(runbook: Runbook) -> set[str]:
    return {p.name for p in runbook.params}


def _shown_value(service: ServiceSection, name: str) -> str:
    """The service's value, or nothing where it has none or it holds a password: the
    form shows what it is filled with."""
    value = str(getattr(service, name) or "")
    return value if redact_url(value) == value else ""


def describe(breach: Breach) -> str:
    subject, value, limit = breach.subject, breach.value, breach.threshold
    signal, _, detail = breach.signal.partition(":")
    if signal == "p95_seconds" and isinstance(value, float) and isinstance(limit, float):
        return f"P95 of {subject} is {seconds(value)} > {seconds(limit)}"
    if signal == "error_rate" and isinstance(value, float) and isinstance(limit, float):
        return f"error rate of {subject} is {percent(value)} > {percent(limit)}"
    if signal == "health":
        return f"{subject} is {value}"
    if signal == "container_state":
        return f"the container of {subject} is {value}"
    if signal == "oom_killed":
        return f"{subject} was OOM-killed"
    if signal in ("connections_ratio", "memory_ratio") and isinstance(value, float):
        what = "connections" if signal == "connections_ratio" else "memory"
        return f"{subject} {what} at {percent(value)} > {percent(float(limit or 0))}"
    if signal == "backup_age" and isinstance(value, float):
        return f"the newest backup of {subject} is {value:g} h old (> {float(limit or 0):g} h)"
    if signal == "backup_age":
        return f"{subject} has no backup to measure: {value}"
    if signal == "certificate_days" and value == "expired":
        return f"the certificate of {subject} has expired"
    if signal == "certificate_days":
        return f"the certificate of {subject} expires in {value} days (< {limit})"
    if signal == "disk_use":
        return f"the data volume of {subject} is {value}% full (> {float(limit or 0):g}%)"
    if signal == "disk_unread":
        return f"the disk use of {subject}'s data volume cannot be read: {value}"
    if signal == "slow_query" and isinstance(value, float) and isinstance(limit, float):
        return f"a query on {subject} has run {seconds(value)} > {seconds(limit)}"
    if signal == "queue":
        return f"queue {detail} holds {value} > {limit}"
    if signal == "unreachable":
        return f"{subject} is unreachable: {value}"
    if signal == "target_down":
        return f"{value}: {STALE_FIGURES}"
    if signal == "metrics":
        return f"the figures of {subject} cannot be computed: {value}"
    return f"{subject} {signal}: {value}"
