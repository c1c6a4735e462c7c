"""The drill scenarios, ``drills.toml``: what fault to inject where, what steady state it
breaks, which runbook must bring it back, and how it is checked by `opsconsole check`."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field

from opsconsole.config.model import Config, Name, ServiceSection
from opsconsole.documents.load import Finding, load_document
from opsconsole.runbooks.model import (
    CommandStep,
    DecisionStep,
    Expect,
    Id,
    Library,
    Strict,
)
from opsconsole.runbooks.placeholders import placeholders

DRILLS_FILENAME = "drills.toml"
DRILLS_ENV = "OPSCONSOLE_DRILLS"

FaultKind = Literal[
    "postgres_connections",
    "postgres_lock",
    "postgres_backup_stale",
    "postgres_wal_slot",
    "redis_memory",
    "redis_queue",
    "container_stop",
    "container_kill",
    "container_pause",
    "container_oom",
    "containers_stop",
    "connections_held",
    "none",
    "api_burst",
    "certificate_expiring",
    "demo_down",
    "demo_slow",
    "demo_erroring",
    "demo_flapping",
]
TARGET_OF: dict[str, str] = {
    "postgres_connections": "postgres",
    "postgres_lock": "postgres",
    "postgres_backup_stale": "postgres",
    "postgres_wal_slot": "postgres",
    "redis_memory": "redis",
}
"""The target a fault kind needs; container faults need a service with a container, demo
faults a service of the demo fleet (its configuration marks them sandbox). A redis_queue
fault targets Redis, or the service that consumes the queue (both marked sandbox). A
certificate_expiring fault, a service served over https from tls_certificate and
tls_key, with a container to reload and a sandbox CA to sign with."""


SANDBOX_VALUES = frozenset(
    {"target", "container", "health_url", "service_url", "compose_file", "api_url",
     "health_host", "health_port", "tls_certificate", "tls_key", "fault_service",
     "fault_container", "fault_health_url", "fault_service_url", "fault_api_url",
     "fault_health_host", "fault_health_port", "fault_tls_certificate", "fault_tls_key",
     "postgres_host", "postgres_port", "postgres_user", "postgres_db", "postgres_container",
     "postgres_volume", "disk_percent", "backup_dir", "redis_container", "prometheus_url",
     "redis_host", "redis_port", "redis_db", "prometheus_window"}
)  # fmt: skip
"""What a scenario's parameters may refer to; `sandbox_values` fills them in."""
SERVICE_VALUE = re.compile(r"^[a-z0-9_]+_(container|health_url|service_url|compose_file)$")
"""Any configured service's values, by its name with `-` as `_`: `{sandbox_hapi_container}`
(a stack's scenario names more services than its target)."""


class FaultSpec(Strict):
    kind: FaultKind
    table: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")] = "opsconsole_drill_lock"
    """postgres_lock: the table held under ACCESS EXCLUSIVE (created when missing)."""
    leave_free: Annotated[int, Field(ge=1, le=50)] = 3
    """postgres_connections: slots left below max_connections (superuser ones aside)."""
    queue: str | None = None
    """redis_queue: the list key; by default the first of [redis] queues."""
    items: Annotated[int, Field(ge=1, le=10_000_000)] = 5000
    count: Annotated[int, Field(ge=1, le=1000)] = 3
    """connections_held: how many connections are held open; api_burst: how many calls
    at most (it stops at the first the API refuses)."""
    days: Annotated[int, Field(ge=1, le=365)] = 5
    """certificate_expiring: the certificate put in place expires in this many days
    (fewer than [thresholds] certificate_days, or nothing breaks)."""
    service: Name | None = None
    """The service the fault is put into, when it is not the scenario's target: a
    dependency, whose fault the target suffers (and is judged by). Marked sandbox too."""


class SteadyState(Strict):
    """What holds when the system is healthy. By default: the dashboard shows no breach
    of the target (one poll of every configured source, as `opsconsole status`); with a
    probe, also that probe's value meets `expect`."""

    probe: Literal["http", "promql", "sql", "redis"] | None = None
    target: str | None = None
    expect: Expect = Expect()
    scope: Literal["target", "everything"] = "target"
    tolerate_seconds: Annotated[float, Field(ge=0, le=3600)] = 0.0
    """A rehearsal (fault kind "none"): how long, in all, it may be seen broken while the
    runbook runs (a container recreated answers 503 for a moment)."""
    """"everything": no breach of anything the configuration watches, not only of the
    target (a fault of the whole stack)."""


