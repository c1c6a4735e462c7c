"""The dashboard offers the runbook that fits what it sees, and R opens it on that subject."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from textual.widgets import Input

from opsconsole.app import make_app
from opsconsole.demo.fleet import DemoFleet
from opsconsole.demo.service import Fault
from opsconsole.monitor import Breach
from opsconsole.runbooks import Library
from opsconsole.screens.params import ParamsDialog
from opsconsole.screens.wizard import WizardScreen
from opsconsole.suggest import describe, offers
from tests.test_dashboard import with_console
from tests.test_tui import health, wait_for

LIBRARY = Library.model_validate(
    {
        "runbooks": [
            {
                "id": "slow",
                "title": "High response times",
                "summary": "P95 over its SLA.",
                "severity": "P2",
                "params": [{"name": "service", "description": "Which", "default": "x"}],
                "suggest_when": [{"signal": "p95_seconds", "subject_param": "service"}],
                "steps": [{"id": "look", "kind": "command", "title": "Look",
                           "argv": ["echo", "{service}"]}],
            },
            {
                "id": "down",
                "title": "Service down",
                "summary": "It does not answer.",
                "severity": "P1",
                "params": [{"name": "service", "description": "Which", "default": "x"}],
                "suggest_when": [{"signal": "health", "subject_param": "service"}],
                "steps": [{"id": "look", "kind": "command", "title": "Look",
                           "argv": ["echo", "{service} is down"]}],
            },
            {
                "id": "queue",
                "title": "Audit queue backlog",
                "summary": "The queue grows.",
                "suggest_when": [{"signal": "queue"}],
                "steps": [{"id": "look", "kind": "command", "title": "Look",
                           "argv": ["echo", "queue"]}],
            },
        ]
    }
)  # fmt: skip


def test_offers_fit_the_breach_and_the_most_severe_comes_first() -> None:
    found = offers(
        LIBRARY,
        [
            Breach("api", "p95_seconds", 3.14, 2.0),
            Breach("web", "health", "DOWN", "UP"),
            Breach("redis", "queue:audit_events_queue", 1200, 1000),
            Breach("api", "error_rate", 0.2, 0.01),  # no runbook for it here
        ],
    )
    assert [(o.runbook.id, o.params) for o in found] == [
        ("down", {"service": "web"}),  # P1
        ("slow", {"service": "api"}),  # P2
        ("queue", {}),
    ]
    assert found[1].text == "P95 of api is 3.1s > 2s: press R for runbook 'High response times'"
    assert describe(Breach("redis", "queue:audit_events_queue", 1200, 1000)) == (
        "queue audit_events_queue holds 1200 > 1000"
    )


@pytest.fixture
def fleet() -> Iterator[DemoFleet]:
    with DemoFleet(traffic_rate=0) as demo:
        yield demo


async def test_the_dashboard_offers_a_runbook_and_r_opens_it_on_the_subject(
    fleet: DemoFleet,
) -> None:
    app = make_app(with_console(fleet.config(), refresh_seconds=0.3), library=LIBRARY)
    async with app.run_test(size=(80, 24)) as pilot:
        line = app.screen.query_one("#suggestion")
        await wait_for(pilot, lambda: health(app, "nginx") == "✔ UP")
        assert not line.display  # nothing breaches: nothing offered, R does nothing
        await pilot.press("R")
        assert not isinstance(app.screen, WizardScreen)

        fleet.set_fault("nginx", Fault.DOWN)
        await wait_for(pilot, lambda: health(app, "nginx") == "✖ DOWN")
        await wait_for(pilot, lambda: bool(line.display))
        assert str(line.render()) == "▲ nginx is DOWN: press R for runbook 'Service down'"
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ParamsDialog))
        assert app.screen.query_one("#param-service", Input).value == "nginx"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, WizardScreen))
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        assert wizard.runbook.id == "down"
        assert wizard.runner is not None
        assert wizard.runner.values["service"] == "nginx"
