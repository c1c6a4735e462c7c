"""What the app does with an open incident beyond recording it: escalation reminders,
breaches seen and cleared, MONITORING and RESOLVED proposed on a verifying check,
other consoles' events, the incidents screen, and a store that fails mid-run. Driven with
Pilot against real files, real commands, the demo fleet and the harness's PostgreSQL."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from opsconsole.config.model import Config
from opsconsole.demo.faults import Fault
from opsconsole.demo.fleet import DemoFleet
from opsconsole.incidents.export import markdown
from opsconsole.incidents.files import FileStore
from opsconsole.incidents.model import Actor, Incident, Kind, Status
from opsconsole.incidents.postgres import PostgresStore
from opsconsole.incidents.store import IncidentStore
from opsconsole.runbooks.model import Library, Runbook
from opsconsole.tui.app import OpsConsoleApp, make_app
from opsconsole.tui.screens.dialogs import ConfirmDialog, DecisionDialog, NoteDialog
from opsconsole.tui.screens.incident import ProposalDialog
from opsconsole.tui.screens.incidents import IncidentsScreen
from opsconsole.tui.screens.params import ParamsDialog
from opsconsole.tui.screens.wizard import WizardScreen
from tests.support.configs import with_refresh
from tests.support.console import finished, open_incident, outcome, run_book, settled, shown, status
from tests.support.pilot import screen_lines, toasts, wait_for
from tests.support.runbooks import book

BOB = Actor(user="bob", host="bastion-2", ssh_client="10.0.0.9")
DOWN_SERVICE = {"name": "api", "health_url": "http://127.0.0.1:9/health"}  # nothing listens


def config_for(**incidents: Any) -> Config:
    return Config.model_validate(
        {"console": {"environment": "production", "refresh_seconds": 0.3},
         "services": [DOWN_SERVICE], "incidents": incidents}
    )  # fmt: skip


def kinds(store: IncidentStore, incident: str) -> list[str]:
    return [e.kind for e in store.get(incident).events]


# -- escalation ----------------------------------------------------------------------------


async def test_escalation_reminders_follow_the_severity_and_are_recorded_once(
    tmp_path: Path,
) -> None:
    store = FileStore(tmp_path / "incidents")
    app = make_app(config_for(), library=Library(runbooks=[book(steps=STEPS)]), incidents=store)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        incident = await open_incident(pilot, app, severity="P1")
        assert Kind.ESCALATION not in kinds(store, incident.id)  # P1: nothing at +0
        assert "INVESTIGATING <1m ·" in app.sub_title  # the header's age moves every 30 s

        # A moved clock (no test waits 15 minutes): the app reads the time through it.
        app.incident_mode.session.clock = lambda: datetime.now(UTC) + timedelta(minutes=16)
        app.incident_mode.tick()
        assert "INVESTIGATING 16m ·" in app.sub_title
        await wait_for(pilot, lambda: any("Level 2" in t for t in toasts(app)))
        reminders = [e for e in store.get(incident.id).events if e.kind == Kind.ESCALATION]
        assert [e.data["key"] for e in reminders] == ["P1+15m"]
        assert "escalate to the Level 2 senior engineer" in reminders[0].data["text"]

        app.incident_mode.tick()  # shown once: not again on the next tick
        await settled(pilot, app)
        assert kinds(store, incident.id).count(Kind.ESCALATION) == 1

        app.incident_mode.session.clock = lambda: datetime.now(UTC) + timedelta(minutes=31)
        app.incident_mode.tick()
        await settled(pilot, app)
        keys = [e.data["key"] for e in store.get(incident.id).events if e.kind == "escalation"]
        assert keys == ["P1+15m", "update-30m"]

        # Raised to P0: its immediate page is due at once.
        await pilot.press("ctrl+p", *"Incident: severity → P0")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("legal" in t for t in toasts(app)))
        keys = [e.data["key"] for e in store.get(incident.id).events if e.kind == "escalation"]
        assert keys[2:] == ["P0+0m"]
    assert store.read(incident.id).ok


# -- breaches ------------------------------------------------------------------------------


async def test_breaches_seen_while_the_incident_is_open_are_recorded_and_so_is_their_end(
    tmp_path: Path,
) -> None:
    with DemoFleet(traffic_rate=2) as fleet:
        await breaches_recorded(fleet, tmp_path)


async def breaches_recorded(fleet: DemoFleet, tmp_path: Path) -> None:
    store = FileStore(tmp_path / "incidents")
    app = make_app(with_refresh(fleet.config(), 0.3), incidents=store)
    async with app.run_test(size=(120, 40)) as pilot:
        incident = await open_incident(pilot, app, title="Watching the fleet")
        fleet.set_fault("nl-fhir", Fault.DOWN)

        def breach(state: str) -> bool:
            return any(
                e.kind == Kind.BREACH
                and e.data["state"] == state
                and (e.data["subject"], e.data["signal"]) == ("nl-fhir", "health")
                for e in store.get(incident.id).events
            )

        await wait_for(pilot, lambda: breach("seen"))
        fleet.services["nl-fhir"].clear_fault()
        await wait_for(pilot, lambda: breach("cleared"))
    events = store.get(incident.id).events
    seen = next(e for e in events if e.kind == Kind.BREACH and e.data["subject"] == "nl-fhir")
    assert seen.data["text"] == "nl-fhir is DOWN"
    assert store.read(incident.id).ok


# -- proposals -----------------------------------------------------------------------------

STEPS = [{"id": "look", "kind": "command", "title": "Look", "argv": ["true"]}]


def flag_book(flag: Path) -> Runbook:
    """A fault anyone can make and fix: a file that must be there."""
    return book(
        id="put-flag-back",
        title="Put the flag back",
        params=[{"name": "flag", "description": "The flag file", "default": str(flag)}],
        steps=[
            {"id": "fix", "kind": "command", "title": "Put it back", "argv": ["touch", "{flag}"]},
            {"id": "verify", "kind": "command", "title": "The flag is there",
             "argv": ["test", "-e", "{flag}"], "verifies": True},
        ],
    )  # fmt: skip


async def test_a_verifying_check_proposes_monitoring_then_resolved_once_it_has_held(
    tmp_path: Path,
) -> None:
    flag = tmp_path / "flag"
    store = FileStore(tmp_path / "incidents")
    runbook = flag_book(flag)
    config = config_for(hold_minutes=0.02, recheck_seconds=0.2)  # holds after 1.2 s
    app = make_app(config, library=Library(runbooks=[runbook]), incidents=store)
    async with app.run_test(size=(80, 24)) as pilot:
        incident = await open_incident(pilot, app)
        await wait_for(pilot, lambda: Kind.BREACH in kinds(store, incident.id))  # api is DOWN

        wizard = await run_book(pilot, app, runbook)
        await wait_for(pilot, finished(wizard))
        assert outcome(wizard) == "completed"
        await wait_for(pilot, lambda: isinstance(app.screen, ProposalDialog))
        assert isinstance(app.screen, ProposalDialog)
        assert "MONITORING?" in app.screen.proposal

        flag.unlink()  # the fix does not hold: the first re-run must say so
        await pilot.press("y")
        await wait_for(pilot, lambda: store.get(incident.id).status is Status.MONITORING)
        proposal = next(e for e in store.get(incident.id).events if e.kind == Kind.PROPOSAL)
        assert proposal.data["accepted"] is True
        assert proposal.data["before"] == ["breach seen: api is DOWN"]
        assert re.fullmatch(r"The flag is there: exit 0 in \d+\.\d s", proposal.data["after"][0])
        assert proposal.data["after"][1] == "dashboard: api is DOWN"
        monitoring = next(e for e in store.get(incident.id).events if e.kind == Kind.STATUS)
        assert monitoring.data["reason"] == "verifying check 'The flag is there' passed"

        await wait_for(pilot, lambda: Kind.CHECK in kinds(store, incident.id))
        broken = next(e for e in store.get(incident.id).events if e.kind == Kind.CHECK)
        assert broken.data["check"] == "The flag is there"
        assert broken.data["summary"] == "exit code 1, expected 0"
        assert not isinstance(app.screen, ProposalDialog)  # no RESOLVED while it fails

        flag.touch()
        await wait_for(pilot, lambda: isinstance(app.screen, ProposalDialog))
        assert isinstance(app.screen, ProposalDialog)
        assert app.screen.proposal.startswith("'The flag is there' has held for 1s")
        await pilot.press("y")
        await wait_for(pilot, lambda: store.get(incident.id).status is Status.RESOLVED)
        assert app.incident_mode.session.proposals.hold is None
        assert "▲" not in app.sub_title  # the header no longer shows an open incident

    events = store.get(incident.id).events
    resolved = [e for e in events if e.kind == Kind.PROPOSAL][-1]
    assert resolved.data["to"] == "RESOLVED"
    assert resolved.data["accepted"] is True
    (before,) = resolved.data["before"]
    assert re.fullmatch(r"The flag is there: exit 0 in \d+\.\d s \(when MONITORING began\)", before)
    assert resolved.data["after"][0].startswith("The flag is there: passed every time for 1s")
    assert "1 failed before that" in resolved.data["after"][0]
    assert store.read(incident.id).ok


async def test_a_declined_proposal_is_recorded_and_changes_nothing(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "incidents")
    runbook = flag_book(tmp_path / "flag")
    app = make_app(config_for(), library=Library(runbooks=[runbook]), incidents=store)
    async with app.run_test(size=(80, 24)) as pilot:
        incident = await open_incident(pilot, app)
        wizard = await run_book(pilot, app, runbook)
        await wait_for(pilot, finished(wizard))
        await wait_for(pilot, lambda: isinstance(app.screen, ProposalDialog))
        await pilot.press("n")
        await wait_for(pilot, lambda: Kind.PROPOSAL in kinds(store, incident.id))
        assert app.incident_mode.session.proposals.hold is None
    found = store.get(incident.id)
    proposal = next(e for e in found.events if e.kind == Kind.PROPOSAL)
    assert (proposal.data["to"], proposal.data["accepted"]) == ("MONITORING", False)
    assert found.status is Status.INVESTIGATING


async def test_no_proposal_without_an_incident_or_a_verifying_step(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "incidents")
    runbook = flag_book(tmp_path / "flag")
    app = make_app(config_for(), library=Library(runbooks=[runbook]), incidents=store)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = await run_book(pilot, app, runbook)
        await wait_for(pilot, finished(wizard))
        await pilot.pause(0.3)
        assert app.screen is wizard
    assert store.ids() == []


# -- what the operator answered ---------------------------------------------------------------


async def test_decisions_and_confirmations_are_recorded_with_who_answered(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    store = FileStore(tmp_path / "incidents")
    runbook = book(
        id="restart-it",
        params=[{"name": "target", "description": "What to restart", "default": "api-staging"}],
        steps=[
            {"id": "ask", "kind": "decision", "title": "Restart?", "question": "Restart it?",
             "answers": [{"label": "yes, restart", "goto": "restart"},
                         {"label": "no", "goto": "done"}]},
            {"id": "restart", "kind": "command", "title": "Restart", "argv": ["touch", "{target}"],
             "destructive": True, "description": "Touches the target."},
            {"id": "done", "kind": "note", "title": "Done", "prompt": "What happened?"},
        ],
    )  # fmt: skip
    app = make_app(config_for(), library=Library(runbooks=[runbook]), incidents=store)
    async with app.run_test(size=(80, 24)) as pilot:
        incident = await open_incident(pilot, app)
        wizard = await run_book(pilot, app, runbook)
        await wait_for(pilot, lambda: isinstance(app.screen, DecisionDialog))
        await pilot.press("1")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press(*"api-staging", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, NoteDialog))
        await pilot.press(*"restarted", "enter")
        await wait_for(pilot, finished(wizard))
    recorded = {e.kind: e for e in store.get(incident.id).events}
    decided = recorded["runbook.decided"]
    assert (decided.data["question"], decided.data["answer"]) == ("Restart it?", "yes, restart")
    confirmed = recorded["runbook.confirmed"]
    assert (confirmed.data["command"], confirmed.data["target"]) == (
        "touch api-staging", "api-staging"
    )  # fmt: skip
    assert confirmed.who == app.incident_mode.session.who
    assert recorded["runbook.note"].data["text"] == "restarted"
    assert (tmp_path / "api-staging").exists()


async def test_a_proposed_answer_overruled_in_the_wizard_keeps_its_reason_in_the_export(
    tmp_path: Path,
) -> None:
    """The dialog marks the answer the evidence points to, with that evidence, under the
    cursor; another answer asks why, Escape there goes back to the question, and the
    reason goes into the incident log and the postmortem timeline."""
    os.chdir(tmp_path)
    store = FileStore(tmp_path / "incidents")
    runbook = book(
        id="why-down",
        params=[{"name": "service", "description": "The service", "default": "api"}],
        steps=[
            {"id": "inspect", "kind": "command", "title": "Inspect",
             "argv": ["echo", "OOMKilled=true"],
             "capture": [{"name": "oom", "pattern": "OOMKilled=(true|false)"}]},
            {"id": "cause", "kind": "decision", "title": "What stopped it?",
             "question": "What stopped it?",
             "answers": [
                 {"label": "It crashed", "goto": "done",
                  "when": [{"value": "{oom}", "equals": "false"}]},
                 {"label": "Out of memory", "goto": "done",
                  "when": [{"value": "{oom}", "equals": "true"}]},
             ]},
            {"id": "done", "kind": "command", "title": "Done", "argv": ["echo", "{service}"]},
        ],
    )  # fmt: skip
    app = make_app(config_for(), library=Library(runbooks=[runbook]), incidents=store)
    async with app.run_test(size=(80, 24)) as pilot:
        incident = await open_incident(pilot, app)
        wizard = await run_book(pilot, app, runbook)
        await wait_for(pilot, lambda: isinstance(app.screen, DecisionDialog))
        await pilot.pause(0.2)
        seen = " ".join(" ".join(line.split()) for line in screen_lines(app))
        assert "Proposed from oom = 'true' (equals true)" in seen
        assert "2. Out of memory ◀ proposed" in seen
        assert "Enter takes the proposed" in seen
        await pilot.press("1")
        await wait_for(pilot, lambda: isinstance(app.screen, NoteDialog))
        await pilot.press("escape")  # back to the question, not an abort
        await wait_for(pilot, lambda: isinstance(app.screen, DecisionDialog))
        await pilot.press("1")
        await wait_for(pilot, lambda: isinstance(app.screen, NoteDialog))
        await pilot.press(*"dmesg shows a segfault", "enter")
        await wait_for(pilot, finished(wizard))
        assert outcome(wizard) == "completed"
    (decided,) = [e for e in store.get(incident.id).events if e.kind == "runbook.decided"]
    assert decided.data["answer"] == "It crashed"
    assert decided.data["proposed"] == "Out of memory"
    assert decided.data["evidence"] == ["oom = 'true' (equals true)"]
    assert decided.data["reason"] == "dmesg shows a segfault"
    timeline = markdown(store.get(incident.id))
    assert (
        "What stopped it? → It crashed (over the proposed 'Out of memory', from "
        "oom = 'true' (equals true): dmesg shows a segfault)"
    ) in timeline


# -- a store that fails mid-run --------------------------------------------------------------


def losing_book(marker: Path) -> Runbook:
    return book(
        id="lose-the-log",
        title="Lose the log",
        params=[{"name": "log", "description": "The incident log"},
                {"name": "marker", "description": "Proof of a step", "default": str(marker)}],
        steps=[
            {"id": "lose", "kind": "command", "title": "Remove it", "argv": ["rm", "{log}"]},
            {"id": "after", "kind": "command", "title": "Must not run",
             "argv": ["touch", "{marker}"]},
        ],
        rollback=[{"id": "undo", "kind": "command", "title": "Undo",
                   "argv": ["echo", "rolled back"]}],
    )  # fmt: skip


async def test_a_run_whose_record_cannot_be_written_stops_and_rolls_back(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "incidents")
    marker = tmp_path / "marker"
    runbook = losing_book(marker)
    app = make_app(config_for(), library=Library(runbooks=[runbook]), incidents=store)
    async with app.run_test(size=(80, 24)) as pilot:
        incident = await open_incident(pilot, app)
        app.open_runbook(runbook)
        await wait_for(pilot, lambda: isinstance(app.screen, ParamsDialog))
        await pilot.pause()
        app.screen.query_one("#param-log", Input).value = str(store.path(incident.id))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, WizardScreen))
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        await wait_for(pilot, finished(wizard))
        assert outcome(wizard) == "aborted"
        assert wizard.result is not None
        assert wizard.result.reason.startswith(f"not recorded in incident {incident.id}")
        assert "rolled back" in shown(wizard)
        assert status(wizard).startswith(f"not recorded in incident {incident.id}")
        assert wizard.states["after"] == "pending"
    assert not marker.exists()


# -- other consoles --------------------------------------------------------------------------


async def follow_another_console(store: IncidentStore, other: IncidentStore) -> None:
    app = make_app(config_for(), library=Library(runbooks=[book(steps=STEPS)]), incidents=store)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        elsewhere = other.open("Database down", "P1", BOB)
        await wait_for(pilot, lambda: any("bob opened incident" in t for t in toasts(app)))

        await pilot.press("ctrl+p", *f"Incident: join {elsewhere.id}")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.incident_mode.session.incident is not None)
        assert app.incident_mode.session.incident is not None
        assert app.incident_mode.session.incident.id == elsewhere.id
        assert "▲ P1 INVESTIGATING" in app.sub_title

        other.append(elsewhere.id, Kind.STATUS, {"from": "INVESTIGATING", "to": "IDENTIFIED"}, BOB)
        other.append(elsewhere.id, Kind.NOTE, {"text": "replica promoted"}, BOB)
        await wait_for(pilot, lambda: any("bob: note: replica promoted" in t for t in toasts(app)))
        assert "IDENTIFIED" in app.sub_title

        await pilot.press("i")  # a note from here goes into the same incident
        await wait_for(pilot, lambda: bool(app.screen.query("#note-text")))
        await pilot.press(*"app reconnected", "enter")
        await wait_for(pilot, lambda: other.get(elsewhere.id).events[-1].kind == Kind.NOTE)
    events = other.get(elsewhere.id).events
    assert [(e.who.user, e.kind) for e in events][-2:] == [
        ("bob", "note"),
        (app.incident_mode.session.who.user, "note"),
    ]
    assert other.read(elsewhere.id).ok


async def test_another_consoles_events_show_live_from_the_file_store(tmp_path: Path) -> None:
    await follow_another_console(
        FileStore(tmp_path / "incidents"), FileStore(tmp_path / "incidents")
    )


async def test_another_consoles_events_show_live_from_the_shared_store(own_database: str) -> None:
    mine, theirs = PostgresStore(own_database), PostgresStore(own_database)
    try:
        await follow_another_console(mine, theirs)
    finally:
        mine.close()
        theirs.close()


# -- the incidents screen ----------------------------------------------------------------------


def two_incidents(store: IncidentStore) -> tuple[Incident, Incident]:
    """An older one, and the one being worked, with a note."""
    older = store.open("Certificate expired", "P3", BOB)
    worked = store.open("Queue backlog", "P1", BOB)
    store.append(worked.id, Kind.NOTE, {"text": "audit consumer stuck"}, BOB)
    return older, worked


async def incidents_screen(
    pilot: Pilot[None], app: OpsConsoleApp
) -> tuple[DataTable[str], DataTable[str]]:
    """I pressed: the listing and the timeline."""
    await pilot.press("I")
    await wait_for(pilot, lambda: isinstance(app.screen, IncidentsScreen))
    await pilot.pause()
    return (
        app.screen.query_one("#incidents-list", DataTable),
        app.screen.query_one("#incident-timeline", DataTable),
    )


async def test_the_incidents_screen_lists_them_shows_a_timeline_and_joins(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "incidents")
    old, current = two_incidents(store)
    store.append(old.id, Kind.STATUS, {"from": "INVESTIGATING", "to": "RESOLVED"}, BOB)
    app = make_app(config_for(), library=Library(runbooks=[book(steps=STEPS)]), incidents=store)
    async with app.run_test(size=(80, 24)) as pilot:
        listing, timeline = await incidents_screen(pilot, app)
        rows = [listing.get_row_at(n) for n in range(listing.row_count)]
        assert [(r[0], r[1], r[2]) for r in rows] == [
            (current.id, "P1", "INVESTIGATING"),
            (old.id, "P3", "RESOLVED"),
        ]
        whats = [timeline.get_row_at(n)[2] for n in range(timeline.row_count)]
        assert whats == ["opened: Queue backlog (P1, real)", "note: audit consumer stuck"]

        await pilot.press("down")
        await pilot.pause()
        whats = [timeline.get_row_at(n)[2] for n in range(timeline.row_count)]
        assert whats[-1] == "status INVESTIGATING → RESOLVED"
        await pilot.press("j")  # a resolved incident cannot be joined
        await pilot.pause()
        assert app.incident_mode.session.incident is None

        await pilot.press("up", "j")
        await wait_for(pilot, lambda: app.incident_mode.session.incident is not None)
        assert app.incident_mode.session.incident is not None
        assert app.incident_mode.session.incident.id == current.id
        assert listing.get_row_at(0)[0] == f"▶ {current.id}"
        await pilot.press("escape")
        assert "▲ P1 INVESTIGATING" in app.sub_title


async def test_the_incidents_screen_shows_what_another_console_records_as_it_happens(
    tmp_path: Path,
) -> None:
    """No `r` needed; the operator's place holds: the incident under the cursor, and the
    event they went back to, while the newest is followed only by a cursor left on it."""
    store, other = FileStore(tmp_path / "incidents"), FileStore(tmp_path / "incidents")
    older, worked = two_incidents(other)
    app = make_app(config_for(), library=Library(runbooks=[book(steps=STEPS)]), incidents=store)
    async with app.run_test(size=(80, 24)) as pilot:
        listing, timeline = await incidents_screen(pilot, app)

        def whats() -> list[str]:
            return [str(timeline.get_row_at(n)[2]) for n in range(timeline.row_count)]

        assert whats()[-1] == "note: audit consumer stuck"
        other.append(worked.id, Kind.NOTE, {"text": "consumer restarted"}, BOB)
        await wait_for(pilot, lambda: whats()[-1] == "note: consumer restarted")
        assert timeline.cursor_row == 2  # it was on the newest: it follows

        await pilot.press("tab", "up", "up")  # back to "opened: ..." in the timeline
        assert timeline.cursor_row == 0
        other.append(worked.id, Kind.STATUS, {"from": "INVESTIGATING", "to": "IDENTIFIED"}, BOB)
        await wait_for(pilot, lambda: whats()[-1] == "status INVESTIGATING → IDENTIFIED")
        assert timeline.cursor_row == 0
        assert [str(c) for c in listing.get_row(worked.id)[:3]] == [worked.id, "P1", "IDENTIFIED"]
        assert str(listing.get_row(older.id)[2]) == "INVESTIGATING"
