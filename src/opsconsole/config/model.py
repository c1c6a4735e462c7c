"""The configuration file, ``opsconsole.toml``: its schema, where it is found, how it loads."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

from opsconsole.documents.load import Finding, load_document


def _check_url(value: str, schemes: tuple[str, ...]) -> None:
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        raise ValueError(f"should be a URL starting with {' or '.join(s + '://' for s in schemes)}")
    if parts.scheme != "unix" and not parts.hostname:
        raise ValueError("should name a host")


def _url(*schemes: str) -> AfterValidator:
    def check(value: str) -> str:
        _check_url(value, schemes)
        return value

    return AfterValidator(check)


def _secret_url(*schemes: str) -> AfterValidator:
    """Like _url, for a URL that may carry a password and so is kept as a SecretStr."""

    def check(value: SecretStr) -> SecretStr:
        _check_url(value.get_secret_value(), schemes)
        return value

    return AfterValidator(check)


HttpUrl = Annotated[str, _url("http", "https")]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]
MetricName = Annotated[str, Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
LabelName = Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")]
Seconds = Annotated[float, Field(gt=0, le=3600)]


class Section(BaseModel):
    # strict: TOML has types, and "2" where a number belongs is a mistake to report.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ConsoleSection(Section):
    environment: str = "unlabelled"
    """Shown in the header at all times, so nobody mistakes production for staging."""
    refresh_seconds: Annotated[float, Field(ge=0.2, le=3600)] = 2.0
    """How often every pane polls its source."""
    runbooks: str | None = None
    """The runbook library, relative to this file; the shipped library by default."""


class ThresholdsSection(Section):
    p95_seconds: Seconds = 2.0
    """P95 latency SLA (shared runbooks: P95 < 2 s)."""
    error_rate: Annotated[float, Field(ge=0, le=1)] = 0.01
    """5xx share of all requests (shared runbooks: < 1 %)."""
    health_timeout_seconds: Seconds = 2.0
    """A health check that has not answered by then counts as DOWN."""
    health_slow_seconds: Seconds = 1.0
    """A health check that answers, but slower than this, counts as DEGRADED."""
    connections_ratio: Annotated[float, Field(gt=0, le=1)] = 0.8
    """PostgreSQL sessions over this share of max_connections is a breach."""
    memory_ratio: Annotated[float, Field(gt=0, le=1)] = 0.9
    """Redis used memory over this share of maxmemory is a breach."""
    queue_length: Annotated[int, Field(ge=0)] = 1000
    """A watched Redis queue longer than this is a breach."""
    certificate_days: Annotated[int, Field(ge=0, le=365)] = 14
    """An https health URL whose certificate expires in fewer days is a breach (it offers
    certificate-expiry): renewals take time, and a weekend."""
    slow_query_seconds: Seconds = 60.0
    """A PostgreSQL client query active for longer than this is a breach (it offers
    slow-queries): a runaway, or one waiting on a lock."""


# prometheus_client's names and label, the defaults of every service.
DEFAULT_HISTOGRAM = "http_request_duration_seconds"
DEFAULT_COUNTER = "http_requests_total"
DEFAULT_STATUS_LABEL = "status"


@dataclass(frozen=True)
class MetricNames:
    """The names one service's figures are read by (`Config.metric_names`). Services
    with the same names share each query."""

    latency_histogram: str
    requests_total: str
    service_label: str
    """Empty for a direct scrape: the whole exposition is the service's."""
    status_label: str


# An ssh destination or jump host, never an option: `-oProxyCommand=...` must not reach ssh.
SshDestination = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.@-]*$", max_length=255)]


class HostSection(Section):
    """A host behind the bastion, reached as the operator's own ssh reaches it (their
    ~/.ssh/config, agent and known hosts): its Docker engine over ssh, and runbook steps
    run there."""

    name: Name
    ssh: SshDestination
    """`user@host`, or a Host of the ssh config."""
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    identity_file: str | None = None
    jump: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.@-]*(:[0-9]{1,5})?$")] | None = (
        None
    )
    """The jump host in between (`user@bastion`, `bastion:2222`, or a Host of the ssh
    config), reached with the same care as the host itself."""
    ssh_config: str | None = None
    """An ssh_config file read instead of the operator's ~/.ssh/config."""
    docker: bool = True
    """Watch its Docker engine (over ssh, `docker system dial-stdio` on the host)."""


