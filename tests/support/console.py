"""Operator flows in a running app: open an incident, run a runbook, start a drill."""

from __future__ import annotations

from collections.abc import Callable

from textual.pilot import Pilot
from textual.widgets import Input, Static

from opsconsole.incidents.model import Incident
from opsconsole.runbooks.model import Runbook
from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.screens.incident import OpenIncidentDialog, ProposalDialog
from opsconsole.tui.screens.params import ParamsDialog
from opsconsole.tui.screens.wizard import WizardScreen
from opsconsole.tui.widgets.log_tail import LogTail
from tests.support.pilot import wait_for


async def settled(pilot: Pilot[None], app: OpsConsoleApp) -> None:
    """Until what the session was asked to do so far is on record, and shown."""
    await app.incident_mode.session.submit(lambda: None)  # its thread keeps the order
    await pilot.pause()


async def open_incident(
    pilot: Pilot[None], app: OpsConsoleApp, title: str = "Checkout fails", severity: str = "P2"
) -> Incident:
    await pilot.press("i")
    await wait_for(pilot, lambda: isinstance(app.screen, OpenIncidentDialog))
    app.screen.query_one("#incident-title", Input).value = title
    app.screen.query_one("#incident-severity", Input).value = severity
    app.screen.query_one("#incident-title", Input).focus()
    await pilot.press("enter")
    await wait_for(pilot, lambda: app.incident_mode.session.incident is not None)
    assert app.incident_mode.session.incident is not None
    return app.incident_mode.session.incident


async def run_book(pilot: Pilot[None], app: OpsConsoleApp, runbook: Runbook) -> WizardScreen:
    app.open_runbook(runbook)
    await wait_for(pilot, lambda: isinstance(app.screen, ParamsDialog))
    await pilot.pause()
    await pilot.press("enter")
    # A quick run may already have its proposal on top of it.
    await wait_for(pilot, lambda: any(isinstance(s, WizardScreen) for s in app.screen_stack))
    return next(s for s in app.screen_stack if isinstance(s, WizardScreen))


def finished(wizard: WizardScreen) -> Callable[[], bool]:
    return lambda: wizard.result is not None or wizard.problem is not None


def outcome(wizard: WizardScreen) -> str | None:
    return wizard.result.outcome if wizard.result is not None else None


def shown(wizard: WizardScreen) -> list[str]:
    return wizard.query_one(LogTail).shown


def status(wizard: WizardScreen) -> str:
    return str(wizard.query_one("#wizard-status", Static).render())


async def propose_drill(pilot: Pilot[None], app: OpsConsoleApp, title: str) -> None:
    """Picks the drill in Ctrl+P, as a trainee does, up to the dialog that proposes it."""
    await pilot.press("ctrl+p", *f"Drill: {title}")
    await pilot.pause(0.3)
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, ProposalDialog))


async def wait_injected(pilot: Pilot[None], app: OpsConsoleApp) -> None:
    await wait_for(
        pilot,
        lambda: app.drill_mode.card is not None and app.drill_mode.card.injected_at is not None,
    )
