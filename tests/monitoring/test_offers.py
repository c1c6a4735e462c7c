"""The dashboard offers the runbook that fits what it sees, and R opens it on that subject."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from textual.widgets import Input

from opsconsole.config.model import Config
from opsconsole.demo.faults import Fault
from opsconsole.demo.fleet import DemoFleet
from opsconsole.monitoring.offers import describe, offers
from opsconsole.monitoring.snapshot import Breach
from opsconsole.runbooks.model import Library
from opsconsole.tui.app import OpsConsoleApp, make_app
from opsconsole.tui.screens.params import ParamsDialog
from opsconsole.tui.screens.wizard import WizardScreen
from tests.support.configs import with_console
from tests.support.pilot import cell, health, wait_for

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
                "params": [
                    {"name": "service", "description": "Which", "default": "x"},
                    {"name": "health_url", "description": "Its health",
                     "default": "http://x:8001/health"},
                    {"name": "container", "description": "Its container",
                     "default": "x-production"},
                ],
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


def test_an_offer_for_a_service_fills_in_its_own_health_url_and_container() -> None:
    """Never the runbook's defaults, which name another service: a service without a
    container leaves the field empty, for the operator to fill in, and a URL holding a
    password is not put on the screen."""
    config = Config.model_validate(
        {
            "services": [
                {"name": "web", "health_url": "http://web:80/health", "container": "web-1"},
                {"name": "api", "health_url": "http://api:8080/health"},
                {"name": "db-ui", "health_url": "http://admin:s3cret@db-ui/health"},
            ]
        }
    )
    services = {service.name: service for service in config.services}
    breaches = [Breach(name, "health", "DOWN", "UP") for name in services]
    found = offers(LIBRARY, breaches, services)
    assert [offer.params for offer in found] == [
        {"service": "web", "health_url": "http://web:80/health", "container": "web-1"},
        {"service": "api", "health_url": "http://api:8080/health", "container": ""},
        {"service": "db-ui", "health_url": "", "container": ""},
    ]


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
        dialog = app.screen
        assert dialog.query_one("#param-service", Input).value == "nginx"
        assert dialog.query_one("#param-health_url", Input).value == (
            fleet.services["nginx"].health_url
        )
        # The demo's nginx has no container: the field waits for one, the cursor in it.
        container = dialog.query_one("#param-container", Input)
        assert (container.value, container.has_focus) == ("", True)
        await pilot.press("enter")
        assert "container' needs a value" in str(dialog.query_one("#params-problem").render())
        await pilot.press(*"nginx-1", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, WizardScreen))
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        assert wizard.runbook.id == "down"
        assert wizard.runner is not None
        assert wizard.runner.values["service"] == "nginx"


async def test_a_flapping_service_is_one_breach_and_its_offer_stays_put(
    fleet: DemoFleet,
) -> None:
    """UP and DOWN by turns every 0.4 s: the row says FLAPPING, and the offer line does
    not come and go with each flap."""
    app = make_app(with_console(fleet.config(), refresh_seconds=0.2), library=LIBRARY)
    async with app.run_test(size=(80, 24)) as pilot:
        line = app.screen.query_one("#suggestion")
        await wait_for(pilot, lambda: health(app, "backend") == "✔ UP")
        fleet.set_fault("backend", Fault.FLAPPING, flap_seconds=0.4)
        await wait_for(pilot, lambda: health(app, "backend") == "↯ FLAPPING")
        shown = set()
        for _ in range(20):  # two seconds: five flaps
            shown.add(str(line.render()))
            assert health(app, "backend") == "↯ FLAPPING"
            await pilot.pause(0.1)
        assert shown == {"▲ backend is FLAPPING: press R for runbook 'Service down'"}


ERRORS = Library.model_validate(
    {"runbooks": [{"id": "errors", "title": "High error rate", "summary": "5xx over its SLA.",
                   "params": [{"name": "service", "description": "Which", "default": "x"}],
                   "suggest_when": [{"signal": "error_rate", "subject_param": "service"}],
                   "steps": [{"id": "look", "kind": "command", "title": "Look",
                              "argv": ["echo", "{service}"]}]}]}
)  # fmt: skip


async def test_the_offer_says_the_figure_the_table_shows() -> None:
    """One figure, one value on the screen: the table holds a figure until it moves by a
    tenth, and the offer line says the held one, not the one of the last scrape."""
    with DemoFleet(traffic_rate=30) as busy:
        busy.set_fault("frontend", Fault.ERRORING)
        app = make_app(with_console(busy.config(), refresh_seconds=0.3), library=ERRORS)
        await _same_figure(app)


async def _same_figure(app: OpsConsoleApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        line = app.screen.query_one("#suggestion")
        await wait_for(pilot, lambda: "error rate of frontend" in str(line.render()), seconds=20)
        for _ in range(10):
            table = str(cell(app, "frontend", "err")).removeprefix("▲ ")
            said = str(line.render())
            assert f"error rate of frontend is {table} > 1%" in said, (table, said)
            await pilot.pause(0.3)
