"""The embedded incident store: real files, real processes, real SIGKILLs."""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from opsconsole.incidents.files import FileStore
from opsconsole.incidents.model import Actor, Kind, Status

ROOT = Path(__file__).resolve().parent.parent.parent
ALICE = Actor(
    user="root", host="bastion-1", sudo_user="alice", ssh_client="10.0.0.7", tty="/dev/pts/3"
)


def opened(tmp_path: Path) -> tuple[FileStore, str]:
    store = FileStore(tmp_path / "state" / "incidents")
    incident = store.open("nl-fhir down", "P1", ALICE, impact="Searches fail").id
    return store, incident


def writer(directory: Path, incident: str, count: int, label: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.incident_writer",
            str(directory),
            incident,
            str(count),
            label,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_an_incident_is_a_private_file_of_chained_events(tmp_path: Path) -> None:
    store, incident = opened(tmp_path)
    store.append(incident, Kind.STATUS, {"from": "INVESTIGATING", "to": "IDENTIFIED"}, ALICE)
    store.append(incident, Kind.NOTE, {"text": "pool exhausted"}, ALICE)
    path = store.path(incident)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    lines = path.read_text().splitlines()
    assert [json.loads(line)["kind"] for line in lines] == ["opened", "status", "note"]
    assert json.loads(lines[0])["who"] == {
        "user": "root", "host": "bastion-1", "sudo_user": "alice",
        "ssh_client": "10.0.0.7", "tty": "/dev/pts/3",
    }  # fmt: skip
    found = store.get(incident[:13])  # a unique prefix is enough
    assert found.status is Status.IDENTIFIED
    assert found.commander == "alice"
    assert [e.seq for e in found.events] == [1, 2, 3]
    assert store.read(incident).ok


def edit(path: Path, change: object) -> None:
    lines = path.read_text().splitlines(keepends=True)
    change(lines)  # type: ignore[operator]
    path.write_text("".join(lines))


def retitle(lines: list[str]) -> None:
    lines[2] = lines[2].replace("pool exhausted", "all fine")


def drop(lines: list[str]) -> None:
    del lines[1]


def swap(lines: list[str]) -> None:
    lines[1], lines[2] = lines[2], lines[1]


@pytest.mark.parametrize(
    ("tamper", "named"),
    [(retitle, "line 3: its content does not match its hash"),
     (drop, "line 2: event 3 where 2 belongs"),
     (swap, "line 2: event 3 where 2 belongs")],
    ids=["edited", "deleted", "swapped"],
)  # fmt: skip
def test_verify_names_the_line_that_was_tampered_with(
    tmp_path: Path, tamper: object, named: str
) -> None:
    store, incident = opened(tmp_path)
    store.append(incident, Kind.NOTE, {"text": "restarted"}, ALICE)
    store.append(incident, Kind.NOTE, {"text": "pool exhausted"}, ALICE)
    store.append(incident, Kind.NOTE, {"text": "back up"}, ALICE)
    assert store.read(incident).ok
    edit(store.path(incident), tamper)
    result = store.read(incident)
    assert not result.ok
    assert any(problem.startswith(named) for problem in result.problems), result.problems


def test_an_edit_that_recomputes_the_hash_still_breaks_the_chain(tmp_path: Path) -> None:
    from opsconsole.incidents.chain import digest

    store, incident = opened(tmp_path)
    store.append(incident, Kind.NOTE, {"text": "ran DELETE"}, ALICE)
    store.append(incident, Kind.NOTE, {"text": "later"}, ALICE)

    def forge(lines: list[str]) -> None:
        document = json.loads(lines[1])
        document["data"]["text"] = "ran SELECT"
        document["hash"] = digest({k: v for k, v in document.items() if k != "hash"})
        lines[1] = json.dumps(document) + "\n"

    edit(store.path(incident), forge)
    assert store.read(incident).problems == [
        "line 3: does not follow line 2 (the line before it was changed, removed or moved)"
    ]


def test_a_torn_last_line_is_reported_ignored_and_set_aside(tmp_path: Path) -> None:
    store, incident = opened(tmp_path)
    store.append(incident, Kind.NOTE, {"text": "first"}, ALICE)
    # What a crash in the middle of a write leaves: a line without its end. No server
    # can produce this on demand, so the bytes are written here.
    with store.path(incident).open("a") as log:
        log.write('{"incident":"' + incident + '","seq":3,"at":"2026-')
    result = store.read(incident)
    assert result.ok
    assert [e.seq for e in result.events] == [1, 2]
    assert result.torn is not None
    assert result.torn.startswith("line 3: incomplete")

    store.append(incident, Kind.NOTE, {"text": "after the crash"}, ALICE)
    result = store.read(incident)
    assert result.ok, result.problems
    assert [e.data.get("text") for e in result.events[1:]] == ["first", "after the crash"]
    assert result.torn is not None
    assert "set aside" in result.torn
    aside = store.path(incident).with_name(store.path(incident).name + ".torn")
    assert aside.read_text().startswith('{"incident":"' + incident + '","seq":3')


def test_a_last_event_missing_only_its_newline_is_counted_once_by_reader_and_writer(
    tmp_path: Path,
) -> None:
    """`verify` and `export` counted it whole; the next append set it aside as torn and
    wrote another event with its sequence number. Now one rule holds for both."""
    store, incident = opened(tmp_path)
    store.append(incident, Kind.NOTE, {"text": "first"}, ALICE)
    path = store.path(incident)
    # A crash between the event and its newline: no server does this on demand.
    path.write_bytes(path.read_bytes().removesuffix(b"\n"))
    counted = store.read(incident)
    assert counted.ok
    assert counted.torn is None
    assert [e.seq for e in counted.events] == [1, 2]

    store.append(incident, Kind.NOTE, {"text": "after"}, ALICE)
    after = store.read(incident)
    assert after.ok, after.problems
    assert [(e.seq, e.data.get("text")) for e in after.events[1:]] == [(2, "first"), (3, "after")]
    assert after.torn is None
    assert not path.with_name(path.name + ".torn").exists()


def test_events_reported_written_survive_sigkill_at_any_moment(tmp_path: Path) -> None:
    store, incident = opened(tmp_path)
    rng = random.Random(20261123)  # noqa: S311 -- when to kill, reproducibly
    reported: list[str] = []
    for _ in range(25):
        child = writer(store.directory, incident, 100_000, f"run{len(reported)}")
        assert child.stdout is not None
        time.sleep(rng.uniform(0.05, 0.4))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate()
        # A line the kill cut short was never said in full: only whole lines count.
        reported += [line.split(" ", 1)[1] for line in out.split("\n")[:-1]]
        result = store.read(incident)
        assert result.ok, result.problems
        texts = {e.data.get("text") for e in result.events}
        missing = [text for text in reported if text not in texts]
        assert missing == []
    assert len(reported) > 100  # the kills did land in the middle of writing
    seqs = [e.seq for e in store.read(incident).events]
    assert seqs == list(range(1, len(seqs) + 1))


def test_two_processes_appending_at_once_lose_and_interleave_nothing(tmp_path: Path) -> None:
    store, incident = opened(tmp_path)
    children = [writer(store.directory, incident, 1000, label) for label in ("alice", "bob")]
    for child in children:
        child.communicate(timeout=120)
        assert child.returncode == 0
    result = store.read(incident)
    assert result.ok, result.problems[:3]
    notes = [e for e in result.events if e.kind == Kind.NOTE]
    assert len(notes) == 2000
    for label in ("alice", "bob"):
        mine = [e.data["text"] for e in notes if e.who.user == label]
        assert mine == [f"{label} {n}" for n in range(1000)]  # each in its own order


def test_a_file_the_umask_would_open_up_is_still_private(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        store, incident = opened(tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(store.path(incident).stat().st_mode) == 0o600
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700


def test_an_id_drawn_twice_is_drawn_again_and_the_first_incident_is_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two consoles opening incidents in the same minute may draw the same id (2 random
    bytes). The draw is random, so the test names the ids it returns."""
    store = FileStore(tmp_path)
    first = store.open("Checkout down", "P1", ALICE)
    drawn = iter([first.id, first.id, "20261123-0300-beef"])
    monkeypatch.setattr("opsconsole.incidents.store.new_incident_id", lambda: next(drawn))
    second = store.open("Queue backlog", "P2", ALICE)
    assert second.id == "20261123-0300-beef"
    assert [e.kind for e in store.get(first.id).events] == ["opened"]
    assert store.get(first.id).title == "Checkout down"
    assert store.read(first.id).ok