class ServiceSection(Section):
    name: Name
    health_url: HttpUrl
    metrics_url: HttpUrl | None = None
    """Its Prometheus exposition, scraped directly where no [prometheus] is configured."""
    container: Name | None = None
    """The Docker container that runs it, if any."""
    host: Name | None = None
    """The [[hosts]] entry it runs on; none: this machine (or [docker])."""
    compose_file: Annotated[str, Field(pattern=r"^[A-Za-z0-9_./~-]+\.ya?ml$")] | None = None
    """The compose file it is deployed with, if any (as `docker compose -f` takes it, from
    where runbooks run): given to its runbooks as `compose_file`."""
    prometheus_label: str | None = None
    """The value of the service label in PromQL; the name by default."""
    latency_histogram: MetricName | None = None
    """This service's own histogram (the NL-FHIR seed exports nl_fhir_*); by default
    [prometheus]'s, or http_request_duration_seconds for a direct scrape."""
    requests_total: MetricName | None = None
    """This service's own request counter; as latency_histogram, by default."""
    status_label: LabelName | None = None
    """The label of its counter that holds the HTTP status; as latency_histogram."""
    api_url: Annotated[SecretStr, _secret_url("http", "https")] | None = None
    """An external API it calls: a cheap request that answers with the API's limit
    headers, with the service's key if the API takes one in the URL (kept secret). Its
    runbook (external-api-rate-limit) asks it, and an api_burst drill spends its quota."""
    health_timeout_seconds: Seconds | None = None
    """Overrides [thresholds] health_timeout_seconds for this service."""
    p95_seconds: Seconds | None = None
    """Overrides [thresholds] p95_seconds for this service."""
    error_rate: Annotated[float, Field(ge=0, le=1)] | None = None
    """Overrides [thresholds] error_rate for this service."""
    tls_certificate: str | None = None
    """The certificate file its https health URL is served with, on this host (the full
    chain nginx reads): certificate-expiry is offered with it as cert_path."""
    tls_key: str | None = None
    """That certificate's private key file, on this host: offered as key_path."""
    sandbox_ca_certificate: str | None = None
    """A sandbox's own CA, which this host trusts: a certificate_expiring drill signs the
    short-lived certificate it puts in place with it."""
    sandbox_ca_key: str | None = None
    """That CA's private key: read by openssl alone, never shown nor recorded. Only for a
    service marked sandbox (a CA key has no place in a production service's settings)."""
    sandbox: bool = False
    """Drills may inject faults here. Nothing else is ever a drill's target."""
    demo: bool = False
    """A service of the embedded demo fleet: the demo sets it, for the demo's runbooks."""


class PrometheusSection(Section):
    url: HttpUrl
    latency_histogram: MetricName = DEFAULT_HISTOGRAM
    requests_total: MetricName = DEFAULT_COUNTER
    service_label: LabelName = "service"
    status_label: LabelName = DEFAULT_STATUS_LABEL
    """The label of requests_total that holds the HTTP status code."""
    window: Annotated[str, Field(pattern=r"^[1-9][0-9]*[smh]$")] = "5m"
    """The range of rate() in every query: P95, request rate and error rate over it."""
    timeout_seconds: Seconds = 5.0


class PostgresSection(Section):
    dsn: Annotated[SecretStr, _secret_url("postgresql", "postgres")]
    backup_dir: str | None = None
    """Where its backups land (on this host): the newest one older than backup_rpo_hours
    is a breach that offers postgres-backup."""
    backup_rpo_hours: Annotated[float, Field(gt=0, le=8760)] = 24.0
    container: Name | None = None
    """The Docker container that runs it, if any: its runbooks act on that one, and a
    drill may stop it."""
    data_dir: str | None = None
    """The volume that holds its data and WAL, as this host sees it (its mount point, or
    any path on it): used over disk_percent is a breach that offers disk-wal-pressure."""
    disk_percent: Annotated[float, Field(gt=0, lt=100)] = 85.0
    """How full that volume may be, as df's Use%: PostgreSQL stops at a full disk."""
    sandbox: bool = False
    """Drills may inject faults here. Nothing else is ever a drill's target."""


