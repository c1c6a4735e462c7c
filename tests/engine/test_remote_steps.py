"""Runbook steps on a host of [[hosts]]: run there through ssh (a real sshd on loopback,
tests/support/ssh.py), a value still one argument on the remote side, the remote
command's own exit status, a timeout that leaves nothing running on the host, the host
in the incident log, and the whole ssh command line shown by --dry-run."""

from __future__ import annotations

import asyncio
import base64
import re
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from opsconsole.config.model import load_config
from opsconsole.engine.control import RunOptions
from opsconsole.engine.events import Event, StepFinished
from opsconsole.engine.runner import Runner
from opsconsole.runbooks.model import shipped_runbooks
from tests.support.commands import OPSCONSOLE, run
from tests.support.operators import ScriptedOperator
from tests.support.runbooks import book
from tests.support.servers import free_port
from tests.support.ssh import SshHosts

RUNBOOKS = """\
[[runbooks]]
id = "on-host"
title = "On a host"
summary = "Steps that run where the service runs"

[[runbooks.params]]
name = "service_host"
description = "Where"
default = ""

[[runbooks.params]]
name = "value"
description = "Anything an operator may type"
default = "plain"

[[runbooks.params]]
name = "marker"
description = "A file an injection would create"
default = "/nonexistent"

[[runbooks.params]]
name = "empty"
description = "An empty value: still an argument"
default = ""

[[runbooks.params]]
name = "dash"
description = "A value that reads as an option"
default = "-n"

[[runbooks.steps]]
id = "where"
kind = "command"
title = "Which host"
host = "{service_host}"
argv = ["printenv", "OPSCONSOLE_TEST_HOST"]

[[runbooks.steps]]
id = "args"
kind = "command"
title = "Each argument on its own line"
host = "{service_host}"
argv = ["printf", "[%s]\\\\n", "{value}", "{marker}", "{empty}", "{dash}"]

[[runbooks.steps]]
id = "status"
kind = "command"
title = "The remote exit status"
host = "{service_host}"
argv = ["sh", "-c", "echo failing; exit 3"]
expect = { exit_codes = [3] }

[[runbooks.steps]]
id = "here"
kind = "command"
title = "This machine"
argv = ["sh", "-c", "echo local=${OPSCONSOLE_TEST_HOST:-none}"]

[[runbooks]]
id = "hang"
title = "A command that hangs on the host"
summary = "Its timeout ends it there"

[[runbooks.params]]
name = "service_host"
description = "Where"

[[runbooks.params]]
name = "pidfile"
description = "Where the remote command writes its pid"

[[runbooks.steps]]
id = "hang"
kind = "command"
title = "Sleep, and a child that sleeps"
host = "{service_host}"
timeout_seconds = 2
argv = [
    "sh", "-c", "sleep 300 & echo $! > \\"$1\\"; echo \\"$$\\" >> \\"$1\\"; echo started; wait",
    "sh", "{pidfile}",
]

[[runbooks]]
id = "leaves"
title = "A command that leaves a child behind, deaf to TERM"
summary = "What it leaves is ended on the host, as here"

[[runbooks.params]]
name = "service_host"
description = "Where"

[[runbooks.params]]
name = "pidfile"
description = "Where the child writes its pid"

[[runbooks.steps]]
id = "leave"
kind = "command"
title = "Leave a child"
host = "{service_host}"
argv = [
    "sh", "-c", "(trap '' TERM; exec sleep 31) & echo $! > \\"$1\\"; echo left", "sh", "{pidfile}",
]

[[runbooks.steps]]
id = "fail"
kind = "command"
title = "Exit 255, as ssh does when it fails"
host = "{service_host}"
argv = ["sh", "-c", "echo said on stderr >&2; exit 255"]
"""


@dataclass
class Workdir:
    path: Path
    env: dict[str, str]


@pytest.fixture
def workdir(ssh_hosts: SshHosts, tmp_path: Path, ssh_runtime: Path) -> Workdir:
    """A config with app1, app2 and a host nothing answers on, and the runbooks above;
    kept connections of its own (ssh_runtime)."""
    (tmp_path / "opsconsole.toml").write_text(
        "".join(
            f'[[hosts]]\nname = "{alias}"\nssh = "{alias}"\nssh_config = "{ssh_hosts.config}"\n'
            "docker = false\n"  # only its steps here, no container watched
            for alias in ("app1", "app2")
        )
        + '[[hosts]]\nname = "nowhere"\nssh = "127.0.0.1"\n'
        f'port = {free_port()}\nssh_config = "{ssh_hosts.config}"\ndocker = false\n'
        '[[services]]\nname = "web"\nhealth_url = "http://127.0.0.1:9/"\nhost = "app1"\n'
    )
    (tmp_path / "runbooks.toml").write_text(RUNBOOKS)
    state = str(tmp_path / "state")
    return Workdir(tmp_path, {"XDG_RUNTIME_DIR": str(ssh_runtime), "XDG_STATE_HOME": state})