class Drill(Strict):
    id: Id
    title: str
    description: str = ""
    target: str
    """A service name, "postgres" or "redis": marked `sandbox = true` in the configuration."""
    fault: FaultSpec
    steady_state: SteadyState = SteadyState()
    runbook: Id
    params: dict[str, str] = Field(default_factory=dict)
    """The runbook's parameters; may use the SANDBOX_VALUES ({target}, {container},
    {health_url}, {health_host}, {tls_certificate}, {postgres_host}, {redis_port}, ...):
    taken from the configuration, so a scenario fits any sandbox."""
    answers: dict[str, str] = Field(default_factory=dict)
    """For `--auto`: the answer label to give at a decision step, by step id, where the
    evidence proposes none (a proposal is always taken: it is what the drill proves)."""
    why_scripted: str = ""
    """Why those decisions need a person: what no captured value can tell."""
    time_limit_seconds: Annotated[float, Field(gt=0, le=86400)] = 600.0
    """How long the trainee (or the runbook, with --auto) has to bring it back."""
    rollback: list[CommandStep] = Field(default_factory=list)
    """Run after the fault is undone, whatever happened: for what the fault cannot know."""


class DrillBook(Strict):
    drills: Annotated[list[Drill], Field(min_length=1)]


def sandbox_values(config: Config, target: str, fault: FaultSpec | None = None) -> dict[str, str]:
    """What a scenario's parameters may refer to, from the configuration."""
    values = {"target": target}
    for service in config.services:
        slug = service.name.replace("-", "_").replace(".", "_").lower()
        values |= {f"{slug}_{k}": v for k, v in _service_values(config, service.name).items()}
    values |= _service_values(config, target)
    if fault is not None and fault.service is not None:
        values["fault_service"] = fault.service
        values |= {f"fault_{k}": v for k, v in _service_values(config, fault.service).items()}
    if config.prometheus is not None:
        values["prometheus_window"] = config.prometheus.window
        values["prometheus_url"] = str(config.prometheus.url).rstrip("/")
    if config.postgres is not None:
        from psycopg.conninfo import conninfo_to_dict  # only for a config with [postgres]

        info = conninfo_to_dict(config.postgres.dsn.get_secret_value())
        values |= {
            "postgres_host": str(info.get("host") or "127.0.0.1"),
            "postgres_port": str(info.get("port") or 5432),
            "postgres_user": str(info.get("user") or "postgres"),
            "postgres_db": str(info.get("dbname") or "postgres"),
        }
        if config.postgres.container:
            values["postgres_container"] = config.postgres.container
        if config.postgres.data_dir:
            values["postgres_volume"] = os.path.expanduser(config.postgres.data_dir)
        values["disk_percent"] = str(int(config.postgres.disk_percent))
        if config.postgres.backup_dir:
            values["backup_dir"] = os.path.expanduser(config.postgres.backup_dir)
    if config.redis is not None:
        url = urlsplit(config.redis.url.get_secret_value())
        values |= {
            "redis_host": url.hostname or "127.0.0.1",
            "redis_port": str(url.port or 6379),
            "redis_db": url.path.strip("/") or "0",
        }
        if config.redis.container:
            values["redis_container"] = config.redis.container
    return values


def _service_values(config: Config, name: str) -> dict[str, str]:
    service = next((s for s in config.services if s.name == name), None)
    if service is None:
        return {}
    url = urlsplit(str(service.health_url))
    default_port = 443 if url.scheme == "https" else 80
    values = {
        "health_url": str(service.health_url),
        "service_url": f"{url.scheme}://{url.netloc}",
        "health_host": url.hostname or "",
        "health_port": str(url.port or default_port),
    }
    if service.container:
        values["container"] = service.container
    values["service_host"] = service.host or ""
    if service.compose_file:
        values["compose_file"] = os.path.expanduser(service.compose_file)
    if service.api_url is not None:  # with its key: a runbook's output masks `api_key=`
        values["api_url"] = service.api_url.get_secret_value()
    if service.tls_certificate and service.tls_key:
        values["tls_certificate"] = os.path.expanduser(service.tls_certificate)
        values["tls_key"] = os.path.expanduser(service.tls_key)
    return values


