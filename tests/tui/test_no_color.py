"""Without colour (NO_COLOR), every state reads by its symbol and its weight: nothing is
dimmed (a dimmed grey was the least readable text on the screen), the worst is reversed.
Read off the segments the compositor draws, as the terminal gets them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rich.segment import Segment
from textual.app import App

from opsconsole.demo.faults import Fault
from opsconsole.demo.fleet import DemoFleet
from opsconsole.runbooks.model import ManualStep
from opsconsole.tui.app import OpsConsoleApp, make_app
from opsconsole.tui.screens.dialogs import ChecklistDialog
from opsconsole.tui.widgets import formats
from tests.support.configs import with_refresh
from tests.support.pilot import health, wait_for


@pytest.fixture
def fleet() -> Iterator[DemoFleet]:
    with DemoFleet(traffic_rate=0) as demo:
        yield demo


def segments(app: OpsConsoleApp) -> list[Segment]:
    return [segment for strip in app.screen._compositor.render_strips() for segment in strip]


async def test_without_colour_down_is_reversed_and_nothing_is_dimmed(
    fleet: DemoFleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    fleet.set_fault("nginx", Fault.DOWN)
    fleet.set_fault("backend", Fault.DEGRADED)
    app = make_app(with_refresh(fleet.config(), 0.3))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: health(app, "nginx") == "✖ DOWN")
        await wait_for(pilot, lambda: health(app, "backend") == "▲ DEGRADED")
        await pilot.pause(0.3)
        drawn = segments(app)
        down = [s for s in drawn if "✖ DOWN" in s.text]
        degraded = [s for s in drawn if "▲ DEGRADED" in s.text]
        assert down
        assert all(s.style is not None and s.style.reverse for s in down)
        assert degraded
        assert all(s.style is not None and s.style.bold for s in degraded)
        dimmed = [s.text for s in drawn if s.style is not None and s.style.dim]
        assert dimmed == []
    # With colour again (the next app, this process): the palette is each app's own.
    monkeypatch.delenv("NO_COLOR")
    async with make_app(with_refresh(fleet.config(), 0.3)).run_test(size=(80, 24)):
        assert formats.LOOK is formats.COLOUR


class Host(App[None]):
    def __init__(self, dialog: ChecklistDialog) -> None:
        super().__init__()
        self.dialog = dialog

    def on_mount(self) -> None:
        self.push_screen(self.dialog)


async def test_a_checklist_item_says_by_its_mark_whether_it_is_ticked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    step = ManualStep.model_validate(
        {"id": "m", "kind": "manual", "title": "Before you go on",
         "checklist": ["Told the team", "Paused the deploys"]}
    )  # fmt: skip
    app = Host(ChecklistDialog(step))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("space")  # the first item, focused
        await pilot.pause()
        lines = [strip.text for strip in app.screen._compositor.render_strips()]
        told = next(line for line in lines if "Told the team" in line)
        paused = next(line for line in lines if "Paused the deploys" in line)
        assert "▐✔▌" in told
        assert "✔" not in paused
        assert "▐ ▌" in paused


async def test_a_long_checklist_item_is_read_whole_at_80_columns() -> None:
    """Wrapped under its mark, not cut with an ellipsis: the end of an item is often
    what to do ("then verify")."""
    item = (
        "A restart in progress (a deploy, a kernel update) answers again within minutes: "
        "wait one, then verify"
    )
    step = ManualStep.model_validate(
        {"id": "m", "kind": "manual", "title": "Nothing listens",
         "checklist": [item, "Its console: is it up?"]}
    )  # fmt: skip
    app = Host(ChecklistDialog(step))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        lines = [strip.text for strip in app.screen._compositor.render_strips()]
        shown = " ".join(
            line.split("▊", 1)[1].rsplit("▎", 1)[0].replace("▐ ▌", "").strip()
            for line in lines
            if "▊" in line and "▔" not in line and "▁" not in line
        )
        assert item in " ".join(shown.split()), lines
        assert "…" not in "".join(lines)
        await pilot.press("space", "tab", "space")
        await pilot.pause()
        done = app.screen.query_one("#checklist-done")
        assert not done.disabled  # both ticked: the wrapped one is one item still
