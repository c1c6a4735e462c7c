"""The shared incident store on the real PostgreSQL of the harness: two consoles, one
incident, each seeing the other's events as they are committed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator

import psycopg
import pytest

from opsconsole.incidents.model import Actor, Kind
from opsconsole.incidents.postgres import TABLE, PostgresStore

ALICE = Actor(user="alice", host="bastion-1", ssh_client="10.0.0.7")
BOB = Actor(user="bob", host="bastion-2", ssh_client="10.0.0.9")


@pytest.fixture
def consoles(own_database: str) -> Iterator[tuple[PostgresStore, PostgresStore]]:
    first, second = PostgresStore(own_database), PostgresStore(own_database)
    yield first, second
    first.close()
    second.close()


async def next_change(changes: AsyncGenerator[str], incident: str) -> str:
    async for changed in changes:
        if changed == incident:
            return changed
    raise AssertionError("the listener ended")


async def test_each_console_sees_the_others_events_within_a_second(
    consoles: tuple[PostgresStore, PostgresStore],
) -> None:
    alice, bob = consoles
    incident = alice.open("Checkout down", "P1", ALICE).id
    seen_by_bob = bob.changes()
    seen_by_alice = alice.changes()
    listening = [
        asyncio.ensure_future(next_change(c, incident)) for c in (seen_by_bob, seen_by_alice)
    ]
    await asyncio.sleep(0.3)  # both LISTEN before anything is appended

    bob_saw, alice_saw = listening
    alice.append(incident, Kind.NOTE, {"text": "pool at 100/100"}, ALICE)
    assert await asyncio.wait_for(bob_saw, timeout=1.0) == incident
    assert bob.get(incident).events[-1].data["text"] == "pool at 100/100"
    assert await asyncio.wait_for(alice_saw, timeout=1.0) == incident  # one's own, too

    alice_sees = asyncio.ensure_future(next_change(seen_by_alice, incident))
    await asyncio.sleep(0.1)
    bob.append(incident, Kind.STATUS, {"from": "INVESTIGATING", "to": "IDENTIFIED"}, BOB)
    assert await asyncio.wait_for(alice_sees, timeout=1.0) == incident
    found = alice.get(incident)
    assert found.events[-1].seq == 3
    assert [e.who.user for e in found.events] == ["alice", "alice", "bob"]
    assert str(found.status) == "IDENTIFIED"
    assert alice.read(incident).ok
    for changes in (seen_by_alice, seen_by_bob):
        await changes.aclose()


def test_two_consoles_appending_at_once_keep_one_chain(
    consoles: tuple[PostgresStore, PostgresStore],
) -> None:
    alice, bob = consoles
    incident = alice.open("Slow queries", "P2", ALICE).id

    def append_many(store: PostgresStore, who: Actor) -> None:
        for number in range(200):
            store.append(incident, Kind.NOTE, {"text": f"{who.user} {number}"}, who)

    import threading

    threads = [
        threading.Thread(target=append_many, args=pair) for pair in ((alice, ALICE), (bob, BOB))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = bob.read(incident)
    assert result.ok, result.problems[:3]
    assert len(result.events) == 401


def test_verify_names_a_row_changed_in_the_database(
    consoles: tuple[PostgresStore, PostgresStore], own_database: str
) -> None:
    alice, _ = consoles
    incident = alice.open("Disk full", "P1", ALICE).id
    alice.append(incident, Kind.NOTE, {"text": "deleted old WAL by hand"}, ALICE)
    alice.append(incident, Kind.NOTE, {"text": "space back"}, ALICE)
    assert alice.read(incident).ok
    with psycopg.connect(own_database, autocommit=True) as connection:
        connection.execute(
            f"UPDATE {TABLE} SET line = replace(line, 'by hand', 'by the runbook') "  # noqa: S608
            "WHERE incident = %s AND seq = 2",
            [incident],
        )
    assert alice.read(incident).problems == ["line 2: its content does not match its hash (edited)"]
    with psycopg.connect(own_database, autocommit=True) as connection:
        connection.execute(f"DELETE FROM {TABLE} WHERE incident = %s AND seq = 2", [incident])  # noqa: S608
    assert "line 2: event 3 where 2 belongs" in alice.read(incident).problems[0]
