"""The on-call journey the README walks through, as a new user takes it: the installed
`opsconsole` in tmux at 80x24, from a clean home and a PATH without `.venv/bin`, the
fault set from another process, read off the screen at each step.

Each step waits for what the screen says, never for a fixed time: the dashboard polls on
its own clock (the demo's is 1 s), so a fixed sleep would be either slow or flaky."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.terminal import CLEAN_PATH, OPSCONSOLE, OpenTerminal, Terminal

pytestmark = pytest.mark.e2e

NEW_USER = {"PATH": CLEAN_PATH}
INCIDENT_ID = re.compile(r"Incident (\d{8}-\d{4}-[0-9a-f]{4}) opened")


def opsconsole(*args: str) -> subprocess.CompletedProcess[str]:
    """A command typed in another terminal of the same user (same home, clean PATH)."""
    return subprocess.run(
        [OPSCONSOLE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ | NEW_USER,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def published_config() -> Path:
    """The configuration a running fleet publishes for the other consoles and drills, as
    `demo status` names it."""
    status = opsconsole("demo", "status")
    assert status.returncode == 0, status.stderr
    said = status.stdout.splitlines()[-1]
    assert said.startswith("configuration: ")
    assert said.endswith(" (for --config, here and in drills)")
    path = Path(said.split()[1])
    assert path.parent == Path(os.environ["XDG_STATE_HOME"]) / "opsconsole" / "demo"
    return path


def health_url(service: str) -> str:
    status = opsconsole("demo", "status")
    assert status.returncode == 0, status.stderr
    line = next(line for line in status.stdout.splitlines() if line.split()[0] == service)
    return line.split()[-1]


def the_fleet_up(term: Terminal) -> None:
    term.wait_for("✔ UP", times=5, timeout=30)


def test_breach_runbook_fix_incident_export_and_a_drill_scored_honestly(
    terminal: OpenTerminal,
) -> None:
    # The demo, as the README starts it: no opsconsole on PATH, a home never used.
    console = terminal("demo", env=NEW_USER)
    the_fleet_up(console)
    config = published_config()
    # A second console on the same fleet and store, without colour: states read by symbol.
    other = terminal("--config", str(config), env=NEW_USER | {"NO_COLOR": "1"})
    the_fleet_up(other)

    # A fault set from another terminal.
    fault = opsconsole("demo", "fault", "backend", "down")
    assert fault.returncode == 0, fault.stderr
    screen = console.wait_for("✖ DOWN", "connection refused", "press R for runbook 'Demo fleet")
    assert re.search(r"backend\s+✖ DOWN", screen)

    # The incident, opened before the fix so that the run is recorded into it; its draft
    # takes the breach and the severity of the runbook offered for it (the demo's: P3).
    console.press("i")
    screen = console.wait_for("open an incident", "backend is DOWN")
    assert "P3" in screen
    console.press("Enter")
    screen = console.wait_for("opened:", "INVESTIGATING")
    found = INCIDENT_ID.search(" ".join(screen.split()))
    assert found, screen
    incident = found.group(1)
    # ... and announced on the other console.
    screen = other.wait_for("opened incident", timeout=15)
    assert incident in screen

    # The cursor on the row that breaches (the third), R: the runbook filled in for it.
    console.press("Down", "Down")
    console.press("R")
    url = health_url("backend")
    screen = console.wait_for("run: Demo fleet", url)
    assert re.search(r"^\W*backend\W*$", screen, re.MULTILINE)  # the service field
    console.press("Enter")

    # The destructive step asks for the service's name; an empty answer asks again.
    console.wait_for("Type backend to run it", timeout=30)
    console.press("Enter")
    console.wait_for("nothing typed: type backend to run it")  # asked again, not refused
    console.type("backend")
    console.press("Enter")

    # The fix, the verifying check, then the note the runbook ends with.
    screen = console.wait_for("Which fault was it", timeout=30)
    assert "✔ Verify health" in screen
    console.type("backend was down, restarted without its fault")
    console.press("Enter")
    screen = console.wait_for(f"Move {incident} to MONITORING?")
    console.press("y")
    console.wait_for("completed: every step done", "MONITORING")

    # The update, from another terminal, as it is pasted into the channel.
    markdown = opsconsole("incidents", "export", incident, "--format", "md")
    assert markdown.returncode == 0, markdown.stderr
    for said in (
        "# Subject: [INCIDENT] backend is DOWN",
        "**Status:** MONITORING",
        "**Severity:** P3",
        "backend was down, restarted without its fault",
        "demo-service / restart: confirmed by",
        "demo-service / restart: exit 0",
        "demo-service / verify: exit 0",
        "verifying check 'Verify health' passed",
    ):
        assert said in markdown.stdout, said
    slack = opsconsole("incidents", "export", incident, "--format", "slack")
    assert slack.returncode == 0, slack.stderr
    assert "*Status:* MONITORING" in slack.stdout
    assert "**" not in slack.stdout
    assert "\n#" not in slack.stdout

    # A trainee's drill on the same fleet: the run the trainee starts fails (the restart
    # is refused), the service is brought back another way, and the report says so.
    trainee = terminal("drill", "--config", str(config), "demo-service-down", env=NEW_USER)
    trainee.wait_for("DRILL", "✖ DOWN", "press R for runbook", timeout=30)
    trainee.press("R")
    trainee.wait_for("run: Demo fleet", url)
    trainee.press("Enter")
    trainee.wait_for("Type backend to run it", timeout=30)
    trainee.press("Escape")
    trainee.wait_for("aborted: 'Restart the service")  # the status line: no toast covers it
    clear = opsconsole("demo", "clear", "backend")
    assert clear.returncode == 0, clear.stderr
    screen = trainee.wait_for("Drill report", "the right runbook completed: never", timeout=60)
    reports = Path(os.environ["XDG_STATE_HOME"]) / "opsconsole" / "drills" / "reports"
    (report,) = reports.glob("*.md")
    text = report.read_text()
    assert "+50 recovered in" in text
    assert "+0 the runbook that fixes it did not complete: demo-service: aborted" in text
    assert "Restart the service without its fault" in text  # the failed step, named
    score = int(re.search(r"Score:\*\* (\d+) / 100", text).group(1))  # type: ignore[union-attr]
    assert score <= 60

    # Quitting with the incident open asks first; the incident stays for the others.
    console.press("Escape")
    console.wait_for("SERVICE", "HEALTH")  # the dashboard: Escape then q at once is Alt+q
    console.press("q")
    console.wait_for("stays MONITORING")
    console.press("y")
    console.wait_for("EXITED rc=0")
    listed = opsconsole("incidents", "list")
    assert incident in listed.stdout
    assert "MONITORING" in listed.stdout
