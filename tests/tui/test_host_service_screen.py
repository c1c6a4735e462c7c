"""A service whose host goes out of reach, up close: its container's figures are said to
be the last known, under ssh's reason, and its logs say why they stopped in ssh's words
(real sshd on loopback, tests/support/ssh.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opsconsole.tui.app import make_app
from opsconsole.tui.screens.service import ServiceScreen
from tests.sources.test_ssh_hosts import config_of, containers, own_control_dir
from tests.support.configs import with_refresh
from tests.support.pilot import screen_lines, wait_for
from tests.support.ssh import SshHosts

# The fixtures, used here as there: own_control_dir closes each test's kept connections.
__all__ = ["containers", "own_control_dir"]


async def test_a_host_out_of_reach_shows_its_containers_last_known_state_and_why(
    ssh_hosts: SshHosts, containers: list[Any], tmp_path: Path
) -> None:
    app = make_app(with_refresh(config_of(ssh_hosts, tmp_path), 0.5))
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_service("web2")
        await wait_for(pilot, lambda: isinstance(app.screen, ServiceScreen))

        def shown() -> str:
            return "\n".join(screen_lines(app))

        await wait_for(pilot, lambda: "state running" in shown(), 20)
        assert "last known" not in shown()
        ssh_hosts.hosts["app2"].down()
        try:
            await wait_for(pilot, lambda: "last known:" in shown(), 20)
            text = shown()
            assert "✖ app2: ssh: connect to host" in text, text
            assert "state running" in text  # what was last seen, under it
            # The logs: why they stopped, in ssh's words, not the transport's.
            await wait_for(pilot, lambda: "── app2: ssh: connect to host" in shown(), 20)
            # Whole, as the panes wrap or cut it: ssh's own line, with its port.
            pane = str(app.screen.query_one("#service-container").render())
            port = ssh_hosts.hosts["app2"].port
            assert f"port {port}: Connection refused, since " in pane, pane
            assert "RemoteDisconnected" not in shown()
            assert "Connection aborted" not in shown()
        finally:
            ssh_hosts.hosts["app2"].resume()
        await wait_for(pilot, lambda: "last known" not in shown(), 20)


async def test_a_host_out_of_reach_from_the_start_shows_nothing_as_known(
    ssh_hosts: SshHosts, containers: list[Any], tmp_path: Path
) -> None:
    """Never seen: no last state to show, and none made up ("missing", "0/1 running")."""
    ssh_hosts.hosts["app2"].down()
    try:
        app = make_app(with_refresh(config_of(ssh_hosts, tmp_path), 0.5))
        async with app.run_test(size=(120, 40)) as pilot:

            def shown() -> str:
                return "\n".join(screen_lines(app))

            await wait_for(pilot, lambda: "✖ app2: ssh: connect to h" in shown(), 20)
            await wait_for(pilot, lambda: "app1: running" in shown(), 20)
            text = shown()
            assert "app2: not seen" in text, text
            assert "1 container: not seen yet" in text
            assert "missing" not in text
            assert "0/1 running" not in text
    finally:
        ssh_hosts.hosts["app2"].resume()


async def test_this_machines_engine_down_beside_hosts_is_said_as_its_own(
    ssh_hosts: SshHosts, containers: list[Any], tmp_path: Path
) -> None:
    """A service of this machine, its engine not answering, beside hosts that do: its
    pane says so in its own words, with nothing made up of its container."""
    from opsconsole.config.model import Config

    hosts = config_of(ssh_hosts, tmp_path)
    config = Config.model_validate(
        {**hosts.model_dump(mode="json"),
         "docker": {"base_url": f"unix://{tmp_path}/no-docker.sock"},
         "services": [*hosts.model_dump(mode="json")["services"],
                      {"name": "here", "health_url": "http://127.0.0.1:9/",
                       "container": "here-1"}]}
    )  # fmt: skip
    app = make_app(with_refresh(config, 0.5))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.open_service("here")
        await wait_for(pilot, lambda: isinstance(app.screen, ServiceScreen))
        await pilot.pause()
        screen = app.screen

        def pane() -> str:
            return str(screen.query_one("#service-container").render())

        await wait_for(pilot, lambda: "this machine's docker:" in pane(), 20)
        assert pane().startswith("✖ this machine's docker: "), pane()
        assert "not seen yet" in pane()
        assert "None" not in pane()
        assert "state" not in pane()  # no figures it never read
