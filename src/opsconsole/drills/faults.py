"""The faults a drill injects into a sandbox, and how each is undone.

Each fault says, before it is injected, what undoing it takes (`record`): that record is
written first, so a console killed mid-drill leaves nothing behind that the next start
cannot undo. Every undo is safe to run twice, and safe to run for a fault that was only
half injected. Blocking clients: the drill calls these off its event loop. Each
backend's faults are in a module of their own, imported only when a drill needs them: a
demo drill loads neither psycopg, redis nor docker."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from opsconsole.config.model import Config, HostSection
from opsconsole.drills.demo_faults import DEMO_PREFIX, DemoFault
from opsconsole.drills.fault import Fault, FaultRefused
from opsconsole.drills.model import FaultSpec


def make_fault(spec: FaultSpec, config: Config, target: str, run: str) -> Fault:
    kind = spec.kind
    if kind == "none":
        raise FaultRefused("a rehearsal has no fault to train on: run it with drill run --auto")
    if kind == "postgres_backup_stale":
        from opsconsole.drills.backup_faults import BackupStale

        assert config.postgres is not None
        assert config.postgres.backup_dir is not None
        directory = os.path.expanduser(config.postgres.backup_dir)
        return BackupStale(directory, config.postgres.backup_rpo_hours)
    if kind == "postgres_wal_slot":
        from opsconsole.drills.wal_faults import WalSlot

        assert config.postgres is not None
        assert config.postgres.data_dir is not None
        dsn, volume = config.postgres.dsn.get_secret_value(), config.postgres.data_dir
        return WalSlot(dsn, run, os.path.expanduser(volume), config.postgres.disk_percent)
    if kind.startswith("postgres_"):
        from opsconsole.drills.postgres_faults import PostgresConnections, PostgresLock

        assert config.postgres is not None
        dsn = config.postgres.dsn.get_secret_value()
        if kind == "postgres_connections":
            return PostgresConnections(dsn, run, spec.leave_free)
        return PostgresLock(dsn, run, spec.table)
    if kind.startswith("redis_"):
        from opsconsole.drills.redis_faults import RedisMemory, RedisQueue

        assert config.redis is not None
        url = config.redis.url.get_secret_value()
        if kind == "redis_memory":
            return RedisMemory(url, run)
        queue = spec.queue or config.redis.queues[0]
        return RedisQueue(url, run, queue, spec.items)
    if kind.startswith(DEMO_PREFIX):
        return DemoFault(target, kind.removeprefix(DEMO_PREFIX))
    if kind == "connections_held":
        from opsconsole.drills.connection_faults import HeldConnections

        service = next(s for s in config.services if s.name == (spec.service or target))
        return HeldConnections(str(service.health_url), spec.count)
    if kind == "api_burst":
        from opsconsole.drills.api_faults import ApiBurst

        service = next(s for s in config.services if s.name == (spec.service or target))
        assert service.api_url is not None
        return ApiBurst(service.api_url.get_secret_value(), service.name, spec.count)
    if kind == "certificate_expiring":
        return _certificate_fault(spec, config, target, run)
    from opsconsole.drills.container_faults import ContainerFault
    from opsconsole.drills.oom import ContainerOom

    if kind == "containers_stop":
        from opsconsole.drills.container_faults import StackStop
        from opsconsole.drills.model import stack_containers

        assert config.docker is not None
        return StackStop(config.docker.base_url, stack_containers(config))
    container = _container_of(config, spec.service or target)
    host = _host_of(config, spec.service or target)
    base_url = config.docker.base_url if config.docker is not None else ""
    if kind == "container_oom":
        return ContainerOom(base_url, container, host)
    action = kind.removeprefix("container_")
    return ContainerFault(base_url, container, action, host)


def _certificate_fault(spec: FaultSpec, config: Config, target: str, run: str) -> Fault:
    from opsconsole.drills.certificate_faults import CertificateExpiring

    service = next(s for s in config.services if s.name == (spec.service or target))
    assert config.docker is not None
    assert service.container is not None
    # target_problem has seen to each of these: str() of None would be a bug, not a path.
    files = [service.tls_certificate, service.tls_key, service.sandbox_ca_certificate,
             service.sandbox_ca_key]  # fmt: skip
    cert, key, ca_cert, ca_key = (os.path.expanduser(str(path)) for path in files)
    host = urlsplit(str(service.health_url)).hostname or ""
    return CertificateExpiring(
        config.docker.base_url, service.container, cert, key, host, ca_cert, ca_key, spec.days, run
    )


def _host_of(config: Config, target: str) -> HostSection | None:
    """The host of [[hosts]] whose engine runs the target's container; None: this
    machine's (PostgreSQL's and Redis's containers are always this machine's)."""
    service = next((s for s in config.services if s.name == target), None)
    if service is None or service.host is None:
        return None
    return config.host(service.host)


def _container_of(config: Config, target: str) -> str:
    backend = {"postgres": config.postgres, "redis": config.redis}.get(target)
    if backend is not None:
        assert backend.container is not None
        return backend.container
    service = next(s for s in config.services if s.name == target)
    assert service.container is not None
    return service.container


def undo_recorded(record: dict[str, Any], config: Config) -> str:
    """Undoes a fault from its record alone: after a crash, by the next start."""
    kind = str(record["kind"])
    run = str(record.get("run", ""))
    if kind == "postgres_backup_stale":
        from opsconsole.drills.backup_faults import restore_times

        return restore_times(str(record["directory"]), record["times"])
    if kind == "postgres_wal_slot":
        if config.postgres is None:
            raise FaultRefused("no [postgres] in the configuration to undo it with")
        from opsconsole.drills.wal_faults import drop_slot

        return drop_slot(config.postgres.dsn.get_secret_value(), str(record["slot"]))
    if kind in ("postgres_connections", "postgres_lock"):
        if config.postgres is None:
            raise FaultRefused("no [postgres] in the configuration to undo it with")
        from opsconsole.drills.postgres_faults import terminate

        dsn = config.postgres.dsn.get_secret_value()
        ended = terminate(dsn, str(record["application_name"]))
        return f"{ended} drill sessions ended"
    if kind in ("redis_memory", "redis_queue"):
        if config.redis is None:
            raise FaultRefused("no [redis] in the configuration to undo it with")
        from opsconsole.drills.redis_faults import RedisQueue, delete_prefixed

        url = config.redis.url.get_secret_value()
        if kind == "redis_memory":
            return f"{delete_prefixed(url, str(record['prefix']))} drill keys deleted"
        return RedisQueue(url, run, str(record["queue"]), 0).undo()
    if kind.startswith(DEMO_PREFIX):
        return DemoFault(str(record["service"]), kind.removeprefix(DEMO_PREFIX)).undo()
    if kind == "connections_held":
        return "the held connections closed with the process that held them"
    if kind == "api_burst":
        from opsconsole.drills.api_faults import NOTHING_TO_UNDO

        return NOTHING_TO_UNDO
    if kind == "certificate_expiring":
        from opsconsole.drills.certificate_faults import restore

        base_url = config.docker.base_url if config.docker is not None else None
        return restore(base_url, str(record["container"]), dict(record["saved"]))
    from opsconsole.drills.container_faults import ContainerFault
    from opsconsole.drills.oom import ContainerOom

    host = None
    if "host" in record:
        host = config.hosts_by_name().get(str(record["host"]))
        if host is None:
            raise FaultRefused(
                f"host {record['host']} is no longer in the configuration's [[hosts]]: "
                f"container {record['container']} is left as the drill left it there"
            )
    elif config.docker is None:
        raise FaultRefused("no [docker] in the configuration to undo it with")
    base_url = config.docker.base_url if config.docker is not None else ""
    if kind == "container_oom":
        return ContainerOom(base_url, str(record["container"]), host).undo()
    if kind == "containers_stop":
        from opsconsole.drills.container_faults import StackStop

        return StackStop(base_url, [str(n) for n in record["containers"]]).undo()
    action = kind.removeprefix("container_")
    return ContainerFault(base_url, str(record["container"]), action, host).undo()
