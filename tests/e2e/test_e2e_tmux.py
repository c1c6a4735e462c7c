"""The installed ``opsconsole``, in a real terminal (tmux at 80x24), read off the screen."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from opsconsole.demo.service import DemoService
from tests.support.servers import free_port
from tests.support.terminal import OpenTerminal

pytestmark = pytest.mark.e2e


def test_demo_shows_the_fleet_up_at_80x24_and_quits_on_q(terminal: OpenTerminal) -> None:
    term = terminal("demo")
    # Panes are drawn on their own clock: wait for them too, not only the services.
    screen = term.wait_for(
        "nl-fhir", "hapi-fhir", "backend", "frontend", "nginx", "HTTP 200", "not configured"
    )
    assert screen.count("✔ UP") == 5
    assert "demo @ " in screen  # the environment, in the header
    assert "Quit" in screen
    assert "Refresh" in screen
    assert "not configured" in screen  # absent backends say so
    term.press("?")
    term.wait_for("DEGRADED", "Checks repeat")
    term.press("Escape")
    time.sleep(0.5)
    term.press("q")
    term.wait_for("EXITED rc=0")


def test_configured_services_show_up_and_down_with_the_reason(
    terminal: OpenTerminal, tmp_path: Path
) -> None:
    service = DemoService("payments")
    service.start()
    try:
        (tmp_path / "opsconsole.toml").write_text(
            '[console]\nenvironment = "production"\nrefresh_seconds = 1\n\n'
            f'[[services]]\nname = "payments"\nhealth_url = "{service.health_url}"\n\n'
            f'[[services]]\nname = "ledger"\nhealth_url = "http://127.0.0.1:{free_port()}/health"\n'
        )
        term = terminal()  # no arguments: finds ./opsconsole.toml
        screen = term.wait_for("payments", "✔ UP", "ledger", "✖ DOWN", "connection refused")
        assert "production @ " in screen
        service.stop()
        screen = term.wait_for("✖ DOWN", "connection refused", times=2, timeout=10)
        assert "✔ UP" not in screen
        service.start()  # the same port again: it must come back by itself
        term.wait_for("✔ UP", timeout=10)
        term.press("q")
        term.wait_for("EXITED rc=0")
    finally:
        service.stop()


def test_a_configuration_that_does_not_validate_ends_the_console_with_every_problem_whole(
    terminal: OpenTerminal, tmp_path: Path
) -> None:
    """In a terminal the first frame is out before the configuration is validated; a
    configuration that does not validate then ends the console, each problem printed
    whole (not wrapped at the terminal's width) and exit 2, as `check` would say."""
    (tmp_path / "opsconsole.toml").write_text(
        '[console]\nenvironment = "production"\nrefresh_secnds = 2\n\n'
        '[[services]]\nname = "payments"\nhealth_url = "ftp://nowhere/health"\n'
    )
    term = terminal()
    term.wait_for("EXITED rc=2")
    lines = term.screen(joined=True).splitlines()
    assert lines[:3] == [
        "opsconsole.toml:3:1: unknown key 'console.refresh_secnds' "
        "(did you mean 'refresh_seconds'?)",
        "opsconsole.toml:7:14: services[0].health_url: should be a URL starting with "
        "http:// or https://",
        "opsconsole: not started; `opsconsole check` lists these too.",
    ]  # and the terminal is the shell's again: the frame is gone
