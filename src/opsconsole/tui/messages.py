"""What the screens tell the app: every message of the shell, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message
from textual.screen import Screen

if TYPE_CHECKING:  # the app's handlers name these classes before anything is loaded
    from opsconsole.incidents.model import Incident
    from opsconsole.incidents.outcomes import RunEnd
    from opsconsole.runbooks.model import Runbook


class RunbookRequested(Message):
    """The operator took the dashboard's offer: the app opens the wizard."""

    def __init__(self, runbook: Runbook, params: dict[str, str]) -> None:
        super().__init__()
        self.runbook = runbook
        self.params = params


class RunEnded(Message):
    """A run in the wizard is over: with an incident open, the app may propose
    MONITORING on the evidence of its verifying steps."""

    def __init__(self, end: RunEnd) -> None:
        super().__init__()
        self.end = end


class RunShown(Message):
    """A wizard came on screen, or went behind another one while its run goes on."""

    def __init__(self, wizard: Screen[None], shown: bool) -> None:
        super().__init__()
        self.wizard = wizard
        self.shown = shown


class JoinIncident(Message):
    """The operator chose to work this incident from here."""

    def __init__(self, incident: Incident) -> None:
        super().__init__()
        self.incident = incident


class RefreshRequested(Message):
    """`r` on the dashboard: poll now, and take the configuration file again if it
    changed."""
