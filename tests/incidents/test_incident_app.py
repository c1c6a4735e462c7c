"""An incident opened, changed and noted from the dashboard, and a runbook run recorded
into it: real files, real commands, driven with Pilot."""

from __future__ import annotations

import os
from pathlib import Path

from opsconsole.config.model import Config
from opsconsole.incidents.files import FileStore
from opsconsole.runbooks.model import Library
from opsconsole.tui.app import make_app
from opsconsole.tui.screens.dialogs import NoteDialog
from opsconsole.tui.screens.incident import OpenIncidentDialog
from opsconsole.tui.screens.params import ParamsDialog
from opsconsole.tui.screens.wizard import WizardScreen
from tests.support.console import finished, outcome
from tests.support.pilot import wait_for
from tests.support.runbooks import book

CHECK = book(
    id="check",
    title="Quick check",
    params=[{"name": "who", "description": "Whom", "default": "nl-fhir"}],
    steps=[{"id": "look", "kind": "command", "title": "Look", "argv": ["echo", "looked at {who}"]}],
)


async def test_open_change_note_and_record_a_run(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    store = FileStore(tmp_path / "incidents")
    config = Config.model_validate(
        {"console": {"environment": "production"},
         "services": [{"name": "api", "health_url": "http://127.0.0.1:9/health"}]}
    )  # fmt: skip
    app = make_app(config, library=Library(runbooks=[CHECK]), incidents=store)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, OpenIncidentDialog))
        await pilot.press(*"Checkout fails", "tab", "backspace", "backspace", *"p1", "enter")
        await wait_for(pilot, lambda: app.incident_mode.session.incident is not None)
        (incident,) = store.incidents()
        assert (incident.title, incident.severity) == ("Checkout fails", "P1")
        assert "▲ P1 INVESTIGATING" in app.sub_title
        assert "Checkout fails" in app.sub_title

        await pilot.press("ctrl+p", *"Incident: status → IDENTIFIED")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "IDENTIFIED" in app.sub_title)
        assert str(store.get(incident.id).status) == "IDENTIFIED"

        await pilot.press("i")  # with an incident open: a note
        await wait_for(pilot, lambda: isinstance(app.screen, NoteDialog))
        await pilot.press(*"pool at 100/100", "enter")
        await wait_for(pilot, lambda: store.get(incident.id).events[-1].kind == "note")

        app.open_runbook(CHECK)
        await wait_for(pilot, lambda: isinstance(app.screen, ParamsDialog))
        await pilot.pause()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, WizardScreen))
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        await wait_for(pilot, finished(wizard))
        assert outcome(wizard) == "completed"

    everything = store.get(incident.id).events
    # The dashboard's breach (nothing listens on port 9) is recorded whenever it is seen.
    (breach,) = [e for e in everything if e.kind == "breach"]
    assert (breach.data["subject"], breach.data["signal"], breach.data["state"]) == (
        "api", "health", "seen"
    )  # fmt: skip
    events = [e for e in everything if e.kind != "breach"]
    assert [e.kind for e in events] == [
        "opened", "status", "note", "runbook.run_started", "runbook.step_started",
        "runbook.step_finished", "runbook.run_finished",
    ]  # fmt: skip
    assert events[5].data["output"] == ["looked at nl-fhir"]
    assert events[5].data["exit_code"] == 0
    assert events[2].data["text"] == "pool at 100/100"
    assert store.read(incident.id).ok


async def test_escape_opens_no_incident(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "incidents")
    config = Config.model_validate(
        {"services": [{"name": "api", "health_url": "http://127.0.0.1:9/health"}]}
    )
    app = make_app(config, library=Library(runbooks=[CHECK]), incidents=store)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, OpenIncidentDialog))
        await pilot.press("escape")
        await pilot.pause()
        assert app.incident_mode.session.incident is None
        assert store.ids() == []
