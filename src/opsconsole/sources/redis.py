"""Redis as the runbooks check it with `redis-cli info`: clients, memory against
maxmemory, hit ratio, operations a second, evictions, and the length of queue keys."""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis

from opsconsole.sources.readings import RedisReading

# The command that gives the length of each kind of key a queue may be.
LENGTH_COMMANDS = {"list": "LLEN", "stream": "XLEN", "zset": "ZCARD", "set": "SCARD"}


class RedisSource:
    def __init__(self, url: str, queues: list[str], timeout: float = 5.0) -> None:
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self.queue_keys = queues
        # TYPE and LLEN count as keyspace hits and misses, as any client's look-ups do.
        # The console knows exactly which of its own hit and missed, and takes them out,
        # so watching queues does not flatter the cache hit ratio.
        self._own_hits = 0
        self._own_misses = 0
        self._run_id: str | None = None

    async def poll(self) -> RedisReading:
        info: dict[str, Any] = await self._client.info()
        hits, misses = self._server_stats_without_ours(info)
        queues = await self._queue_lengths()
        lookups = hits + misses
        return RedisReading(
            version=str(info.get("redis_version", "?")),
            role=str(info.get("role", "?")),
            clients=int(info.get("connected_clients", 0)),
            blocked_clients=int(info.get("blocked_clients", 0)),
            used_memory_bytes=int(info.get("used_memory", 0)),
            max_memory_bytes=int(info.get("maxmemory", 0)) or None,
            hit_ratio=hits / lookups if lookups else None,
            keyspace_hits=hits,
            keyspace_misses=misses,
            ops_per_second=int(info.get("instantaneous_ops_per_sec", 0)),
            evicted_keys=int(info.get("evicted_keys", 0)),
            queues=queues,
        )

    def _server_stats_without_ours(self, info: dict[str, Any]) -> tuple[int, int]:
        hits, misses = int(info.get("keyspace_hits", 0)), int(info.get("keyspace_misses", 0))
        run_id = str(info.get("run_id", ""))
        # A restarted server, or CONFIG RESETSTAT, starts the counts again: so do we.
        if run_id != self._run_id or hits < self._own_hits or misses < self._own_misses:
            self._run_id, self._own_hits, self._own_misses = run_id, 0, 0
        return hits - self._own_hits, misses - self._own_misses

    async def _queue_lengths(self) -> dict[str, int | str]:
        if not self.queue_keys:
            return {}
        async with self._client.pipeline(transaction=False) as pipe:
            for key in self.queue_keys:
                pipe.type(key)
            kinds = [kind.decode() for kind in await pipe.execute()]
        lengths: dict[str, int | str] = {}
        measured = []
        for key, kind in zip(self.queue_keys, kinds, strict=True):
            if kind == "none":
                self._own_misses += 1
                lengths[key] = 0  # an empty queue is a key that does not exist
            elif kind in LENGTH_COMMANDS:
                self._own_hits += 2  # TYPE, then the length command
                measured.append((key, LENGTH_COMMANDS[kind]))
            else:
                self._own_hits += 1
                lengths[key] = f"a {kind}, not a queue"
        if measured:
            async with self._client.pipeline(transaction=False) as pipe:
                for key, command in measured:
                    pipe.execute_command(command, key)
                for (key, _), length in zip(measured, await pipe.execute(), strict=True):
                    lengths[key] = int(length)
        return {key: lengths[key] for key in self.queue_keys}

    async def aclose(self) -> None:
        await self._client.aclose()
