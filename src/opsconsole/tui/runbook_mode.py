"""Runbooks in the shell: the parameter form, then the wizard, one run at a time; a
run in progress is never left behind by a screen change."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsconsole.engine.probes import ConfiguredProbes
from opsconsole.engine.runner import operator_name
from opsconsole.runbooks.model import Runbook
from opsconsole.tui.screens.incident import ProposalDialog
from opsconsole.tui.screens.params import ParamsDialog
from opsconsole.tui.screens.wizard import WizardScreen

if TYPE_CHECKING:
    from opsconsole.tui.app import OpsConsoleApp


class RunbookMode:
    def __init__(self, app: OpsConsoleApp) -> None:
        self.app = app
        self.runs = 0
        self.exit_when_run_ends = False
        """Quitting was asked for while a run went on: once its rollback is on record."""

    def running(self) -> list[WizardScreen]:
        """The wizards whose run goes on, shown or behind the dashboard."""
        return [w for w in self._wizards() if w.running]

    def _wizards(self) -> list[WizardScreen]:
        installed = self.app._installed_screens.values()
        return [w for w in installed if isinstance(w, WizardScreen)]

    def behind(self) -> WizardScreen | None:
        """A running wizard that is not on screen, if any."""
        shown = self.app.screen_stack
        return next((w for w in self.running() if w not in shown), None)

    def bring_back(self) -> None:
        wizard = self.behind() or next(
            (w for w in self._wizards() if w not in self.app.screen_stack), None
        )
        if wizard is None:
            self.app.notify("No runbook is running.", timeout=3)
            return
        self.app.push_screen(wizard)

    def forget_ended(self) -> None:
        """The wizards of runs that are over and not on screen: let go of them."""
        for name, screen in list(self.app._installed_screens.items()):
            if (
                isinstance(screen, WizardScreen)
                and not screen.running
                and screen not in self.app.screen_stack
            ):
                self.app.uninstall_screen(name)

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
            library=self.app.library,
            hosts=self.app.config.hosts_by_name(),
        )
        if recorder is not None:
            recorder.on_failure = wizard.stop_unrecorded
        self.forget_ended()
        # Installed, so that leaving it (Escape, Ctrl+P to a service) does not end it: its
        # worker and its record go on behind the other screens.
        name = f"run-{self.runs}"
        self.runs += 1
        self.app.install_screen(wizard, name)
        self.app.push_screen(name)

    def quit(self) -> None:
        """Asks first while an incident is worked here or a runbook runs: quitting ends the
        run (its rollback runs) and leaves the incident to the other consoles."""
        app = self.app
        running = self.running()
        incident = app.incident_mode.session.open_incident
        if not running and incident is None:
            app.exit()
            return
        lines = []
        if running:
            lines.append(f"The runbook '{running[0].runbook.title}' is running: it is aborted.")
        if incident is not None:
            lines.append(
                f"Incident {incident.id} stays {incident.status}: other consoles and "
                "`opsconsole incidents` still see it."
            )

        def answered(leave: bool | None) -> None:
            if not leave:
                return
            if not running:
                app.exit()
                return
            self.exit_when_run_ends = True
            for wizard in running:
                wizard.abort()

        app.push_screen(ProposalDialog("Quit opsconsole?", lines), answered)
