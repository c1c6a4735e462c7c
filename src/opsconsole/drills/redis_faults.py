"""The Redis faults of a drill: memory filled to maxmemory, a queue backed up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from opsconsole.drills.fault import FaultRefused

DRILL_KEY_PREFIX = "opsconsole-drill"
FILL_VALUE_BYTES = 256 * 1024


@dataclass
class RedisMemory:
    """Keys of the drill's own prefix written until used memory reaches maxmemory. Refused
    on a Redis without maxmemory: filling it would eat the host."""

    url: str
    run: str

    @property
    def prefix(self) -> str:
        return f"{DRILL_KEY_PREFIX}:{self.run}:"

    def record(self) -> dict[str, Any]:
        return {"kind": "redis_memory", "prefix": self.prefix}

    def inject(self) -> str:
        client = redis.Redis.from_url(self.url)
        try:
            limit = int(client.config_get("maxmemory").get("maxmemory") or 0)
            if limit == 0:
                raise FaultRefused("this Redis has no maxmemory: filling it would fill the host")
            value = b"x" * FILL_VALUE_BYTES
            written = 0
            while int(client.info("memory")["used_memory"]) < limit * 0.98:
                try:
                    # Expiring, as a cache's keys do: the runbook tells a cache from data so.
                    client.set(f"{self.prefix}{written}", value, ex=3600)
                except redis.exceptions.OutOfMemoryError:
                    break  # noeviction: full is full
                written += 1
                if written > limit // FILL_VALUE_BYTES + 1000:
                    break  # evicting as fast as it fills: as full as it gets
            return f"{written} keys of {FILL_VALUE_BYTES // 1024} KiB under {self.prefix}*"
        finally:
            client.close()

    def undo(self) -> str:
        return f"{delete_prefixed(self.url, self.prefix)} keys {self.prefix}* deleted"


@dataclass
class RedisQueue:
    """A backlog: `items` marked entries pushed onto the queue; undo removes those only."""

    url: str
    run: str
    queue: str
    items: int

    @property
    def marker(self) -> str:
        return f"{DRILL_KEY_PREFIX}:{self.run}"

    def record(self) -> dict[str, Any]:
        return {"kind": "redis_queue", "queue": self.queue, "marker": self.marker}

    def inject(self) -> str:
        client = redis.Redis.from_url(self.url)
        try:
            pipe = client.pipeline(transaction=False)
            for start in range(0, self.items, 1000):
                pipe.rpush(self.queue, *([self.marker] * min(1000, self.items - start)))
            pipe.execute()
        finally:
            client.close()
        return f"{self.items} entries pushed onto {self.queue}"

    def undo(self) -> str:
        client = redis.Redis.from_url(self.url)
        try:
            removed = int(client.lrem(self.queue, 0, self.marker))
        finally:
            client.close()
        return f"{removed} drill entries removed from {self.queue}"


def delete_prefixed(url: str, prefix: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        deleted = 0
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            batch.append(key)
            if len(batch) == 1000:
                deleted += int(client.unlink(*batch))
                batch = []
        if batch:
            deleted += int(client.unlink(*batch))
        return deleted
    finally:
        client.close()