def target_problem(config: Config, drill: Drill) -> str | None:
    """Why the configuration does not allow this drill; None when it does."""
    if problem := _target_problem(config, drill):
        return problem
    values = sandbox_values(config, drill.target, drill.fault)
    missing = sorted(
        {used for value in drill.params.values() for used in placeholders(value)} - set(values)
    )
    if missing:
        return "the configuration has no " + ", ".join(f"{{{name}}}" for name in missing)
    return None


def _target_problem(config: Config, drill: Drill) -> str | None:
    kind, target = drill.fault.kind, drill.target
    needed = TARGET_OF.get(kind)
    if needed is not None and target != needed:
        return f'a {kind} fault needs target = "{needed}", not "{target}"'
    if target == "postgres":
        section = config.postgres
        if section is None:
            return "target postgres: no [postgres] in the configuration"
        if not section.sandbox:
            return "target postgres is not marked sandbox = true: drills are refused there"
        if kind == "postgres_backup_stale" and not section.backup_dir:
            return "a postgres_backup_stale fault needs [postgres] backup_dir"
        if kind == "postgres_wal_slot" and not section.data_dir:
            return "a postgres_wal_slot fault needs [postgres] data_dir (the volume it fills)"
        if kind.startswith("container_") and section.container is None:
            return f"a {kind} fault of postgres needs [postgres] container"
        if kind.startswith("container_") and config.docker is None:
            return f"a {kind} fault needs [docker] in the configuration"
        return None
    if target == "redis":
        if config.redis is None:
            return "target redis: no [redis] in the configuration"
        if not config.redis.sandbox:
            return "target redis is not marked sandbox = true: drills are refused there"
        if kind.startswith("container_") and config.redis.container is None:
            return f"a {kind} fault of redis needs [redis] container"
        if kind.startswith("container_") and config.docker is None:
            return f"a {kind} fault needs [docker] in the configuration"
        return _queue_problem(config, drill) if kind == "redis_queue" else None
    services = {s.name: s for s in config.services}
    for name in dict.fromkeys((target, drill.fault.service or target)):
        if name not in services:
            return f"target {name}: no such service in the configuration"
        if not services[name].sandbox:
            return f"target {name} is not marked sandbox = true: drills are refused there"
    service = services[drill.fault.service or target]
    if service.host is not None and kind in ON_THIS_MACHINE:
        return (
            f"{service.name} runs on host {service.host}: a {kind} fault acts on this "
            "machine only (a container_* fault goes into a host's container)"
        )
    if kind == "redis_queue":
        return _queue_problem(config, drill)
    if kind == "containers_stop":
        if config.docker is None:
            return "a containers_stop fault needs [docker] in the configuration"
        return None if stack_containers(config) else "no container of the stack is marked sandbox"
    if kind.startswith("container_") and service.container is None:
        return f"target {service.name} has no container for a {kind} fault"
    if kind.startswith("container_") and config.docker is None and service.host is None:
        return f"a {kind} fault needs [docker] in the configuration"
    if kind == "api_burst" and service.api_url is None:
        return f"an api_burst fault needs {service.name}'s api_url: the API whose quota it spends"
    if kind == "certificate_expiring":
        return _certificate_problem(config, service, drill.fault.days)
    return None


ON_THIS_MACHINE = frozenset({"containers_stop", "certificate_expiring"})
"""Faults that act on this machine's engine or files: never for a service on a host."""


def _certificate_problem(config: Config, service: ServiceSection, days: int) -> str | None:
    if urlsplit(str(service.health_url)).scheme != "https":
        return f"a certificate_expiring fault needs an https health URL ({service.name}'s is not)"
    if not (service.tls_certificate and service.tls_key):
        return f"a certificate_expiring fault needs tls_certificate and tls_key of {service.name}"
    if not (service.sandbox_ca_certificate and service.sandbox_ca_key):
        return (
            "a certificate_expiring fault needs sandbox_ca_certificate and sandbox_ca_key of "
            f"{service.name}: the sandbox's CA signs the certificate it puts in place"
        )
    if service.container is None or config.docker is None:
        return (
            "a certificate_expiring fault needs the service's container and [docker]: "
            "it reloads the server"
        )
    if days >= config.thresholds.certificate_days:
        return (
            f"a certificate expiring in {days} days breaks nothing: [thresholds] "
            f"certificate_days is {config.thresholds.certificate_days}"
        )
    return None


