"""Keys an engineer can trust at 3 a.m.: `?` lists every key of the screen, the footer
keeps its keys at 80 columns, and what cannot be undone asks first (quitting with an
incident open, RESOLVED)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Footer, Input

from opsconsole.config.model import Config
from opsconsole.incidents.files import FileStore
from opsconsole.incidents.model import Status
from opsconsole.runbooks.model import Library
from opsconsole.tui.app import make_app
from opsconsole.tui.screens.dialogs import ConfirmDialog
from opsconsole.tui.screens.help import HelpScreen
from opsconsole.tui.screens.incident import OpenIncidentDialog, ProposalDialog
from opsconsole.tui.screens.params import ParamsDialog
from opsconsole.tui.screens.wizard import WizardScreen
from opsconsole.tui.widgets.log_tail import LogTail
from tests.support.console import finished, open_incident, run_book, settled, shown
from tests.support.pilot import palette, screen_lines, wait_for
from tests.support.runbooks import book

CONFIG = Config.model_validate(
    {"console": {"environment": "production", "refresh_seconds": 0.3},
     "services": [{"name": "api", "health_url": "http://127.0.0.1:9/health"}]}
)  # fmt: skip
DOWN = Library(
    runbooks=[
        book(
            suggest_when=[{"signal": "health", "subject_param": "service"}],
            params=[{"name": "service", "description": "Which", "default": "x"}],
            steps=[{"id": "look", "kind": "command", "title": "Look", "argv": ["true"]}],
        )
    ]
)


async def test_help_lists_the_screens_keys_not_only_the_footers(tmp_path: Path) -> None:
    app = make_app(CONFIG, library=DOWN, incidents=FileStore(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert isinstance(app.screen, HelpScreen)
        keys = dict(app.screen.keys)
        assert keys["⏎"] == "Details"  # Enter on a row: no room for it on the footer
        assert keys["esc"] == "Clear filter"
        assert keys["^p"].startswith("palette")
        assert "Cursor up" not in keys.values()  # Textual's own, known to everyone


async def test_the_footer_keeps_its_keys_at_80_columns(tmp_path: Path) -> None:
    app = make_app(CONFIG, library=DOWN, incidents=FileStore(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "R Runbook" in screen_lines(app)[-1], seconds=15)
        footer = screen_lines(app)[-1]
        assert "I Incidents" in footer  # not cut to "I Incident", nor dropped for R
        assert "q Quit" in footer
        await pilot.resize_terminal(120, 40)
        await pilot.pause(0.3)
        assert app.screen.query_one(Footer).show_command_palette  # room for it there


async def test_the_wizards_footer_keeps_its_keys_at_80_columns(tmp_path: Path) -> None:
    """The output pane's title names f and p: the footer keeps the screen's own keys
    (it cut `i Incident` to `i Inci` and dropped `I Incidents`)."""
    app = make_app(CONFIG, library=DOWN, incidents=FileStore(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = await run_book(pilot, app, DOWN.runbooks[0])
        await wait_for(pilot, finished(wizard))
        await pilot.pause(0.2)
        footer = screen_lines(app)[-1]
        for key in ("g Run again", "q Quit", "? Help", "i Incident", "I Incidents"):
            assert key in footer
        assert "f filter · p pause" in " ".join(screen_lines(app))
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert isinstance(app.screen, HelpScreen)
        keys = dict(app.screen.keys)
        assert (keys["f"], keys["p"]) == ("Filter", "Pause/resume")


async def test_quitting_with_an_incident_open_asks_first(tmp_path: Path) -> None:
    app = make_app(CONFIG, library=DOWN, incidents=FileStore(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        incident = await open_incident(pilot, app)
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, ProposalDialog))
        assert isinstance(app.screen, ProposalDialog)
        assert f"Incident {incident.id} stays INVESTIGATING" in " ".join(app.screen.evidence)
        await pilot.press("n")
        await pilot.pause(0.2)
        assert app.is_running
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, ProposalDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.is_running)


async def test_resolved_asks_first(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    app = make_app(CONFIG, library=DOWN, incidents=store)
    async with app.run_test(size=(80, 24)) as pilot:
        incident = await open_incident(pilot, app)
        assert "Incident: status → RESOLVED" in await palette(pilot, app, "RESOLVED")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ProposalDialog))
        await pilot.press("n")  # a stray Enter in the palette resolves nothing
        await settled(pilot, app)
        assert store.get(incident.id).status is Status.INVESTIGATING
        await palette(pilot, app, "RESOLVED")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ProposalDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: store.get(incident.id).status is Status.RESOLVED)


LONG = Library(
    runbooks=[
        book(
            id="long",
            steps=[
                {"id": "wait", "kind": "command", "title": "Wait",
                 "argv": ["sh", "-c", "echo waiting; sleep 1.5; echo waited"]},
                {"id": "change", "kind": "command", "title": "Change", "argv": ["true"],
                 "description": "Changes it.", "destructive": True},
            ],
        )
    ]
)  # fmt: skip


async def test_a_run_goes_on_behind_the_dashboard_and_comes_back_with_w(tmp_path: Path) -> None:
    app = make_app(CONFIG, library=LONG, incidents=FileStore(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_runbook(LONG.runbooks[0])
        await wait_for(pilot, lambda: isinstance(app.screen, WizardScreen))
        screen = app.screen
        assert isinstance(screen, WizardScreen)
        wizard: WizardScreen = screen
        await wait_for(pilot, lambda: bool(wizard.query(LogTail)) and "waiting" in shown(wizard))
        await pilot.press("escape")  # the dashboard, the run going on
        await wait_for(pilot, lambda: app.screen is app.dashboard)
        assert wizard.running
        assert app.sub_title.startswith("▶ long running (w) · production @ ")
        # Its destructive step needs the engineer: the wizard comes back to ask.
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), seconds=10)
        assert wizard in app.screen_stack
        assert "waited" in shown(wizard)
        await pilot.press("escape")  # refused: the run ends
        await wait_for(pilot, finished(wizard))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.dashboard)
        await pilot.press("w")  # the last run, ended, to read again
        await wait_for(pilot, lambda: app.screen is wizard)


async def test_every_dialogs_fields_are_one_line_focused_or_not(tmp_path: Path) -> None:
    """Five fields fit at 80x24: the dialogs style their own fields (a field that grew
    Input's tall border when focused hid the value it was filled with)."""
    app = make_app(CONFIG, library=DOWN, incidents=FileStore(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, OpenIncidentDialog))
        await pilot.pause()
        fields = list(app.screen.query(".param-value"))
        assert len(fields) == 3
        assert fields[0].has_focus
        assert [field.size.height for field in fields] == [1, 1, 1]
        await pilot.press("escape")
        app.open_runbook(DOWN.runbooks[0], {"service": "api"})
        await wait_for(pilot, lambda: isinstance(app.screen, ParamsDialog))
        await pilot.pause()
        field = app.screen.query_one("#param-service", Input)
        assert field.has_focus
        assert field.size.height == 1
        assert "api" in "\n".join(screen_lines(app))  # the value it was filled with, shown
