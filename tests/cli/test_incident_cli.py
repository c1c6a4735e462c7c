"""`opsconsole incidents ...` as a user types it, on the default state directory."""

from __future__ import annotations

import json
from pathlib import Path

from opsconsole.incidents.files import FileStore
from opsconsole.incidents.model import Actor, Kind
from tests.support.commands import run

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


LOSING = """
[[runbooks]]
id = "lose-the-log"
title = "Lose the log"
summary = "Its first step removes the incident's log: nothing after it can be recorded."
rollback = [{ id = "undo", kind = "command", title = "Undo", argv = ["touch", "undone"] }]

[[runbooks.params]]
name = "log"
description = "The incident log"

[[runbooks.steps]]
id = "lose"
kind = "command"
title = "Remove it"
argv = ["rm", "{log}"]

[[runbooks.steps]]
id = "after"
kind = "command"
title = "Must not run"
argv = ["touch", "second"]
"""


def test_run_stops_when_the_incident_log_cannot_be_written(tmp_path: Path) -> None:
    store, incident = seeded(tmp_path)
    (tmp_path / "runbooks.toml").write_text(LOSING)
    log = f"log={store.path(incident)}"
    ran = run("run", "lose-the-log", "--incident", incident, "--param", log, cwd=tmp_path)
    assert ran.returncode == 3, ran.stdout + ran.stderr  # stopped, as an abort is
    assert f"opsconsole: not recorded in incident {incident}: no incident {incident}" in ran.stderr
    assert "the run stops after this step" in ran.stderr
    assert not (tmp_path / "second").exists()
    assert (tmp_path / "undone").exists()


def test_a_drills_markers_and_proposals_read_in_the_export(tmp_path: Path) -> None:
    """What a drill writes (issue 6 injects the faults) and what the console proposes,
    as the postmortem timeline reads them."""
    store = FileStore(tmp_path / ".local" / "state" / "opsconsole" / "incidents")
    drill = store.open("Drill: nl-fhir down", "P1", ALICE, mode="drill").id
    store.append(drill, Kind.DRILL, {"text": "fault injected: nl-fhir DOWN"}, ALICE)
    store.append(
        drill,
        Kind.PROPOSAL,
        {"to": "MONITORING", "accepted": True, "check": "Verify health",
         "before": ["breach seen: nl-fhir is DOWN"], "after": ["Verify health: exit 0 in 0.1 s"]},
        ALICE,
    )  # fmt: skip
    store.append(drill, Kind.CHECK, {"check": "Verify health", "summary": "exit 22",
                                     "held": "2m"}, ALICE)  # fmt: skip
    exported = run("incidents", "export", drill, "--format", "md", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    text = exported.stdout
    assert text.startswith("# Subject: [INCIDENT] [DRILL] Drill: nl-fhir down")
    assert "· drill: fault injected: nl-fhir DOWN" in text
    assert "· accepted: MONITORING, as 'Verify health' passed\n" in text
    assert "  before: breach seen: nl-fhir is DOWN\n  after: Verify health: exit 0 in 0.1 s" in text
    assert "· verifying check 'Verify health' failed: exit 22, after holding 2m" in text


LOOK = """\
[[runbooks]]
id = "look"
title = "Look"
summary = "Looks."

[[runbooks.steps]]
id = "uptime"
kind = "command"
title = "Uptime"
argv = ["echo", "up 3 days"]
"""


def test_an_incident_opened_from_the_command_line_records_a_terminal_run(
    tmp_path: Path,
) -> None:
    """No dashboard needed: open one, run a runbook into it, read it back."""
    opened = run(
        "incidents", "open", "--severity", "p1", "--title", "Checkout  fails",
        "--impact", "Card payments", cwd=tmp_path,
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    incident, severity, status, *title = opened.stdout.split()
    assert (severity, status, " ".join(title)) == ("P1", "INVESTIGATING", "Checkout fails")

    (tmp_path / "runbooks.toml").write_text(LOOK)
    ran = run("run", "look", "--runbooks", "runbooks.toml", "--incident", incident, cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert f"recording into incident {incident}: Checkout fails" in ran.stdout

    shown = run("incidents", "show", incident, cwd=tmp_path)
    assert "opened: Checkout fails (P1, real)" in shown.stdout
    assert "look / uptime: exit 0" in shown.stdout
    assert run("incidents", "verify", incident, cwd=tmp_path).returncode == 0


def test_an_incident_needs_a_title_and_a_known_severity(tmp_path: Path) -> None:
    no_title = run("incidents", "open", "--severity", "P1", "--title", "  ", cwd=tmp_path)
    assert no_title.returncode == 2
    assert "--title: say in a line what is wrong" in no_title.stderr
    bad = run("incidents", "open", "--severity", "P9", "--title", "x", cwd=tmp_path)
    assert bad.returncode == 2
    assert "invalid choice: 'P9'" in bad.stderr
    assert run("incidents", "list", cwd=tmp_path).stdout.startswith("no incidents in")


def test_the_update_for_slack_reads_as_slack_shows_it_and_says_the_notes(tmp_path: Path) -> None:
    """Pasted into the incident channel: Slack's *bold*, bullets, no `#` or `**` shown as
    they are; a note written during a run counts as a note, <> and & are Slack's own."""
    store, incident = seeded(tmp_path)
    store.append(
        incident, "runbook.note",
        {"runbook": "service-down", "step": "look", "prompt": "operator note",
         "text": "restart fixed <nl-fhir> & hapi"},
        ALICE,
    )  # fmt: skip
    update = run("incidents", "export", incident, "--format", "slack", cwd=tmp_path)
    assert update.returncode == 0, update.stderr
    lines = update.stdout.splitlines()
    assert lines[0] == "*[INCIDENT] nl-fhir down*"
    assert lines[1].startswith("*Status:* IDENTIFIED   *Severity:* P1 (")
    assert "*Impact:* Device searches fail" in lines
    notes = lines[lines.index("*Current status:*") + 1 : lines.index("*Actions taken:*")]
    assert len(notes) == 1
    assert notes[0].endswith(
        "service-down / look: note by alice: restart fixed &lt;nl-fhir&gt; &amp; hapi"
    )
    assert "• (no notes yet)" not in lines
    assert not [line for line in lines if line.startswith("#") or "**" in line]

    markdown = run("incidents", "export", incident, "--format", "md", cwd=tmp_path).stdout
    assert "- (no notes yet)" not in markdown  # the Markdown update says the note too
