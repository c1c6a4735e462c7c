"""The runbook wizard, driven with Pilot: real commands run by the real engine; the keys
pressed are what the operator would press."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

from textual.app import App
from textual.screen import Screen
from textual.widgets import Input, OptionList, Static

from opsconsole.config.model import Config
from opsconsole.engine.events import Decided, Event, Note, Refused
from opsconsole.incidents.files import FileStore
from opsconsole.runbooks.model import Library, Runbook
from opsconsole.tui.app import OpsConsoleApp, make_app
from opsconsole.tui.screens.dialogs import (
    ChecklistDialog,
    ConfirmDialog,
    DecisionDialog,
    NoteDialog,
)
from opsconsole.tui.screens.incident import ProposalDialog
from opsconsole.tui.screens.params import ParamsDialog
from opsconsole.tui.screens.wizard import WizardScreen
from opsconsole.tui.widgets.log_tail import LogTail
from tests.support.console import finished, outcome, shown, status
from tests.support.pilot import wait_for
from tests.support.processes import processes_with
from tests.support.runbooks import book
from tests.support.servers import BUSYBOX_IMAGE, TEST_LABEL, DockerDaemon


class Host(App[None]):
    """The wizard on top of an empty screen, as it sits on the dashboard in the console,
    and without the console's stylesheet: a screen styles itself."""

    def __init__(self, wizard: WizardScreen) -> None:
        super().__init__()
        self.wizard = wizard

    def on_mount(self) -> None:
        self.push_screen(Screen())
        self.push_screen(self.wizard)


def wizard_for(
    runbook: Runbook, tmp_path: Path, params: dict[str, str] | None = None
) -> tuple[WizardScreen, list[Event]]:
    events: list[Event] = []
    screen = WizardScreen(
        runbook,
        params or {},
        "staging",
        operator_name="alice",
        artifacts=tmp_path / "artifacts",
        record=events.append,
    )
    return screen, events


def side_list(wizard: WizardScreen) -> list[str]:
    """The step list as the user reads it."""
    steps = wizard.query_one("#wizard-steps", OptionList)
    return [str(option.prompt) for option in steps.options]


BRANCHING = {
    "params": [{"name": "container", "description": "Which", "default": "api-staging"}],
    "steps": [
        {
            "id": "look",
            "kind": "command",
            "title": "Look around",
            "description": "Prints what it sees.",
            "argv": ["sh", "-c", "echo first line; echo second line; echo oops >&2"],
        },
        {
            "id": "what",
            "kind": "decision",
            "title": "What now",
            "question": "Restart or leave it?",
            "answers": [
                {"label": "restart", "goto": "restart"},
                {"label": "leave it", "goto": "leave"},
            ],
        },
        {
            "id": "restart",
            "kind": "command",
            "title": "Restart it",
            "description": "Restarts the container.",
            "argv": ["touch", "{container}"],
            "destructive": True,
            "next": "check",
        },
        {"id": "leave", "kind": "command", "title": "Leave it", "argv": ["echo", "left alone"]},
        {"id": "check", "kind": "command", "title": "Check", "argv": ["echo", "all good"]},
    ],
}