class RedisSection(Section):
    url: Annotated[SecretStr, _secret_url("redis", "rediss", "unix")]
    queues: list[str] = []
    """Keys of lists used as queues, whose lengths are watched."""
    container: Name | None = None
    """The Docker container that runs it, if any: watched, and a drill may stop it."""
    sandbox: bool = False
    """Drills may inject faults here. Nothing else is ever a drill's target."""


class DockerSection(Section):
    base_url: Annotated[str, _url("unix", "tcp", "http", "https")] = "unix:///var/run/docker.sock"
    label: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-/]+(=\S*)?$")] | None = None
    """Also watch every container with this label (`key` or `key=value`)."""


class IncidentsSection(Section):
    dir: str | None = None
    """Where the incident logs are kept, relative to this file; default
    $XDG_STATE_HOME/opsconsole/incidents."""
    dsn: Annotated[SecretStr, _secret_url("postgresql", "postgres")] | None = None
    """A shared store in PostgreSQL, for a team working one incident from several consoles."""
    hold_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 15.0
    """How long a runbook's verifying check must keep passing, once the incident is
    MONITORING, before the console proposes RESOLVED."""
    recheck_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    """How often the verifying check is run again while it holds."""


class Config(Section):
    console: ConsoleSection = ConsoleSection()
    thresholds: ThresholdsSection = ThresholdsSection()
    services: Annotated[list[ServiceSection], Field(min_length=1)]
    prometheus: PrometheusSection | None = None
    postgres: PostgresSection | None = None
    redis: RedisSection | None = None
    docker: DockerSection | None = None
    hosts: list[HostSection] = []
    incidents: IncidentsSection = IncidentsSection()

    def host(self, name: str) -> HostSection:
        return next(h for h in self.hosts if h.name == name)

    def hosts_by_name(self) -> dict[str, HostSection]:
        """Where a runbook step's `host` may send it."""
        return {host.name: host for host in self.hosts}

    def health_timeout(self, service: ServiceSection) -> float:
        return service.health_timeout_seconds or self.thresholds.health_timeout_seconds

    def p95_threshold(self, service: ServiceSection) -> float:
        return service.p95_seconds or self.thresholds.p95_seconds

    def error_rate_threshold(self, service: ServiceSection) -> float:
        if service.error_rate is not None:
            return service.error_rate
        return self.thresholds.error_rate

    def metric_names(self, service: ServiceSection) -> MetricNames:
        """The names this service's figures are read by: its own, else [prometheus]'s,
        else the prometheus_client defaults (a direct scrape has no service label)."""
        p = self.prometheus
        return MetricNames(
            latency_histogram=service.latency_histogram
            or (p.latency_histogram if p else DEFAULT_HISTOGRAM),
            requests_total=service.requests_total or (p.requests_total if p else DEFAULT_COUNTER),
            service_label=p.service_label if p else "",
            status_label=service.status_label or (p.status_label if p else DEFAULT_STATUS_LABEL),
        )

    def metrics_name(self, service: ServiceSection) -> str:
        """The name a metrics source knows the service by."""
        if self.prometheus is not None:
            return service.prometheus_label or service.name
        return service.name


RESERVED_SUBJECTS = frozenset({"postgres", "redis", "docker", "prometheus", "metrics"})
"""What the board files backends' breaches under: no host may be named so."""


def container_key(service: ServiceSection) -> str | None:
    """How its container is known among all the hosts': `host/name` on a host (a name
    cannot hold a slash), its name on this machine's engine."""
    if service.container is None:
        return None
    return f"{service.host}/{service.container}" if service.host else service.container