def on_host(workdir: Workdir, *args: str) -> subprocess.CompletedProcess[str]:
    return run("run", *args, "--runbooks", "runbooks.toml", cwd=workdir.path, env=workdir.env)


def test_a_step_runs_on_its_host_with_each_value_one_argument(workdir: Workdir) -> None:
    marker = workdir.path / "injected"
    attempt = (
        f"x'; touch {marker}; echo '$(touch {marker})`touch {marker}`\"; touch {marker}"
        f"\n; touch {marker} \\"
    )
    ran = on_host(
        workdir, "on-host", "--param", "service_host=app1", "--param", f"value={attempt}",
        "--param", f"marker={marker}",
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    lines = ran.stdout.splitlines()
    # The remote session's own name: sshd of app1 sets it, nothing on this side has it.
    assert "   app1 $ printenv OPSCONSOLE_TEST_HOST" in lines, ran.stdout
    assert "   app1" in lines
    # Both values arrived as they were typed, each one argument, and no command ran.
    first, second = attempt.split("\n")
    assert f"   [{first}" in lines, ran.stdout
    assert f"   {second}]" in lines
    assert f"   [{marker}]" in lines
    assert "   []" in lines  # the empty value
    assert "   [-n]" in lines  # taken by printf as a value, not an option
    assert not marker.exists()
    # The remote command's own status: 3, as the step expects (not ssh's 255).
    assert "   failing" in lines
    assert "   ok: exit 3" in "\n".join(lines)
    # A step without a host runs here.
    assert "   $ sh -c 'echo local=${OPSCONSOLE_TEST_HOST:-none}'" in lines
    assert "   local=none" in lines
    assert ran.stderr == ""  # nothing of ssh's own on the screen


def test_the_other_host_answers_as_itself(workdir: Workdir) -> None:
    ran = on_host(workdir, "on-host", "--param", "service_host=app2")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "   app2" in ran.stdout.splitlines()


def test_a_timeout_leaves_nothing_running_on_the_host(workdir: Workdir) -> None:
    pidfile = workdir.path / "hang.pids"
    ran = on_host(workdir, "hang", "--param", "service_host=app1", "--param", f"pidfile={pidfile}")
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "FAILED: timed out after 2 s" in ran.stdout, ran.stdout
    assert "   started" in ran.stdout
    # The sleep and the shell that waited for it: run by sshd, ended there too.
    pids = [int(line) for line in pidfile.read_text().split()]
    assert len(pids) == 2
    assert until_gone(pids), [p for p in pids if alive(p)]


def test_a_console_that_dies_leaves_nothing_running_on_the_host(workdir: Workdir) -> None:
    """Killed outright (no cleanup of its own): its end of the channel closes with it."""
    pidfile = workdir.path / "hang.pids"
    console = subprocess.Popen(
        [OPSCONSOLE, "run", "hang", "--runbooks", "runbooks.toml", "--param",
         "service_host=app1", "--param", f"pidfile={pidfile}"],
        cwd=workdir.path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(workdir.path), **workdir.env},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while len(pidfile.read_text().split() if pidfile.exists() else []) < 2:
            assert time.monotonic() < deadline, "the remote command never started"
            time.sleep(0.05)
        console.send_signal(signal.SIGKILL)
    finally:
        console.wait(10)
    pids = [int(line) for line in pidfile.read_text().split()]
    assert until_gone(pids), [p for p in pids if alive(p)]


def test_an_unreachable_host_fails_the_step_with_sshs_reason(workdir: Workdir) -> None:
    ran = on_host(workdir, "on-host", "--param", "service_host=nowhere")
    assert ran.returncode == 1
    assert "FAILED: nowhere unreachable: ssh: connect to host 127.0.0.1 port" in ran.stdout
    assert "Connection refused" in ran.stdout


def test_a_host_the_configuration_lacks_is_refused_before_anything_runs(workdir: Workdir) -> None:
    ran = on_host(workdir, "on-host", "--param", "service_host=app9")
    assert ran.returncode == 2
    assert ran.stderr == (
        "opsconsole: no host 'app9' in the configuration's [[hosts]] (app1, app2, nowhere)\n"
    )
    assert ">>" not in ran.stdout  # nothing started, not even the step run here


def test_dry_run_prints_the_whole_ssh_command_line(workdir: Workdir) -> None:
    ran = on_host(workdir, "on-host", "--dry-run", "--param", "service_host=app1",
                  "--param", "value=a b")  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    via = [line for line in ran.stdout.splitlines() if line.startswith("   via: ")]
    assert len(via) == 3, ran.stdout  # the three steps on app1; none for the local one
    assert via[0].startswith("   via: ssh -T -F ")
    assert "BatchMode=yes" in via[0]
    assert "StrictHostKeyChecking=yes" in via[0]
    assert " -- app1 " in via[0]
    # What the host's login shell reads: sh, single quotes and base64; what sh decodes:
    # the wrapper, then argv, each element quoted for sh.
    ssh_argv = shlex.split(via[1].removeprefix("   via: "))
    line = ssh_argv[-1]
    encoded = re.fullmatch(r"""sh -c 'eval "\$\(echo ([A-Za-z0-9+/=]+) \| base64 -d\)"'""", line)
    assert encoded is not None, line
    script = base64.b64decode(encoded[1]).decode()
    assert script.endswith("opsconsole-step printf '[%s]\\n' 'a b' /nonexistent '' -n"), script
    assert "   app1 $ printf '[%s]\\n' 'a b' /nonexistent '' -n  (dry run: not executed)" in (
        ran.stdout
    )


def test_what_a_step_leaves_behind_is_ended_and_a_255_is_said_as_either(
    workdir: Workdir,
) -> None:
    pidfile = workdir.path / "left.pid"
    ran = on_host(
        workdir, "leaves", "--param", "service_host=app1", "--param", f"pidfile={pidfile}"
    )
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "   left" in ran.stdout
    # Deaf to TERM: KILLed by the wrapper on the host once its command was over.
    assert until_gone([int(pidfile.read_text())], within=4)
    assert (
        "FAILED: exit 255: ssh to app1 failed, or the command did: said on stderr" in ran.stdout
    ), ran.stdout


async def test_an_abort_while_the_host_is_being_reached_runs_nothing(
    ssh_hosts: SshHosts, workdir: Workdir, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host takes the connection and says nothing (its sshd hung): the operator aborts
    while the console waits for it; the confirmed command must not run after all."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", workdir.env["XDG_RUNTIME_DIR"])
    config = load_config(workdir.path / "opsconsole.toml").config
    marker = workdir.path / "restarted"
    step = {"id": "restart", "kind": "command", "title": "Restart", "host": "app2",
            "destructive": True, "description": "Restarts it", "confirm": "web",
            "argv": ["touch", str(marker)]}  # fmt: skip
    events: list[Event] = []
    runner = Runner(
        book(steps=[step]), {}, ScriptedOperator(confirm_with="web"), events.append,
        RunOptions(environment="test", artifacts=workdir.path / "a", hosts=config.hosts_by_name()),
    )  # fmt: skip
    ssh_hosts.hosts["app2"].freeze()
    try:
        running = asyncio.create_task(runner.run())
        await asyncio.sleep(1)
        runner.abort()
    finally:
        # Back at once: the connection gets through, after the abort.
        ssh_hosts.hosts["app2"].freeze(False)
    result = await asyncio.wait_for(running, 10)
    assert result.outcome == "aborted", result
    finished = [e for e in events if isinstance(e, StepFinished)]
    assert [e.error for e in finished] == ["aborted while reaching the host"]
    await asyncio.sleep(3)  # the connection the thread was opening is up by now
    assert not marker.exists()


def test_the_incident_log_records_the_host_with_the_command(workdir: Workdir) -> None:
    opened = run(
        "incidents", "open", "--severity", "p2", "--title", "web slow", cwd=workdir.path,
        env=workdir.env,
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    incident = opened.stdout.split()[0]
    ran = on_host(workdir, "on-host", "--param", "service_host=app1", "--incident", incident)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    shown = run("incidents", "show", incident, cwd=workdir.path, env=workdir.env)
    assert "app1 $ printenv OPSCONSOLE_TEST_HOST" in shown.stdout, shown.stdout
    exported = run("incidents", "export", incident, cwd=workdir.path, env=workdir.env)
    assert "app1 $ printenv OPSCONSOLE_TEST_HOST" in exported.stdout, exported.stdout


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def until_gone(pids: list[int], within: float = 6) -> bool:
    """The remote side ends the command once the channel's input closes: TERM at once,
    KILL two seconds later."""
    deadline = time.monotonic() + within
    while any(alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_run_sends_a_services_docker_steps_to_its_host_unasked(workdir: Workdir) -> None:
    """`opsconsole run service-down --param service=web`, web on app1: as the dashboard's
    offer does, its docker steps go to app1, not to this machine's engine."""
    ran = run(
        "run", "service-down", "--dry-run", "--param", "service=web", "--param",
        "container=web", "--runbooks", str(shipped_runbooks()), cwd=workdir.path,
        env=workdir.env,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "web runs on app1: its docker steps run there" in ran.stdout
    assert "   app1 $ docker start web  (DESTRUCTIVE: asks for 'web'" in ran.stdout
    assert "   $ docker" not in ran.stdout  # none of them here
