"""Reading and driving the screen as an operator does, through Textual's Pilot."""

from __future__ import annotations

from collections.abc import Callable

from textual.command import Command, CommandList
from textual.pilot import Pilot

from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.widgets.services_table import ServicesTable


async def wait_for(pilot: Pilot[None], condition: Callable[[], bool], seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("the screen never showed it")


async def palette(pilot: Pilot[None], app: OpsConsoleApp, query: str) -> list[str]:
    """What Ctrl+P lists for `query`, as the operator sees it; the palette stays open."""
    await pilot.press("ctrl+p", *query)
    await pilot.pause(0.5)
    listed = app.screen.query_one(CommandList)
    return [str(option.hit.text) for option in listed.options if isinstance(option, Command)]


def cell(app: OpsConsoleApp, name: str, column: str) -> str:
    table = app.screen.query_one(ServicesTable)
    return str(table.get_cell(name, column))


def health(app: OpsConsoleApp, name: str) -> str:
    try:
        return cell(app, name, "health")
    except Exception:
        return ""


def screen_lines(app: OpsConsoleApp) -> list[str]:
    """What the terminal shows, line by line, as the compositor draws it."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def body(app: OpsConsoleApp) -> str:
    return str(app.screen.query_one("#service-body-text").render())


def toasts(app: OpsConsoleApp) -> list[str]:
    """The notifications on screen, each as one line (a toast wraps its text)."""
    return [" ".join(str(toast.render()).split()) for toast in app.screen.query("Toast")]
