"""The drill side of the shell: starting a trainee's drill (from the command line, or
from the palette after asking), its clock in the header, hints, and its report. The
trainer decides, times and records; this only shows it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from textual.worker import Worker

from opsconsole.common.readable import duration
from opsconsole.drills.model import Drill, DrillBook, DrillPlan, target_problem
from opsconsole.drills.pending import default_directory
from opsconsole.drills.scorecard import Scorecard
from opsconsole.monitoring.monitor import Monitor
from opsconsole.tui.screens.drill_report import DrillReportScreen
from opsconsole.tui.screens.incident import ProposalDialog

if TYPE_CHECKING:
    from opsconsole.drills.trainer import Trainer
    from opsconsole.tui.app import OpsConsoleApp


class DrillMode:
    def __init__(self, app: OpsConsoleApp, book: DrillBook | None) -> None:
        self.app = app
        self.book = book
        self.trainer: Trainer | None = None
        self.report_path: Path | None = None
        """Where the drill's report was saved, once it is over."""
        self._worker: Worker[None] | None = None

    @property
    def card(self) -> Scorecard | None:
        """The running drill's scorecard, if one runs."""
        return self.trainer.card if self.trainer is not None else None

    def offered(self) -> list[Drill]:
        """The scenarios the palette offers: those this configuration allows, and none
        while a drill runs."""
        if self.trainer is not None or self.book is None:
            return []
        return [d for d in self.book.drills if target_problem(self.app.config, d) is None]

    def offer(self, drill: Drill) -> None:
        """Asks first: a real fault goes in."""

        def answered(start: bool | None) -> None:
            if start and self.trainer is None:
                pending = default_directory()
                self.start(DrillPlan(drill, pending, pending / "reports"))

        self.app.push_screen(
            ProposalDialog(
                f"Start the drill '{drill.title}'? A real {drill.fault.kind} fault goes into "
                f"{drill.target} now, unseen; the clock runs from then.",
                [drill.description, f"time limit {duration(drill.time_limit_seconds)}"],
            ),
            callback=answered,
        )

    def start(self, plan: DrillPlan) -> None:
        from opsconsole.drills.trainer import Trainer  # drills load only in drill mode

        config = self.app.config
        self.trainer = Trainer(
            plan, config, self.app.incident_mode.session, monitor=Monitor(config)
        )
        self.app.add_class("-drill")
        self.app.bind("h", "hint", description="Hint")
        self.app.show_header()
        self._worker = self.app.run_worker(self._run(self.trainer), group="drill")
        self.app.set_interval(1.0, self.app.show_header)

    def place(self, outside: str) -> str:
        if self.trainer is None:
            return outside
        return self.trainer.place(outside, datetime.now(UTC))

    def hint(self) -> None:
        if self.trainer is not None and (hint := self.trainer.hint()) is not None:
            self.app.notify(hint, title="drill", timeout=20)

    async def _run(self, trainer: Trainer) -> None:
        why_not = await trainer.start()
        if why_not is not None:
            await trainer.monitor.aclose()
            self.app.notify(f"The drill did not start: {why_not}", severity="error", timeout=60)
            return
        # The dashboard reads a certificate once an hour: the one a fault put in place is
        # read at its next poll, not an hour into the drill.
        self.app.monitor.health.forget_certificates()
        ended = await trainer.end(await trainer.watch())
        for said in ended.said:
            self.app.notify(said.text, severity=said.severity, timeout=said.timeout)
        self.report_path = ended.path
        self.app.show_header()
        self.app.push_screen(DrillReportScreen(ended.report, ended.path, ended.why))

    async def stop(self) -> None:
        """The app is closing: a drill never leaves its fault behind, however it ends."""
        if self.trainer is not None:
            await self.trainer.undo_fault()
            await self.trainer.monitor.aclose()
