"""`opsconsole doctor`: every configured backend asked once, as a new stack needs it
asked, and each problem said with its fix. What the dashboard would otherwise show as a
dash, a partial figure or a meaningless ratio is found here before the night it matters:
a metric or a label Prometheus does not hold, a target down, pg_stat_statements missing,
a role that cannot see other sessions, a Redis without maxmemory, a queue that is not a
list, a container that does not exist, a certificate about to expire."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from opsconsole.common.redact import redact_url
from opsconsole.config.model import Config
from opsconsole.sources.base import describe_error
from opsconsole.sources.health import HealthChecker, HealthTarget
from opsconsole.sources.holdings import explain
from opsconsole.sources.readings import HealthState
from opsconsole.sources.tls import certificate_expires

if TYPE_CHECKING:  # prometheus_api_client is loaded only where [prometheus] is configured
    from opsconsole.sources.prometheus import PrometheusSource

CERTIFICATE_WARNING_DAYS = 14
"""A certificate that expires sooner than this is a problem now: renewals take time."""


@dataclass(frozen=True)
class Finding:
    subject: str
    """A service's name, or "prometheus", "postgres", "redis", "docker"."""
    ok: bool
    said: str
    fix: str = ""
    """What to do about it, when it is a problem."""


async def diagnose(config: Config) -> list[Finding]:
    """Every check of every configured backend, in the order the configuration names them;
    a backend that cannot be reached is one finding, with why."""
    checks: list[tuple[str, Callable[[Config], Awaitable[list[Finding]]]]] = [
        ("health", _health),
    ]
    if config.prometheus is not None:
        checks.append(("prometheus", _prometheus))
    if config.postgres is not None:
        checks.append(("postgres", _postgres))
    if config.redis is not None:
        checks.append(("redis", _redis))
    if config.docker is not None:
        checks.append(("docker", _docker))
    found: list[Finding] = []
    for subject, check in checks:
        try:
            found += await check(config)
        except Exception as error:  # the world's failure is a finding, never a traceback
            found.append(Finding(subject, False, f"cannot be reached: {describe_error(error)}",
                                 _REACH.get(subject, "")))  # fmt: skip
    return found


_REACH = {
    "prometheus": "check [prometheus] url, and that this host may reach it",
    "postgres": "check [postgres] dsn: host, port, user, and the password in its ${VARIABLE}",
    "redis": "check [redis] url, and its password",
    "docker": "check [docker] base_url, and that this user may use the Docker socket",
}


# -- health --------------------------------------------------------------------------------


async def _health(config: Config) -> list[Finding]:
    checker = HealthChecker([])
    found = []
    try:
        for service in config.services:
            url = str(service.health_url)
            target = HealthTarget(
                service.name, url,
                timeout=service.health_timeout_seconds or config.thresholds.health_timeout_seconds,
                slow_after=config.thresholds.health_slow_seconds,
            )  # fmt: skip
            check = await checker.check(target)
            if check.state is HealthState.UP:
                found.append(Finding(service.name, True, f"{url} answers HTTP {check.status_code}"))
            else:
                found.append(Finding(
                    service.name, False, f"{url}: {check.state.value}, {check.reason}",
                    _health_fix(url, check.reason),
                ))  # fmt: skip
            if urlsplit(url).scheme == "https":
                found.append(await asyncio.to_thread(_certificate, service.name, url))
    finally:
        await checker.aclose()
    return found


def _health_fix(url: str, reason: str | None) -> str:
    if reason == "host name not found":  # DNS: no use looking at the service
        host = urlsplit(url).hostname or ""
        return (
            f"this host cannot resolve {host}: check the name in services[].health_url, "
            f"and this host's resolver (getent hosts {host})"
        )
    return "check services[].health_url, and that the service runs"


def _certificate(name: str, url: str) -> Finding:
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 443
    try:
        ends = certificate_expires(url)
    except OSError as error:
        return Finding(name, False, f"TLS of {host}:{port}: {describe_error(error)}",
                       "a certificate this host trusts, for this name")  # fmt: skip
    left = (ends - datetime.now(UTC)).days
    if left < CERTIFICATE_WARNING_DAYS:
        return Finding(name, False, f"the certificate of {host} expires in {left} days",
                       "renew it (runbook certificate-expiry)")  # fmt: skip
    return Finding(name, True, f"the certificate of {host} is good for {left} more days")


# -- Prometheus ------------------------------------------------------------------------------


async def _prometheus(config: Config) -> list[Finding]:
    from opsconsole.sources.prometheus import PrometheusSource

    assert config.prometheus is not None
    services = [(config.metrics_name(s), config.metric_names(s)) for s in config.services]
    source = PrometheusSource(config.prometheus, services)
    try:
        return await asyncio.to_thread(_prometheus_findings, source, config)
    finally:
        await source.aclose()


def _prometheus_findings(source: PrometheusSource, config: Config) -> list[Finding]:
    assert config.prometheus is not None
    url = config.prometheus.url
    groups = list(dict.fromkeys(config.metric_names(s) for s in config.services))
    holdings = source.discover(groups)
    found = [Finding("prometheus", True, f"reachable at {url}")]
    for service in config.services:
        unknown = explain(holdings, config.metric_names(service), config.metrics_name(service))
        if unknown:
            found.append(Finding(service.name, False, f"metrics: {unknown.said()}",
                                 "set the names in [prometheus] or in the service"))  # fmt: skip
        else:
            found.append(Finding(service.name, True, "its metrics and labels are in Prometheus"))
    for series in source.down_targets():
        job, instance = series.get("job", "?"), series.get("instance", "?")
        found.append(Finding("prometheus", False, f"target {job} {instance} is down (up == 0)",
                             "Prometheus cannot scrape it: its figures are missing"))  # fmt: skip
    return found


