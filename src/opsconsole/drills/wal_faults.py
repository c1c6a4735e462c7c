"""The WAL fault of a drill: an abandoned replication slot keeps every WAL segment written
after it, until PostgreSQL's data volume is past its disk threshold."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import psycopg

from opsconsole.drills.fault import FaultRefused

# Past the threshold by this much, so that the breach is clear; never so far that the
# volume fills (PostgreSQL PANICs on a full WAL disk: another fault, not this drill's).
MARGIN_PERCENT = 3.0
CEILING_PERCENT = 96.0
MAX_WAL_BYTES = 1 << 30
"""A drill fills a small sandbox volume: never more WAL than this."""


def slot_name(run: str) -> str:
    """A slot name is [a-z0-9_]: the run's own characters, the rest dropped."""
    return "opsconsole_drill_" + re.sub(r"[^a-z0-9_]", "", run.lower())[:40]


def used_percent(directory: str) -> float:
    stat = os.statvfs(directory)
    total = stat.f_blocks * stat.f_frsize
    free = stat.f_bavail * stat.f_frsize
    return 100.0 * (total - free) / total if total else 0.0


@dataclass
class WalSlot:
    """A physical slot reserving WAL from now on (as a replica that went away leaves
    one), then small writes each closed by a segment switch, until the volume is past
    `percent`."""

    dsn: str
    run: str
    volume: str
    percent: float

    def record(self) -> dict[str, Any]:
        return {"kind": "postgres_wal_slot", "slot": slot_name(self.run)}

    def inject(self) -> str:
        if not os.path.isdir(self.volume):
            raise FaultRefused(f"[postgres] data_dir {self.volume} is not a directory here")
        wanted = min(self.percent + MARGIN_PERCENT, CEILING_PERCENT - 1)
        if used_percent(self.volume) >= wanted:
            raise FaultRefused(f"{self.volume} is already {used_percent(self.volume):.0f} % used")
        slot = slot_name(self.run)
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            connection.execute("SELECT pg_create_physical_replication_slot(%s, true)", (slot,))
            connection.execute("CREATE TABLE IF NOT EXISTS opsconsole_drill_wal (n int)")
            row = connection.execute(
                "SELECT pg_size_bytes(current_setting('wal_segment_size'))"
            ).fetchone()
            most = MAX_WAL_BYTES // int(row[0] if row else 16 << 20)
            segments = 0
            while used_percent(self.volume) < wanted and segments < most:
                connection.execute("INSERT INTO opsconsole_drill_wal VALUES (1)")
                connection.execute("SELECT pg_switch_wal()")
                segments += 1
        if used_percent(self.volume) < self.percent:
            raise FaultRefused(
                f"{segments} WAL segments held and {self.volume} is only "
                f"{used_percent(self.volume):.0f} % used: it is not PostgreSQL's volume, or "
                "too large a volume to fill in a drill"
            )
        return (
            f"replication slot {slot} holds {segments} WAL segments: "
            f"{self.volume} {used_percent(self.volume):.0f} % used"
        )

    def undo(self) -> str:
        return drop_slot(self.dsn, slot_name(self.run))


def drop_slot(dsn: str, slot: str) -> str:
    """Drops the drill's slot if the runbook has not, then lets a checkpoint recycle the
    WAL it held; the drill's table goes too."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        dropped = connection.execute(
            "SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots"
            " WHERE slot_name = %s",
            (slot,),
        ).fetchone()
        connection.execute("DROP TABLE IF EXISTS opsconsole_drill_wal")
        connection.execute("CHECKPOINT")
        connection.execute("SELECT pg_switch_wal()")
        connection.execute("CHECKPOINT")
    if dropped and dropped[0]:
        return f"replication slot {slot} dropped, WAL recycled"
    return f"replication slot {slot} was gone; checkpoint done"
