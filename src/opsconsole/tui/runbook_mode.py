"""Runbooks in the shell: the parameter form, then the wizard, one run at a time; a
run in progress is never left behind by a screen change."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsconsole.engine.probes import ConfiguredProbes
from opsconsole.engine.runner import operator_name
from opsconsole.runbooks.model import Runbook
from opsconsole.tui.screens.params import ParamsDialog
from opsconsole.tui.screens.wizard import WizardScreen

if TYPE_CHECKING:
    from opsconsole.tui.app import OpsConsoleApp


class RunbookMode:
    def __init__(self, app: OpsConsoleApp) -> None:
        self.app = app

    def running(self) -> list[WizardScreen]:
        return [s for s in self.app.screen_stack if isinstance(s, WizardScreen) and s.running]

    def in_progress(self) -> bool:
        """Leaving a running wizard would kill its command without rollback or record."""
        if self.running():
            self.app.notify("A runbook is running: finish or abort it first.", severity="warning")
            return True
        return False

    def open(self, book: Runbook, params: dict[str, str] | None = None) -> None:
        """Runs a runbook in the wizard, once its parameters are filled in: `params` (what
        the dashboard offered) and the defaults are only where the form starts."""
        if self.in_progress():
            return
        if not book.params:
            self._start(book, {})
            return

        def filled(values: dict[str, str] | None) -> None:
            if values is not None:
                self._start(book, values)

        environment = self.app.config.console.environment
        self.app.push_screen(ParamsDialog(book, params or {}, environment), callback=filled)

    def _start(self, book: Runbook, values: dict[str, str]) -> None:
        self.app.incident_mode.runbook_started(book.id)
        recorder = self.app.incident_mode.session.recorder()
        wizard = WizardScreen(
            book,
            values,
            self.app.config.console.environment,
            operator_name=operator_name(),
            probes=ConfiguredProbes(self.app.config),
            record=recorder,
        )
        if recorder is not None:
            recorder.on_failure = wizard.stop_unrecorded
        self.app.push_screen(wizard)