async def test_echo_decide_by_keys_confirm_by_typing_the_target(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    wizard, events = wizard_for(book(**BRANCHING), tmp_path)
    app = Host(wizard)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DecisionDialog))
        # The first step's output is on screen before the question.
        lines = shown(wizard)
        assert lines[0] == "▶ look: $ sh -c 'echo first line; echo second line; echo oops >&2'"
        # stdout and stderr are read side by side: each keeps its order, not their mix.
        assert [line for line in lines if line.endswith("line")] == ["first line", "second line"]
        assert "! oops" in lines  # stderr, marked
        assert re.fullmatch(r"✔ look: exit 0 in \d+\.\d s", lines[4]), lines[4]
        assert side_list(wizard)[:2] == ["✔ Look around", "▶ What now"]
        question = str(app.screen.query_one(".dialog-question", Static).render())
        assert question == "Restart or leave it?"

        await pilot.press("down", "up")  # looking at the answers, then back to "restart"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        dialog = app.screen
        shown_text = " ".join(str(s.render()) for s in dialog.query(Static))
        assert "$ touch api-staging" in shown_text
        assert "staging" in shown_text
        assert "Type api-staging to run it" in shown_text
        await pilot.press(*"api-staging")
        assert "matches" in str(dialog.query_one("#confirm-match", Static).render())
        await pilot.press("enter")
        await wait_for(pilot, finished(wizard))

        assert outcome(wizard) == "completed"
        assert side_list(wizard) == [
            "✔ Look around",
            "✔ What now",
            "✔ Restart it",
            "… Leave it",  # the other branch: never run
            "✔ Check",
        ]
        assert (tmp_path / "api-staging").exists()
        lines = shown(wizard)
        assert "✔ what: Restart or leave it? → restart" in lines
        assert "✔ restart: confirmed by alice (api-staging)" in lines
        assert "all good" in lines
        assert "left alone" not in lines
        assert lines[-1] == "■ completed: every step done"
        assert status(wizard).startswith("completed")
        decided = [e for e in events if isinstance(e, Decided)]
        assert decided[0].answer == "restart"
        assert decided[0].operator == "alice"

        await pilot.press("escape")  # finished: back where it came from
        assert not isinstance(app.screen, WizardScreen)


async def test_a_wrong_name_asks_again_and_escape_refuses_and_aborts(tmp_path: Path) -> None:
    """One slip at 3 a.m. (Enter on the empty field, a typo) must not run the rollback
    and end the run: it says what was wrong and asks again; Escape refuses."""
    os.chdir(tmp_path)
    wizard, events = wizard_for(book(**BRANCHING), tmp_path)
    app = Host(wizard)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DecisionDialog))
        await pilot.press("1")  # the answer's number chooses it too
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        dialog = app.screen
        field = dialog.query_one("#confirm-target", Input)
        assert field.placeholder == ""  # nothing that looks filled in
        await pilot.press("enter")  # nothing typed
        assert isinstance(app.screen, ConfirmDialog)
        said = str(dialog.query_one("#confirm-match", Static).render())
        assert said == "✖ nothing typed: type api-staging to run it, Escape refuses"
        await pilot.press(*"api", "enter")  # not the whole name
        assert isinstance(app.screen, ConfirmDialog)
        said = str(dialog.query_one("#confirm-match", Static).render())
        assert said.startswith("✖ 'api' is not 'api-staging'")
        assert field.value == ""
        assert wizard.running  # nothing refused, nothing rolled back
        await pilot.press("escape")
        await wait_for(pilot, finished(wizard))

        assert outcome(wizard) == "aborted"
        assert not (tmp_path / "api-staging").exists()
        assert side_list(wizard)[2] == "✖ Restart it"
        assert side_list(wizard)[4] == "… Check"
        assert "✖ restart: refused (not confirmed)" in shown(wizard)
        assert status(wizard).startswith("aborted")
        assert [e.reason for e in events if isinstance(e, Refused)] == ["not confirmed"]


async def test_the_other_branch_and_escape_refuses(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    wizard, _ = wizard_for(book(**BRANCHING), tmp_path)
    app = Host(wizard)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DecisionDialog))
        await pilot.press("down", "enter")  # "leave it"
        await wait_for(pilot, finished(wizard))
        assert outcome(wizard) == "completed"
        assert side_list(wizard)[2:] == ["… Restart it", "✔ Leave it", "✔ Check"]
        assert "left alone" in shown(wizard)

    wizard, _ = wizard_for(book(**BRANCHING), tmp_path)
    app = Host(wizard)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DecisionDialog))
        await pilot.press("1")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("escape")  # refuses
        await wait_for(pilot, finished(wizard))
        assert outcome(wizard) == "aborted"
        assert not (tmp_path / "api-staging").exists()