def stack_containers(config: Config) -> list[str]:
    """The containers a fault of the whole stack stops, in the order they start again:
    PostgreSQL, Redis, then the services as configured; only those marked sandbox."""
    names = [
        backend.container
        for backend in (config.postgres, config.redis)
        if backend is not None and backend.sandbox and backend.container
    ]
    # Those of this machine's engine: one on a host is not stopped from here.
    names += [s.container for s in config.services if s.sandbox and s.container and not s.host]
    return list(dict.fromkeys(names))


def _queue_problem(config: Config, drill: Drill) -> str | None:
    if config.redis is None:
        return "a redis_queue fault needs [redis] in the configuration"
    if not config.redis.sandbox:
        return "[redis] is not marked sandbox = true: drills are refused there"
    if not (drill.fault.queue or config.redis.queues):
        return "a redis_queue fault needs a queue: fault.queue or [redis] queues"
    return None


def drill_checks(book: DrillBook, library: Library | None = None) -> Iterator[Finding]:
    """What can be checked without the configuration: ids, the runbook, its parameters
    and the scripted answers."""
    seen: set[str] = set()
    for number, drill in enumerate(book.drills):
        at = ("drills", number)
        if drill.id in seen:
            yield Finding((*at, "id"), f"duplicate drill id '{drill.id}'")
        seen.add(drill.id)
        for name, value in drill.params.items():
            for used in placeholders(value):
                if used not in SANDBOX_VALUES and not SERVICE_VALUE.match(used):
                    yield Finding(
                        (*at, "params", name), f"unknown value '{{{used}}}' in parameter '{name}'"
                    )
        if library is None:
            continue
        runbook = next((b for b in library.runbooks if b.id == drill.runbook), None)
        if runbook is None:
            yield Finding((*at, "runbook"), f"no runbook '{drill.runbook}' in the library")
            continue
        declared = {p.name for p in runbook.params}
        for name in drill.params:
            if name not in declared:
                yield Finding(
                    (*at, "params", name), f"runbook '{runbook.id}' has no parameter '{name}'"
                )
        decisions = {s.id: s for s in runbook.steps if isinstance(s, DecisionStep)}
        if drill.answers and not drill.why_scripted.strip():
            yield Finding(
                (*at, "answers"),
                "scripted answers need why_scripted: what a person knows here that no "
                "captured value shows (a decision that can propose its answer should)",
            )
        for step_id, label in drill.answers.items():
            step = decisions.get(step_id)
            if step is None:
                yield Finding(
                    (*at, "answers", step_id),
                    f"runbook '{runbook.id}' has no decision step '{step_id}'",
                )
            elif label not in [a.label for a in step.answers]:
                yield Finding(
                    (*at, "answers", step_id),
                    f"'{label}' is not an answer of '{step_id}' (answers: "
                    + ", ".join(repr(a.label) for a in step.answers)
                    + ")",
                )


def shipped_drills() -> Path:
    return Path(str(resources.files("opsconsole.drills") / DRILLS_FILENAME))


def find_drills(explicit: Path | None, env: Mapping[str, str] | None = None) -> Path:
    """First of: --drills, $OPSCONSOLE_DRILLS, ./drills.toml, the shipped scenarios."""
    env = os.environ if env is None else env
    if explicit is not None:
        return explicit
    if env.get(DRILLS_ENV):
        return Path(env[DRILLS_ENV])
    local = Path(DRILLS_FILENAME)
    return local if local.is_file() else shipped_drills()


def drills_apply(drills: Path, runbooks: Path) -> bool:
    """Whether the scenarios at `drills` are for the library at `runbooks`. The shipped
    scenarios prove the shipped runbooks: a team with a library of its own has none of
    them, and its own scenarios are given with --drills or ./drills.toml."""
    from opsconsole.runbooks.model import shipped_runbooks

    shipped = drills.resolve() == shipped_drills().resolve()
    return not shipped or runbooks.resolve() == shipped_runbooks().resolve()


def load_drills(path: Path, library: Library | None = None) -> DrillBook:
    return load_document(path, DrillBook, checks=lambda book: drill_checks(book, library))


@dataclass(frozen=True)
class DrillPlan:
    drill: Drill
    pending: Path
    """Where the record of how to undo the fault is written before it is injected."""
    reports: Path
