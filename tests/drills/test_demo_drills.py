"""Drills on the demo fleet: a real `opsconsole demo serve` in a process of its own, its
services made down, slow, erroring or flapping through its control channel, and each
brought back by the demo-service runbook under `opsconsole drill run --auto`; from the
dashboard of `opsconsole demo`, Ctrl+P offers them."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from opsconsole.demo.control import ControlServer
from opsconsole.demo.fleet import DemoFleet
from opsconsole.drills.demo_faults import DemoFault
from opsconsole.drills.model import load_drills, shipped_drills
from opsconsole.runbooks.model import load_runbooks, shipped_runbooks
from opsconsole.tui.app import make_app
from tests.support.commands import OPSCONSOLE, drill
from tests.support.console import propose_drill, wait_injected
from tests.support.pilot import palette

# What a new user's shell holds after `./scripts/demo`: no opsconsole on it. The demo's
# runbook calls `opsconsole demo restart`, which must still be this console.
PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass
class Served:
    config: Path
    home: Path

    def opsconsole(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [OPSCONSOLE, *args], capture_output=True, text=True, timeout=30,
            env={"PATH": PATH, "HOME": str(self.home)}, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def start_drill(self, scenario: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [OPSCONSOLE, "drill", "--config", str(self.config), "run", scenario, "--auto"],
            cwd=self.home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={"PATH": PATH, "HOME": str(self.home)}, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def drill(self, *args: str) -> subprocess.CompletedProcess[str]:
        return drill("--config", str(self.config), *args, cwd=self.home, env={"PATH": PATH})


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """`opsconsole demo serve`: the fleet, as another terminal of the same user runs it."""
    fleet = subprocess.Popen(
        [OPSCONSOLE, "demo", "serve"], stdout=subprocess.PIPE, text=True,
        env={"PATH": PATH, "HOME": str(tmp_path)}, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert fleet.stdout is not None
    first = fleet.stdout.readline()
    assert first.startswith("demo fleet running; its configuration: "), first
    try:
        yield Served(Path(first.split(": ", 1)[1].strip()), tmp_path)
    finally:
        fleet.send_signal(signal.SIGTERM)
        assert fleet.wait(10) == 0


def test_a_second_fleet_that_quits_leaves_the_first_one_reachable(served: Served) -> None:
    """`demo serve` in one terminal, `opsconsole demo` in another, then `q` there: the
    first fleet still answers `demo status`, and the configuration it published for
    `drill --config` is still there."""
    second = subprocess.Popen(
        [OPSCONSOLE, "demo", "serve"], stdout=subprocess.PIPE, text=True,
        env={"PATH": PATH, "HOME": str(served.home)}, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert second.stdout is not None
    its_config = Path(second.stdout.readline().split(": ", 1)[1].strip())
    assert its_config != served.config
    assert served.opsconsole("demo", "status").returncode == 0
    second.send_signal(signal.SIGTERM)
    assert second.wait(10) == 0

    status = served.opsconsole("demo", "status")
    assert status.returncode == 0, status.stderr
    assert "nl-fhir" in status.stdout
    assert served.config.exists()
    assert not its_config.exists()  # what the second published went with it
    assert served.drill("list").returncode == 0


def broken_line(stdout: str) -> str:
    return next(line for line in stdout.splitlines() if "steady state broken" in line)


def test_a_demo_service_down_is_brought_back_by_its_runbook(served: Served) -> None:
    ran = served.drill("run", "demo-service-down", "--auto")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "· fault injected: demo service backend: down" in ran.stdout
    assert "backend is DOWN" in broken_line(ran.stdout)
    assert "backend      down" in ran.stdout  # what the runbook's status step showed
    assert "$ opsconsole demo restart backend" in ran.stdout
    assert "✔ demo-service-down: broken after" in ran.stdout
    status = served.opsconsole("demo", "status")
    assert "backend      none" in status.stdout


def test_all_drills_on_the_demo_skip_those_that_do_not_apply_and_pass(served: Served) -> None:
    """`drill run --all --auto` proves every runbook this configuration can: a scenario
    whose target it does not have is said not to apply, and is no failure."""
    shipped = shipped_drills().read_text()
    down = shipped[shipped.index('[[drills]]\nid = "demo-service-down"') :]
    down = down[: down.index("\n[[drills]]")]
    pool = shipped[shipped.index('[[drills]]\nid = "postgres-pool-exhausted"') :]
    pool = pool[: pool.index("\n[[drills]]")]
    (served.home / "drills.toml").write_text(f"{pool}\n\n{down}\n")
    ran = served.drill("--drills", "drills.toml", "run", "--all", "--auto")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "-- drill postgres-pool-exhausted: does not apply here:" in ran.stdout
    assert "✔ demo-service-down: broken after" in ran.stdout
    assert "1 of 1 drills passed; 1 do not apply here: postgres-pool-exhausted" in ran.stdout


def test_slow_erroring_and_flapping_demo_services_are_each_brought_back_by_their_runbook(
    served: Served,
) -> None:
    """The dashboard's P95 and error rate are over its last minute: each drill takes a
    minute to settle, so the three run at once, on three services."""
    scenarios = ("demo-service-slow", "demo-service-erroring", "demo-service-flapping")
    running = {scenario: served.start_drill(scenario) for scenario in scenarios}
    said = {scenario: drilled.communicate(timeout=240)[0] for scenario, drilled in running.items()}
    for scenario, drilled in running.items():
        assert drilled.returncode == 0, said[scenario]
        assert f"✔ {scenario}: broken after" in said[scenario]
    # What the dashboard sees of each: a health check that answers slowly (DEGRADED, not
    # DOWN: slow is not gone), an error rate with health still UP, a health that goes DOWN
    # (and an error rate that stays up between).
    assert "nginx is DEGRADED" in broken_line(said["demo-service-slow"])
    assert "error rate of frontend is" in broken_line(said["demo-service-erroring"])
    assert "hapi-fhir is DOWN" in broken_line(said["demo-service-flapping"])
    status = served.opsconsole("demo", "status").stdout
    for service in ("nginx", "frontend", "hapi-fhir"):
        assert f"{service:<12} none" in status


def test_a_demo_service_not_marked_sandbox_is_refused(served: Served) -> None:
    served.config.write_text(served.config.read_text().replace("sandbox = true", "sandbox = false"))
    ran = served.drill("run", "demo-service-down", "--auto")
    assert ran.returncode == 1
    assert "refused: target backend is not marked sandbox = true" in ran.stdout
    assert "backend      none" in served.opsconsole("demo", "status").stdout


def test_without_a_running_fleet_the_demo_commands_say_so(served: Served, tmp_path: Path) -> None:
    unknown = served.opsconsole("demo", "fault", "billing", "down")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("opsconsole: no demo service 'billing' (there are: nl-fhir,")

    elsewhere = tmp_path / "elsewhere"  # another user's state directory: no fleet there
    elsewhere.mkdir()
    alone = subprocess.run(
        [OPSCONSOLE, "demo", "clear", "backend"], capture_output=True, text=True, timeout=30,
        env={"PATH": PATH, "HOME": str(elsewhere)},
    )  # fmt: skip
    assert alone.returncode == 1
    assert alone.stderr.strip() == (
        "opsconsole: no demo fleet is running: start one with `opsconsole demo` "
        "(or `opsconsole demo serve`, without the dashboard)"
    )


def test_a_fault_left_by_a_fleet_that_has_stopped_is_undone_with_nothing_to_clear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    fault = DemoFault("backend", "erroring")
    with DemoFleet(traffic_rate=0) as fleet, ControlServer(fleet):
        assert fault.inject() == "demo service backend: erroring"
        assert fleet.services["backend"].settings.fault == "erroring"
    assert fault.undo().startswith("no demo fleet is running")
    assert list((tmp_path / "state" / "opsconsole" / "demo").iterdir()) == []


async def test_the_demo_dashboard_offers_its_drills_and_one_goes_through_the_channel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    library = load_runbooks(shipped_runbooks())
    book = load_drills(shipped_drills(), library)
    with DemoFleet(traffic_rate=0) as fleet, ControlServer(fleet):
        backend = fleet.services["backend"]
        app = make_app(fleet.config(), library=library, drills=book)
        async with app.run_test(size=(100, 30)) as pilot:
            offered = [t for t in await palette(pilot, app, "Drill:") if t.startswith("Drill:")]
            await pilot.press("escape")
            assert offered == [
                "Drill: A demo service down",
                "Drill: A demo service slow",
                "Drill: A demo service erroring",
                "Drill: A demo service flapping",
            ]  # and none of PostgreSQL, Redis or Docker: this configuration has none
            await propose_drill(pilot, app, "A demo service down")
            await pilot.press("y")
            await wait_injected(pilot, app)
            async with httpx.AsyncClient(timeout=5) as client:
                with pytest.raises(httpx.ConnectError):
                    await client.get(backend.health_url)
        # Quitting mid-drill undid it.
        assert backend.settings.fault == "none"
        async with httpx.AsyncClient(timeout=5) as client:
            assert (await client.get(backend.health_url)).status_code == 200