async def test_a_aborts_a_long_command_and_ends_its_processes(tmp_path: Path) -> None:
    marker = f"opsconsole-wizard-{uuid.uuid4().hex}"
    runbook = book(
        steps=[
            {
                "id": "wait",
                "kind": "command",
                "title": "Wait a long time",
                "description": "Sleeps, in a child of a shell.",
                # The marker is in the shell's argv; the sleep is its child, in its group.
                "argv": ["sh", "-c", f"echo started; sleep 300; echo {marker}"],
                "timeout_seconds": 600,
            },
            {"id": "after", "kind": "command", "title": "After", "argv": ["echo", "after"]},
        ],
        rollback=[
            {"id": "undo", "kind": "command", "title": "Undo", "argv": ["echo", "undone"]},
        ],
    )
    wizard, _ = wizard_for(runbook, tmp_path)
    app = Host(wizard)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await wait_for(pilot, lambda: "started" in shown(wizard))
        assert processes_with(marker) != []
        assert side_list(wizard)[0] == "▶ Wait a long time"
        await pilot.press("escape")  # running: escape does not leave, and says why
        assert app.screen is wizard
        toasts = [str(toast.render()) for toast in app.screen.query("Toast")]
        assert any("a aborts it" in toast for toast in toasts), toasts
        await pilot.press("a")  # asks first: an abort cannot be taken back
        await wait_for(pilot, lambda: isinstance(app.screen, ProposalDialog))
        await pilot.press("n")
        await pilot.pause(0.3)
        assert wizard.running
        assert processes_with(marker) != []
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ProposalDialog))
        await pilot.press("y")
        await wait_for(pilot, finished(wizard))

        assert outcome(wizard) == "aborted"
        assert side_list(wizard) == ["✖ Wait a long time", "… After", "✔ Undo"]
        assert "undone" in shown(wizard)  # rollback runs after an abort
        assert shown(wizard)[-1] == "■ aborted: aborted during 'Wait a long time'"
        assert not [b for b in app.active_bindings.values() if b.binding.action == "abort"]
    assert processes_with(marker) == []


async def test_checklist_and_note_dialogs_and_an_operator_note(tmp_path: Path) -> None:
    runbook = book(
        steps=[
            {
                "id": "by-hand",
                "kind": "manual",
                "title": "By hand",
                "description": "Two things to do.",
                "checklist": ["drain the node", "tell the channel"],
            },
            {"id": "record", "kind": "note", "title": "Record", "prompt": "What happened?"},
        ]
    )
    wizard, events = wizard_for(runbook, tmp_path)
    app = Host(wizard)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ChecklistDialog))
        done = app.screen.query_one("#checklist-done")
        assert done.disabled  # nothing ticked yet
        await pilot.press("space", "tab", "space")
        assert not done.disabled
        await pilot.click("#checklist-done")
        await wait_for(pilot, lambda: isinstance(app.screen, NoteDialog))
        await pilot.press(*"drained it", "enter")
        await wait_for(pilot, finished(wizard))
        assert outcome(wizard) == "completed"
        assert side_list(wizard) == ["✔ By hand", "✔ Record"]

        await pilot.press("n")
        assert isinstance(app.screen, NoteDialog)
        await pilot.press(*"called it a day", "enter")
        await wait_for(pilot, lambda: "✎ note by alice: called it a day" in shown(wizard))
    notes = [e.text for e in events if isinstance(e, Note)]
    assert notes == ["drained it", "called it a day"]


