"""`opsconsole incidents ...` as a user types it, on the default state directory."""

from __future__ import annotations

import json
from pathlib import Path

from opsconsole.incidents.files import FileStore
from opsconsole.incidents.model import Actor, Kind
from tests.test_cli import run

ALICE = Actor(user="alice", host="bastion-1")


def seeded(home: Path) -> tuple[FileStore, str]:
    # Where a console run with HOME=home and no XDG_STATE_HOME keeps its incidents.
    store = FileStore(home / ".local" / "state" / "opsconsole" / "incidents")
    incident = store.open("nl-fhir down", "P1", ALICE, impact="Device searches fail").id
    store.append(incident, Kind.STATUS, {"from": "INVESTIGATING", "to": "IDENTIFIED"}, ALICE)
    store.append(
        incident,
        "runbook.step_finished",
        {"runbook": "service-down", "step": "restart-hung", "command": "docker restart nl-fhir",
         "exit_code": 0, "duration": 4.2, "output": ["nl-fhir"], "artifact": "/tmp/x.log"},
        ALICE,
    )  # fmt: skip
    return store, incident


def test_list_show_export_and_verify(tmp_path: Path) -> None:
    store, incident = seeded(tmp_path)
    listed = run("incidents", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split()[:3] == [incident, "P1", "IDENTIFIED"]

    shown = run("incidents", "show", incident[:13], cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "status INVESTIGATING → IDENTIFIED" in shown.stdout
    assert "service-down / restart-hung: exit 0 in 4.2 s" in shown.stdout

    update = run("incidents", "export", incident, "--format", "md", cwd=tmp_path).stdout
    for heading in (
        "Subject: [INCIDENT] nl-fhir down",
        "**Status:** IDENTIFIED",
        "**Severity:** P1",
        "**Start time:**",
        "**Impact:** Device searches fail",
        "## Current status",
        "## Actions taken",
        "## Next steps",
        "## Timeline",
    ):
        assert heading in update, heading  # fmt: skip
    assert "alice: service-down / restart-hung: exit 0 in 4.2 s" in update
    document = json.loads(
        run("incidents", "export", incident, "--format", "json", cwd=tmp_path).stdout
    )
    assert [e["kind"] for e in document["events"]] == ["opened", "status", "runbook.step_finished"]
    assert document["verified"] is True

    verified = run("incidents", "verify", incident, cwd=tmp_path)
    assert (verified.returncode, verified.stdout.strip()) == (
        0,
        f"ok: {incident}: 3 events, the chain holds",
    )
    path = store.path(incident)
    path.write_text(path.read_text().replace('exit_code":0', 'exit_code":1'))
    tampered = run("incidents", "verify", incident, cwd=tmp_path)
    assert tampered.returncode == 1
    assert "✖ line 3: its content does not match its hash (edited)" in tampered.stdout


def test_an_unknown_or_ambiguous_id_exits_2(tmp_path: Path) -> None:
    seeded(tmp_path)
    seeded(tmp_path)
    unknown = run("incidents", "show", "1999", cwd=tmp_path)
    assert (unknown.returncode, unknown.stderr.strip()) == (2, "opsconsole: no incident 1999")
    ambiguous = run("incidents", "show", "20", cwd=tmp_path)
    assert ambiguous.returncode == 2
    assert "could be any of" in ambiguous.stderr


RUNBOOK = """
[[runbooks]]
id = "db-check"
title = "Database check"
summary = "Connects with a DSN that holds a password."

[[runbooks.params]]
name = "dsn"
description = "Where"
default = "postgresql://app:Sup3rS3cretPw@db.internal:5432/app"

[[runbooks.steps]]
id = "connect"
kind = "command"
title = "Connect"
argv = ["sh", "-c", "echo connecting to $0; echo password=Sup3rS3cretPw >&2; exit 3", "{dsn}"]
on_failure = "continue"

[[runbooks.steps]]
id = "after"
kind = "command"
title = "After"
argv = ["echo", "done"]
"""


def test_run_records_every_step_into_the_incident_and_no_secret(tmp_path: Path) -> None:
    store, incident = seeded(tmp_path)
    (tmp_path / "runbooks.toml").write_text(RUNBOOK)
    ran = run("run", "db-check", "--incident", incident[:13], cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert f"recording into incident {incident}" in ran.stdout
    raw = store.path(incident).read_text()
    assert "Sup3rS3cretPw" not in raw
    events = store.get(incident).events[3:]
    kinds = [e.kind.removeprefix("runbook.") for e in events]
    assert kinds == ["run_started", "step_started", "step_finished", "step_started",
                     "step_finished", "run_finished"]  # fmt: skip
    connect = events[2].data
    assert connect["exit_code"] == 3
    assert connect["command"].startswith("sh -c")
    assert "postgresql://app:***@db.internal:5432/app" in connect["command"]
    assert connect["output"] == ["connecting to postgresql://app:***@db.internal:5432/app",
                                 "! password=***"]  # fmt: skip
    assert Path(connect["artifact"]).is_file()
    assert "Sup3rS3cretPw" not in Path(connect["artifact"]).read_text()
    assert events[-1].data["outcome"] == "completed"
    assert store.read(incident).ok


def test_run_into_an_unknown_incident_runs_nothing(tmp_path: Path) -> None:
    (tmp_path / "runbooks.toml").write_text(RUNBOOK)
    ran = run("run", "db-check", "--incident", "1999", cwd=tmp_path)
    assert ran.returncode == 2
    assert ran.stderr.strip() == "opsconsole: no incident 1999"
    assert "connecting" not in ran.stdout


def test_an_unreachable_shared_store_is_one_line_with_its_password_masked(
    tmp_path: Path,
) -> None:
    (tmp_path / "opsconsole.toml").write_text(
        '[[services]]\nname = "api"\nhealth_url = "http://127.0.0.1:9/health"\n'
        '[incidents]\ndsn = "postgresql://ops:Hunter2Secret@127.0.0.1:9/incidents"\n'
    )
    listed = run("incidents", "list", cwd=tmp_path)
    assert listed.returncode == 2
    assert listed.stderr.startswith(
        "opsconsole: the shared incident store postgresql://ops:***@127.0.0.1:9/incidents:"
    )
    assert "Hunter2Secret" not in listed.stderr
    assert "Traceback" not in listed.stderr