# -- PostgreSQL ------------------------------------------------------------------------------

_CAN_SEE_ALL = """
SELECT rolsuper OR pg_has_role(current_user, 'pg_monitor', 'member')
FROM pg_roles WHERE rolname = current_user
"""


async def _postgres(config: Config) -> list[Finding]:
    import psycopg

    assert config.postgres is not None
    dsn = config.postgres.dsn.get_secret_value()
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True, connect_timeout=5) as db:
        version = (await (await db.execute("SHOW server_version")).fetchone() or ("?",))[0]
        user = db.info.user
        found = [Finding("postgres", True, f"connected to {redact_url(dsn)} as {user} "
                                           f"(PostgreSQL {version})")]  # fmt: skip
        installed = await (
            await db.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
        ).fetchone()
        if installed is None:
            found.append(Finding(
                "postgres", False, "pg_stat_statements is not installed: the pane shows no "
                "slowest statement",
                "CREATE EXTENSION pg_stat_statements; with shared_preload_libraries = "
                "'pg_stat_statements' in postgresql.conf",
            ))  # fmt: skip
        else:
            try:
                await db.execute("SELECT 1 FROM pg_stat_statements LIMIT 1")
                found.append(Finding("postgres", True, "pg_stat_statements is readable"))
            except psycopg.Error as error:
                why = describe_error(error)
                found.append(Finding(
                    "postgres", False, f"pg_stat_statements cannot be read: {why}",
                    "shared_preload_libraries = 'pg_stat_statements', then a restart",
                ))  # fmt: skip
        sees_all = await (await db.execute(_CAN_SEE_ALL)).fetchone()
        if sees_all is None or not sees_all[0]:
            found.append(Finding(
                "postgres", False, f"role {user} cannot see other sessions' queries: the "
                "longest query and idle-in-transaction figures are partial",
                f"GRANT pg_monitor TO {user}",
            ))  # fmt: skip
        else:
            found.append(Finding("postgres", True, f"role {user} sees every session"))
    return found


# -- Redis -------------------------------------------------------------------------------------


async def _redis(config: Config) -> list[Finding]:
    import redis.asyncio as aioredis

    assert config.redis is not None
    url = config.redis.url.get_secret_value()
    client = aioredis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        await client.ping()
        found = [Finding("redis", True, f"answers at {redact_url(url)}")]
        memory = await client.info("memory")
        if not int(memory.get("maxmemory", 0)):
            found.append(Finding(
                "redis", False, "maxmemory is not set: memory has no ceiling, and the pane's "
                "memory ratio means nothing",
                "CONFIG SET maxmemory <bytes>, and maxmemory in redis.conf",
            ))  # fmt: skip
        for queue in config.redis.queues:
            answer = await client.type(queue)
            kind = answer.decode() if isinstance(answer, bytes) else str(answer)
            if kind == "list":
                found.append(Finding("redis", True, f"queue {queue} is a list"))
            elif kind == "none":
                found.append(Finding("redis", True, f"queue {queue} is empty (no such key yet)"))
            else:
                found.append(Finding(
                    "redis", False, f"queue {queue} is a {kind}, not a list: its length "
                    "cannot be read", "check [redis] queues",
                ))  # fmt: skip
    finally:
        await client.aclose()
    return found


# -- Docker --------------------------------------------------------------------------------------

DOCKER_MINIMUM_API = (1, 24)
"""The oldest Engine API the docker SDK speaks (docker.constants.MINIMUM_DOCKER_API_VERSION):
an older engine (Docker 1.11 and before) answers none of the pane's calls."""


def docker_version(version: dict[str, object], where: str) -> Finding:
    """What `GET /version` says of the engine, judged against what the console needs."""
    api = str(version.get("ApiVersion", "?"))
    said = f"Docker {version.get('Version', '?')} (API {api}) at {where}"
    try:
        major, minor = (int(part) for part in api.split("."))
    except ValueError:
        return Finding("docker", False, f"{said}: not an API version",
                       "is base_url a Docker engine?")  # fmt: skip
    if (major, minor) < DOCKER_MINIMUM_API:
        least = ".".join(map(str, DOCKER_MINIMUM_API))
        return Finding("docker", False, f"{said}: the console needs API {least} or newer",
                       "upgrade the Docker engine on that host")  # fmt: skip
    return Finding("docker", True, said)


async def _docker(config: Config) -> list[Finding]:
    return await asyncio.to_thread(_docker_findings, config)


def _docker_findings(config: Config) -> list[Finding]:
    import docker

    assert config.docker is not None
    client = docker.DockerClient(base_url=config.docker.base_url, timeout=10)
    try:
        found = [docker_version(client.version(), config.docker.base_url)]
        for service in config.services:
            if not service.container:
                continue
            try:
                client.containers.get(service.container)
                found.append(Finding(service.name, True, f"container {service.container} exists"))
            except docker.errors.NotFound:
                found.append(Finding(service.name, False, f"no container named {service.container}",
                                     "check services[].container (docker ps --all)"))  # fmt: skip
        if config.docker.label:
            matched = client.containers.list(all=True, filters={"label": config.docker.label})
            if not matched:
                found.append(Finding("docker", False, f"no container has the label "
                                     f"{config.docker.label}", "check [docker] label"))  # fmt: skip
    finally:
        client.close()
    return found