async def test_a_failing_step_says_why_once_per_attempt_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    runbook = book(
        steps=[
            {"id": "flaky", "kind": "command", "title": "Flaky", "argv": ["false"],
             "retry": {"count": 1, "delay_seconds": 0}, "on_failure": "continue"},
            {"id": "after", "kind": "command", "title": "After", "argv": ["echo", "after"]},
        ]
    )  # fmt: skip
    wizard, _ = wizard_for(runbook, tmp_path)
    app = Host(wizard)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, finished(wizard))
        assert outcome(wizard) == "completed"
        assert side_list(wizard) == ["✖ Flaky", "✔ After"]
        lines = shown(wizard)
        assert lines[:4] == [
            "▶ flaky: $ false",
            "✖ flaky: exit code 1, expected 0",
            "▶ flaky: $ false  (attempt 2)",
            "✖ flaky: exit code 1, expected 0",
        ]
        assert "after" in lines


async def test_a_flood_of_output_is_bounded_and_the_screen_keeps_up(tmp_path: Path) -> None:
    runbook = book(
        steps=[{"id": "flood", "kind": "command", "title": "Flood", "argv": ["seq", "200000"]}]
    )
    wizard, _ = wizard_for(runbook, tmp_path)
    app = Host(wizard)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, finished(wizard), seconds=30)
        await pilot.pause()
        lines = shown(wizard)
        assert len(lines) <= 5_000
        assert "200000" in lines
        assert lines[-1] == "■ completed: every step done"


async def test_a_missing_parameter_is_said_and_nothing_runs(tmp_path: Path) -> None:
    runbook = book(
        params=[{"name": "target", "description": "What to touch"}],
        steps=[{"id": "touch", "kind": "command", "title": "Touch", "argv": ["touch", "{target}"]}],
    )
    wizard, events = wizard_for(runbook, tmp_path)
    app = Host(wizard)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "cannot start: parameter 'target' is required" in status(wizard)
        assert events == []
        await pilot.press("escape")
        assert app.screen is not wizard


async def test_the_palette_opens_a_runbook_at_80x24(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    config = Config.model_validate(
        {
            "console": {"environment": "staging"},
            "services": [
                {"name": "api", "health_url": "http://127.0.0.1:9/health", "container": "api-1"}
            ],
        }
    )
    library = Library(runbooks=[book(**BRANCHING)])
    app = make_app(config, library=library)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"Runbook: Test")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ParamsDialog))
        # Filled in for the service under the cursor, not with the library's default.
        assert app.screen.query_one("#param-container", Input).value == "api-1"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DecisionDialog))
        wizard = next(s for s in app.screen_stack if isinstance(s, WizardScreen))
        assert wizard.environment == "staging"
        steps = wizard.query_one("#wizard-steps", OptionList)
        assert steps.size.width >= 20  # the step titles have room at 80 columns
        assert wizard.query_one(LogTail).size.height >= 5
        await pilot.press("escape")  # no answer: the run stops
        await wait_for(pilot, finished(wizard))
        assert outcome(wizard) == "aborted"
        assert side_list(wizard)[1] == "✖ What now"


FORM = book(
    params=[
        {"name": "service", "description": "Which service", "default": "api"},
        {"name": "lines", "description": "How many", "type": "integer", "default": 50},
        {"name": "mode", "description": "How", "choices": ["soft", "hard"]},
        {"name": "token", "description": "API token", "secret": True},
        # Empty by default, and empty is a value (this machine, as service_host's).
        {"name": "where", "description": "Where", "default": ""},
    ],
    steps=[
        {
            "id": "say",
            "kind": "command",
            "title": "Say",
            "argv": ["echo", "{service}", "{lines}", "{mode}", "{token}", "[{where}]"],
        }
    ],
)


def console_with(library: Library) -> OpsConsoleApp:
    config = Config.model_validate(
        {
            "console": {"environment": "staging"},
            "services": [{"name": "api", "health_url": "http://127.0.0.1:9/health"}],
        }
    )
    return make_app(config, library=library)