def host_containers(config: Config, host: str) -> list[str]:
    """The containers watched on a host: those of the services that run there."""
    return [s.container for s in config.services if s.host == host and s.container]


def watched_containers(config: Config) -> list[str]:
    """The containers the Docker pane watches by name on this machine's engine: each
    service's (of no host), PostgreSQL's and Redis's."""
    names = [s.container for s in config.services if s.container and not s.host]
    for backend in (config.postgres, config.redis):
        if backend is not None and backend.container:
            names.append(backend.container)
    return names


def config_checks(config: Config) -> Iterator[Finding]:
    if config.docker and not config.docker.label and not watched_containers(config):
        yield Finding(
            ("docker",),
            "[docker] watches nothing: give a service or [postgres] a container,"
            " or set [docker] label",
        )
    first: dict[str, int] = {}
    for number, service in enumerate(config.services):
        if service.name in first:
            earlier = first[service.name]
            yield Finding(
                ("services", number, "name"),
                f"duplicate service name '{service.name}' (first at services[{earlier}])",
            )
        first.setdefault(service.name, number)
        yield from _tls_checks(service, ("services", number))
    hosts = [host.name for host in config.hosts]
    services = {service.name for service in config.services}
    for number, host in enumerate(config.hosts):
        name = host.name
        if name in hosts[:number]:
            yield Finding(("hosts", number, "name"), f"duplicate host name '{name}'")
        # A host's breach is filed under its name: one taken by a backend or a service
        # would be offered that one's runbooks.
        if name in RESERVED_SUBJECTS or name in services:
            yield Finding(
                ("hosts", number, "name"),
                f"host name '{name}' is a service's or a backend's: give the host another",
            )
        if host.docker and not host_containers(config, name):
            yield Finding(
                ("hosts", number, "docker"),
                f"host '{name}' runs no service's container: its Docker engine has nothing"
                f' to watch (docker = false, or give a service host = "{name}")',
            )
    for number, service in enumerate(config.services):
        if service.host is not None and service.host not in hosts:
            known = ", ".join(hosts) or "none"
            yield Finding(
                ("services", number, "host"),
                f"no [[hosts]] entry named '{service.host}' (hosts: {known})",
            )
        if (
            service.host is not None
            and service.compose_file
            and (not service.compose_file.startswith("/"))
        ):
            # Its runbook steps read it on the host: `~` would be this machine's home, and
            # a relative path the remote login's.
            yield Finding(
                ("services", number, "compose_file"),
                f"compose_file of {service.name} is read on {service.host}: give its absolute "
                "path there",
            )


def _tls_checks(service: ServiceSection, here: tuple[str, int]) -> Iterator[Finding]:
    """A certificate goes with its key; a sandbox CA (both halves) only with sandbox."""
    pairs = (("tls_certificate", "tls_key"), ("sandbox_ca_certificate", "sandbox_ca_key"))
    for first, second in pairs:
        given = [name for name in (first, second) if getattr(service, name)]
        if len(given) == 1:
            missing = second if given == [first] else first
            yield Finding((*here, given[0]), f"{given[0]} without {missing}")
    if service.sandbox_ca_key and not service.sandbox:
        yield Finding(
            (*here, "sandbox_ca_key"),
            "sandbox_ca_key is for a service marked sandbox = true: a CA's key has no place"
            " in a production service's settings",
        )


@dataclass(frozen=True)
class LoadedConfig:
    config: Config
    path: Path

    def runbooks_path(self) -> Path | None:
        if self.config.console.runbooks is None:
            return None
        return (self.path.parent / self.config.console.runbooks).resolve()

    def incidents_path(self) -> Path | None:
        if self.config.incidents.dir is None:
            return None
        return (self.path.parent / Path(self.config.incidents.dir).expanduser()).resolve()


def load_config(path: Path, env: Mapping[str, str] | None = None) -> LoadedConfig:
    """The configuration at ``path``, or ProblemsFound listing every problem in it."""
    config = load_document(
        path, Config, env=os.environ if env is None else env, checks=config_checks
    )
    return LoadedConfig(config, path)
