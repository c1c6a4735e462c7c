"""`opsconsole hosts check NAME` against real sshd's on loopback (tests/support/ssh.py):
reached as the console reaches it, or the cause in a word and ssh's own line; and the
host-unreachable runbook offered for a host the dashboard cannot reach, and only there."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from opsconsole.config.model import load_config
from opsconsole.engine.control import RunOptions
from opsconsole.engine.events import Event, StepFinished
from opsconsole.engine.runner import Runner
from opsconsole.monitoring.offers import offers
from opsconsole.monitoring.snapshot import Breach
from opsconsole.runbooks.model import ManualStep, load_runbooks, shipped_runbooks
from tests.support.commands import run
from tests.support.operators import PROPOSED, ScriptedOperator
from tests.support.runs import of_kind
from tests.support.servers import free_port
from tests.support.ssh import SshHosts


def configured(ssh_hosts: SshHosts, tmp_path: Path, known_hosts: Path | None = None) -> Path:
    options = f'ssh_config = "{ssh_hosts.config}"\ndocker = false\n'
    text = "".join(
        f'[[hosts]]\nname = "{alias}"\nssh = "{alias}"\n{options}' for alias in ("app1", "app2")
    )
    text += f'[[hosts]]\nname = "closed"\nssh = "127.0.0.1"\nport = {free_port()}\n{options}'
    text += '[[hosts]]\nname = "nameless"\nssh = "no-such-host.invalid"\n' + options
    text += '[[services]]\nname = "web"\nhealth_url = "http://127.0.0.1:9/"\n'
    path = tmp_path / "opsconsole.toml"
    path.write_text(text)
    return path


def check(tmp_path: Path, ssh_runtime: Path, name: str) -> subprocess.CompletedProcess[str]:
    return run("hosts", "check", name, cwd=tmp_path, env={"XDG_RUNTIME_DIR": str(ssh_runtime)})


def test_a_host_reached_or_the_cause_in_a_word_with_sshs_own_line(
    ssh_hosts: SshHosts, tmp_path: Path, ssh_runtime: Path
) -> None:
    configured(ssh_hosts, tmp_path)
    reached = check(tmp_path, ssh_runtime, "app1")
    assert reached.returncode == 0, reached.stdout + reached.stderr
    assert reached.stdout.splitlines() == [
        "host app1: ssh app1", "cause=none", "reached: its kept connection is up",
    ]  # fmt: skip
    closed = check(tmp_path, ssh_runtime, "closed")
    assert closed.returncode == 1
    lines = closed.stdout.splitlines()
    assert lines[1] == "cause=refused", closed.stdout
    assert "Connection refused" in lines[2]
    nameless = check(tmp_path, ssh_runtime, "nameless")
    assert nameless.returncode == 1
    assert nameless.stdout.splitlines()[1] == "cause=dns", nameless.stdout
    unknown = check(tmp_path, ssh_runtime, "app9")
    assert unknown.returncode == 2
    assert "no host 'app9' in [[hosts]] (app1, app2, closed, nameless)" in unknown.stderr


def test_a_host_whose_key_is_not_known_says_so_with_its_fingerprint(
    ssh_hosts: SshHosts, tmp_path: Path, ssh_runtime: Path
) -> None:
    # The operator's config, with a known_hosts that lacks app2's key.
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    own = tmp_path / "ssh_config"
    own.write_text(ssh_hosts.config.read_text().replace(str(ssh_hosts.known_hosts), str(empty)))
    path = configured(ssh_hosts, tmp_path)
    path.write_text(path.read_text().replace(str(ssh_hosts.config), str(own)))
    said = check(tmp_path, ssh_runtime, "app2")
    assert said.returncode == 1
    lines = said.stdout.splitlines()
    assert lines[1] == "cause=host_key_unknown", said.stdout
    assert lines[2].startswith("unknown host key SHA256:"), said.stdout


def test_the_host_unreachable_runbook_is_offered_for_a_host_and_only_there(
    ssh_hosts: SshHosts, tmp_path: Path
) -> None:
    config = load_config(configured(ssh_hosts, tmp_path)).config
    library = load_runbooks(shipped_runbooks())
    found = offers(library, [Breach("app2", "unreachable", "Connection refused", None)],
                   config=config)  # fmt: skip
    assert [(o.runbook.id, o.params) for o in found] == [("host-unreachable", {"ssh_host": "app2"})]
    assert found[0].text.startswith("app2 is unreachable: Connection refused: press R")
    backend = offers(library, [Breach("postgres", "unreachable", "refused", None)], config=config)
    assert "host-unreachable" not in [o.runbook.id for o in backend]


async def test_the_runbook_finds_sshd_stopped_and_verifies_once_it_is_back(
    ssh_hosts: SshHosts, tmp_path: Path, ssh_runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """app2's sshd stopped: the runbook proposes 'refused' from ssh's own words; the
    operator brings sshd back from the host's console (its checklist), and the verifying
    step reaches it."""
    monkeypatch.setenv("OPSCONSOLE_CONFIG", str(configured(ssh_hosts, tmp_path)))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(ssh_runtime))
    library = load_runbooks(shipped_runbooks())
    book = library.get("host-unreachable")
    assert book is not None

    done: list[str] = []

    class AtTheConsole(ScriptedOperator):
        async def checklist(self, step: ManualStep) -> bool:
            done.append(step.id)
            ssh_hosts.hosts["app2"].resume()  # systemctl restart ssh, from its console
            return True

    operator = AtTheConsole(answers=[PROPOSED], notes=["sshd stopped; restarted it"])
    events: list[Event] = []
    runner = Runner(
        book, {"ssh_host": "app2"}, operator, events.append,
        RunOptions(environment="test", artifacts=tmp_path / "artifacts"),
    )  # fmt: skip
    ssh_hosts.hosts["app2"].down()
    try:
        result = await runner.run()
    finally:
        ssh_hosts.hosts["app2"].resume()
    assert result.outcome == "completed", result.reason
    proposal = operator.proposals[0]
    assert proposal is not None
    assert proposal.answer.label.startswith("Nothing listens on its ssh port (refused)")
    assert done == ["refused"]
    verified = [e for e in of_kind(events, StepFinished) if e.step == "verify"]
    assert [e.error for e in verified] == [None]