async def test_the_parameter_form_checks_each_value_before_anything_runs(
    tmp_path: Path,
) -> None:
    os.chdir(tmp_path)  # where the run's artifacts go
    app = console_with(Library(runbooks=[FORM]))
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_runbook(FORM, {"service": "billing"})  # as the dashboard offers it
        await wait_for(pilot, lambda: isinstance(app.screen, ParamsDialog))
        await pilot.pause()
        form = app.screen

        def field(name: str) -> Input:
            return form.query_one(f"#param-{name}", Input)

        def problem() -> str:
            return str(form.query_one("#params-problem", Static).render())

        assert field("service").value == "billing"  # the offer, not the default
        assert field("lines").value == "50"
        assert field("token").password  # a secret is not shown as it is typed
        assert form.focused is field("mode")  # the first field with nothing in it
        await pilot.press("enter")
        assert "parameter 'mode' needs a value" in problem()
        assert "parameter 'token' needs a value" in problem()
        assert "'where'" not in problem()  # empty by default: empty is fine
        assert isinstance(app.screen, ParamsDialog)  # nothing ran

        await pilot.press(*"ha", "right")  # → takes the suggested choice
        assert field("mode").value == "hard"
        field("lines").focus()
        await pilot.press("backspace", "backspace", *"ten")
        assert problem() == "✖ lines: must be a whole number"
        assert field("lines").has_class("-invalid")
        await pilot.press("enter")
        assert isinstance(app.screen, ParamsDialog)

        await pilot.press(*["backspace"] * 3, *"20", "tab", "tab")
        await pilot.press(*"s3cr3t-t0ken-value", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, WizardScreen))
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        await wait_for(pilot, finished(wizard))
        assert outcome(wizard) == "completed"
        assert "billing 20 hard *** []" in shown(wizard)  # the secret, masked in the output


async def test_escape_on_the_parameter_form_runs_nothing(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    app = console_with(Library(runbooks=[FORM]))
    async with app.run_test(size=(80, 24)) as pilot:
        dashboard = app.screen
        app.open_runbook(FORM)
        await wait_for(pilot, lambda: isinstance(app.screen, ParamsDialog))
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is dashboard
        assert not any(isinstance(screen, WizardScreen) for screen in app.screen_stack)
        assert not (tmp_path / "artifacts").exists()


def test_the_shipped_library_is_in_the_palette_by_default() -> None:
    config = Config.model_validate(
        {"services": [{"name": "api", "health_url": "http://127.0.0.1:9/health"}]}
    )
    app = make_app(config)
    assert app.library is not None
    assert app.library.runbooks


async def test_a_real_container_restarted_through_the_wizard_comes_back(
    docker_daemon: DockerDaemon, tmp_path: Path
) -> None:
    name = f"wizard-{uuid.uuid4().hex[:8]}"
    client = docker_daemon.client()
    container = client.containers.run(
        BUSYBOX_IMAGE,
        ["sh", "-c", "trap 'exit 0' TERM; while :; do busybox sleep 0.2; done"],
        name=name, detach=True, network_mode="none", labels={TEST_LABEL: "wizard"},
    )  # fmt: skip
    started_before = container.attrs["State"]["StartedAt"]
    host = ["docker", "--host", docker_daemon.base_url]
    runbook = book(
        params=[
            {"name": "container", "description": "Which", "pattern": "^[a-z0-9-]+$"},
        ],
        steps=[
            {
                "id": "state",
                "kind": "command",
                "title": "State",
                "argv": [*host, "inspect", "--format", "{{.State.Status}}", "{container}"],
                "capture": [{"name": "state", "pattern": r"^(\w+)"}],
            },
            {
                "id": "restart",
                "kind": "command",
                "title": "Restart it",
                "description": "Stops and starts the container.",
                "argv": [*host, "restart", "--time", "2", "{container}"],
                "destructive": True,
                "when": [{"value": "{state}", "equals": "running"}],
            },
            {
                "id": "back",
                "kind": "command",
                "title": "Running again",
                "argv": [*host, "inspect", "--format", "{{.State.Running}}", "{container}"],
                "expect": {"equals": "true"},
                "retry": {"count": 10, "delay_seconds": 0.5},
            },
        ],
    )
    wizard, _ = wizard_for(runbook, tmp_path, {"container": name})
    app = Host(wizard)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), seconds=30)
            await pilot.press(*name, "enter")
            await wait_for(pilot, finished(wizard), seconds=60)
            assert outcome(wizard) == "completed", shown(wizard)
            assert side_list(wizard) == ["✔ State", "✔ Restart it", "✔ Running again"]
            assert "true" in shown(wizard)
        container.reload()
        assert container.status == "running"
        assert container.attrs["State"]["StartedAt"] != started_before  # it really restarted
    finally:
        container.remove(force=True)


