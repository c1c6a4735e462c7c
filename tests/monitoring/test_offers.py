"""The dashboard offers the runbook that fits what it sees, and R opens it on that subject."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from textual.widgets import Input

from opsconsole.config.model import Config, ServiceSection
from opsconsole.demo.faults import Fault
from opsconsole.demo.fleet import DemoFleet
from opsconsole.monitoring.offers import describe, offers, service_params
from opsconsole.monitoring.snapshot import Breach
from opsconsole.runbooks.model import Library, load_runbooks, shipped_runbooks
from opsconsole.tui.app import OpsConsoleApp, make_app
from opsconsole.tui.screens.params import ParamsDialog
from opsconsole.tui.screens.wizard import WizardScreen
from opsconsole.tui.widgets.services_table import ServicesTable
from tests.support.configs import with_console
from tests.support.pilot import cell, health, palette, wait_for

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


def test_an_offer_fits_the_service_and_is_filled_with_its_own_values() -> None:
    """Never the runbook's defaults, which name another service; a runbook that acts on
    a container only for a service that has one (the one without gets no offer it cannot
    run); a URL holding a password is not put on the screen."""
    config = Config.model_validate(
        {
            "services": [
                {"name": "web", "health_url": "http://web:80/health", "container": "web-1"},
                {"name": "api", "health_url": "http://api:8080/health"},
                {"name": "db-ui", "health_url": "http://admin:s3cret@db-ui/health",
                 "container": "db-ui-1"},
            ]
        }
    )  # fmt: skip
    services = {service.name: service for service in config.services}
    breaches = [Breach(name, "health", "DOWN", "UP") for name in services]
    found = offers(LIBRARY, breaches, services)
    assert [offer.params for offer in found] == [
        {"service": "web", "health_url": "http://web:80/health", "container": "web-1"},
        {"service": "db-ui", "health_url": "", "container": "db-ui-1"},
    ]


def test_a_runbook_for_a_service_gets_its_api_url_unless_the_form_would_show_its_key() -> None:
    """external-api-rate-limit from the palette: the API the service calls, as configured;
    one with its key in it is left for the operator to type, as a URL with a password."""
    book = next(b for b in load_runbooks(shipped_runbooks()).runbooks
                if b.id == "external-api-rate-limit")  # fmt: skip
    config = Config.model_validate(
        {
            "services": [
                {"name": "open", "health_url": "http://open/health",
                 "api_url": "https://api.fda.gov/device/510k.json?limit=1"},
                {"name": "keyed", "health_url": "http://keyed/health",
                 "api_url": "https://api.fda.gov/device/510k.json?api_key=s3cr3tkey&limit=1"},
                {"name": "none", "health_url": "http://none/health"},
            ]
        }
    )  # fmt: skip
    filled = [service_params(book, service, config) for service in config.services]
    assert filled == [
        {
            "service": "open",
            "api_url": "https://api.fda.gov/device/510k.json?limit=1",
            "service_host": "",
        },
        {"service": "keyed", "api_url": "", "service_host": ""},
        {"service": "none", "service_host": ""},  # the runbook's default stands
    ]
    assert "s3cr3tkey" not in repr(config)


def test_the_demo_fleet_is_offered_the_demos_runbook_and_never_a_docker_one() -> None:
    """Its services run in the console, not in containers: `demo-service` restarts them,
    `service-down` would `docker start` nothing."""
    with DemoFleet(traffic_rate=0) as fleet:
        config = fleet.config()
    services = {service.name: service for service in config.services}
    shipped = load_runbooks(shipped_runbooks())
    for signal, value in (("health", "DOWN"), ("p95_seconds", 3.1), ("error_rate", 0.25)):
        found = offers(shipped, [Breach("nginx", signal, value, 0.01)], services)
        assert [offer.runbook.id for offer in found] == ["demo-service"], signal
        assert found[0].params == {
            "service": "nginx",
            "health_url": fleet.services["nginx"].health_url,
        }
    real = {"api": ServiceSection(name="api", health_url="http://api/health", container="api-1")}
    found = offers(shipped, [Breach("api", "health", "DOWN", "UP")], real)
    assert "demo-service" not in [offer.runbook.id for offer in found]
    assert found[0].runbook.id == "service-down"


def as_real(config: Config, **containers: str) -> Config:
    """The demo fleet as if it were real services, some in containers: the offers of a
    library that acts on containers fit them."""
    services = [
        service.model_copy(update={"demo": False, "container": containers.get(service.name)})
        for service in config.services
    ]
    return config.model_copy(update={"services": services})


@pytest.fixture
def fleet() -> Iterator[DemoFleet]:
    with DemoFleet(traffic_rate=0) as demo:
        yield demo


async def test_the_dashboard_offers_a_runbook_and_r_opens_it_on_the_subject(
    fleet: DemoFleet,
) -> None:
    config = as_real(fleet.config(), nginx="nginx-1")
    app = make_app(with_console(config, refresh_seconds=0.3), library=LIBRARY)
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
        assert dialog.query_one("#param-container", Input).value == "nginx-1"
        await pilot.press("enter")
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
    config = as_real(fleet.config(), backend="backend-1")
    app = make_app(with_console(config, refresh_seconds=0.2), library=LIBRARY)
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
        app = make_app(with_console(as_real(busy.config()), refresh_seconds=0.3), library=ERRORS)
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


async def test_r_acts_on_the_row_under_the_cursor_and_the_palette_fills_in_that_service(
    fleet: DemoFleet,
) -> None:
    config = as_real(fleet.config(), nginx="nginx-1", backend="backend-1")
    app = make_app(with_console(config, refresh_seconds=0.3), library=LIBRARY)
    async with app.run_test(size=(80, 24)) as pilot:
        line = app.screen.query_one("#suggestion")
        fleet.set_fault("backend", Fault.DOWN)
        fleet.set_fault("nginx", Fault.DOWN)
        await wait_for(pilot, lambda: health(app, "nginx") == "✖ DOWN")
        await wait_for(pilot, lambda: health(app, "backend") == "✖ DOWN")
        assert str(line.render()).startswith("▲ backend is DOWN")  # the first, by default
        app.screen.query_one(ServicesTable).move_cursor(row=4)  # nl-fhir ... nginx
        await wait_for(pilot, lambda: str(line.render()).startswith("▲ nginx is DOWN"))
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ParamsDialog))
        assert app.screen.query_one("#param-service", Input).value == "nginx"
        await pilot.press("escape")
        await pilot.pause()

        await palette(pilot, app, "Runbook: High response")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ParamsDialog))
        assert app.screen.query_one("#param-service", Input).value == "nginx"  # not "x"


def test_an_unreachable_postgres_is_offered_its_own_runbook_not_the_whole_stacks() -> None:
    """The shipped library: a PostgreSQL that does not answer offers postgres-unreachable
    (P1), whose evidence leads to starting it, freeing its disk or its connections (those
    two run their own runbooks), or its login; the P0 complete-outage-recovery is not
    offered for one database."""
    from opsconsole.runbooks.model import load_runbooks, shipped_runbooks

    shipped = load_runbooks(shipped_runbooks())
    found = offers(shipped, [Breach("postgres", "unreachable", "connection refused", None)])
    assert [o.runbook.id for o in found] == ["postgres-unreachable"]
    assert found[0].text == (
        "postgres is unreachable: connection refused: press R for runbook 'PostgreSQL unreachable'"
    )


def test_a_runbook_offered_for_postgres_acts_on_the_configured_one() -> None:
    """Its host, port, user, database and backup directory, not the example stack's."""
    from opsconsole.config.model import Config
    from opsconsole.runbooks.model import load_runbooks, shipped_runbooks

    config = Config.model_validate(
        {"services": [{"name": "api", "health_url": "http://127.0.0.1:9/"}],
         "postgres": {"dsn": "postgresql://ops:secret@db.internal:6432/ledger",
                      "backup_dir": "/srv/backups/ledger", "backup_rpo_hours": 6}}
    )  # fmt: skip
    (offer,) = offers(
        load_runbooks(shipped_runbooks()),
        [Breach("postgres", "backup_age", 7.5, 6.0)], config=config,
    )  # fmt: skip
    assert offer.runbook.id == "postgres-backup"
    assert offer.params == {
        "pg_host": "db.internal", "pg_port": "6432", "pg_user": "ops", "pg_db": "ledger",
        "backup_dir": "/srv/backups/ledger", "rpo_hours": "6",
    }  # fmt: skip
    assert "secret" not in str(offer.params)
    assert offer.text.startswith("the newest backup of postgres is 7.5 h old (> 6 h)")