async def test_a_called_runbooks_question_moves_none_of_the_callers_steps(
    tmp_path: Path,
) -> None:
    """A runbook step runs another runbook whose decision has the id of one of the
    caller's steps (`escalate`, `record`, `cause` are in many): its question shows, the
    caller's step of that id is untouched (it was marked running, then failed at the end),
    and the called run's steps show in the log under its name."""
    from tests.support.console import run_book

    called = book(
        id="called",
        steps=[
            {"id": "escalate", "kind": "decision", "title": "Which way?", "question": "Which?",
             "answers": [{"label": "This way", "goto": "end"}, {"label": "That", "goto": "end"}]},
            {"id": "end", "kind": "command", "title": "End", "argv": ["echo", "called done"]},
        ],
    )  # fmt: skip
    caller = book(
        id="caller",
        params=[{"name": "service", "description": "The service", "default": "api"}],
        steps=[
            {"id": "bring-back", "kind": "runbook", "title": "Bring it back",
             "runbook": "called", "next": "done"},
            {"id": "escalate", "kind": "manual", "title": "Escalate", "checklist": ["Page"]},
            {"id": "done", "kind": "command", "title": "Done", "argv": ["echo", "{service}"]},
        ],
    )  # fmt: skip
    config = Config.model_validate(
        {"services": [{"name": "api", "health_url": "http://127.0.0.1:9/"}]}
    )
    app = make_app(
        config, library=Library(runbooks=[caller, called]), incidents=FileStore(tmp_path)
    )
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = await run_book(pilot, app, caller)
        await wait_for(pilot, lambda: isinstance(app.screen, DecisionDialog))
        await pilot.press("1")
        await wait_for(pilot, finished(wizard))
        assert outcome(wizard) == "completed"
        assert wizard.progress.states == {"bring-back": "ok", "escalate": "pending", "done": "ok"}
        assert any("↳ called/end: exit 0" in line for line in shown(wizard))


async def test_service_down_offered_for_a_service_of_this_machine_starts_from_its_form(
    tmp_path: Path,
) -> None:
    """Its service_host comes empty (this machine): Enter starts it, nothing to type."""
    from opsconsole.monitoring.offers import offers
    from opsconsole.monitoring.snapshot import Breach
    from opsconsole.runbooks.model import load_runbooks, shipped_runbooks

    os.chdir(tmp_path)
    config = Config.model_validate(
        {"services": [{"name": "api", "health_url": "http://127.0.0.1:9/health",
                       "container": "api-1"}]}
    )  # fmt: skip
    library = load_runbooks(shipped_runbooks())
    offer = next(
        o for o in offers(library, [Breach("api", "health", "DOWN", "UP")], config=config)
        if o.runbook.id == "service-down"
    )  # fmt: skip
    assert offer.params["service_host"] == ""
    app = make_app(config, library=library)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_runbook(offer.runbook, offer.params)
        await wait_for(pilot, lambda: isinstance(app.screen, ParamsDialog))
        await pilot.pause()
        assert app.screen.query_one("#param-service_host", Input).value == ""
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, WizardScreen))
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        assert wizard.runner is not None
        assert wizard.runner.values["service_host"] == ""
        await pilot.press("a")  # abort: nothing of this test's to restart
