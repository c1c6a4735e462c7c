"""How the console reaches a host: the system's ssh client, as the operator's own `ssh`
does (their ssh config, agent and known hosts), with what the console needs on top:

- never a prompt (BatchMode): a key's passphrase comes from the agent, or the host is
  unreachable with ssh's own reason; the console never asks for one, nor stores it;
- an unknown host key refused (StrictHostKeyChecking=yes), whatever the operator's
  config says: accepting one silently is what a man in the middle waits for;
- connections kept and shared by every call (ControlMaster), in a directory of the
  user's own with a short path (a socket's path has a length limit): one a host, or a
  few "lanes" where more sessions must run at once than sshd lets one connection hold
  (MaxSessions, 10 by default: past it, ssh would log in anew for each);
- a dead host noticed within seconds (ConnectTimeout, ServerAlive*)."""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
import tempfile
import threading
from pathlib import Path

from opsconsole.config.model import HostSection

CONNECT_SECONDS = 3
"""Under the 4 s a host's poll has (sources/hosts.py): a host that cannot be reached is
said in ssh's words, not as "no answer"."""
KEEP_SECONDS = 120
"""How long a host's shared connection stays open after its last use."""


def control_dir() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    directory = Path(base) / f"opsconsole-ssh-{os.getuid()}"
    directory.mkdir(mode=0o700, exist_ok=True)
    # Not followed if a link: another user's directory (or a link to one, swapped in
    # later) could serve their own sockets under our names, and made-up answers.
    found = os.lstat(directory)
    if stat.S_ISLNK(found.st_mode) or found.st_uid != os.getuid() or found.st_mode & 0o077:
        raise PermissionError(f"{directory} is not this user's own directory (mode 700)")
    return directory


SESSIONS_A_LANE = 8
"""Sessions at once on one kept connection: under sshd's default MaxSessions (10)."""


def ssh_options(host: HostSection, lane: int = 0) -> list[str]:
    """ssh's options for this host, before its destination; `lane`: which of its kept
    connections."""
    options: list[str] = []
    if host.ssh_config:
        options += ["-F", os.path.expanduser(host.ssh_config)]
    if host.port:
        options += ["-p", str(host.port)]
    if host.identity_file:
        options += ["-i", os.path.expanduser(host.identity_file), "-o", "IdentitiesOnly=yes"]
    if host.jump:
        # Not -J: ssh gives its jump hop none of the options below, and the bastion's key
        # would be taken as the operator's config says, a passphrase asked on the screen.
        jump, _, port = host.jump.partition(":")
        config = options[:2] if host.ssh_config else []  # the same ssh_config (-F)
        hop = ["ssh", *config, *(["-p", port] if port else [])]
        hop += [*_careful(), "-W", "%h:%p", "--", jump]
        options += ["-o", "ProxyCommand=" + shlex.join(hop)]
    options += _careful()
    for option in (
        "ControlMaster=auto",
        f"ControlPath={control_dir()}/%C" + (f"-{lane}" if lane else ""),
        f"ControlPersist={KEEP_SECONDS}",
    ):
        options += ["-o", option]
    return options


def _careful() -> list[str]:
    """What every hop is run with: no prompt, no unknown key, a dead host noticed."""
    careful: list[str] = []
    for option in (
        "BatchMode=yes",
        "StrictHostKeyChecking=yes",
        f"ConnectTimeout={CONNECT_SECONDS}",
        "ServerAliveInterval=5",
        "ServerAliveCountMax=2",
    ):
        careful += ["-o", option]
    return careful


def ssh_argv(host: HostSection, remote: list[str] | None = None, lane: int = 0) -> list[str]:
    """`ssh OPTIONS -- DESTINATION [REMOTE...]`: `--` so that nothing after it is taken
    for an option."""
    return ["ssh", *ssh_options(host, lane), "--", host.ssh, *(remote or [])]


_UNKNOWN_KEY = re.compile(r"Host key verification failed|No \S+ host key is known")


def said_by_ssh(host: HostSection, stderr: str) -> str:
    """ssh's reason in one line, the fingerprint added when it refused an unknown key (to
    be checked with the host's owner before it goes into known_hosts)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    reason = next(
        (line for line in lines if line.startswith("ssh:") or "denied" in line), None
    ) or (lines[-1] if lines else "ssh exited without a word")
    if "IDENTIFICATION HAS CHANGED" in stderr:
        return (
            "the host key has CHANGED since it went into known_hosts: refused (a reinstalled "
            "host, or someone in the middle: check with its owner before removing the old key)"
        )
    if host.jump and "UNKNOWN port 65535" in stderr:
        # The hop to the jump host ended before the host was reached; its own words do
        # not come through: say where to look.
        return (
            f"the way through {host.jump} failed before {host.ssh} answered (the jump "
            f"host's key unknown or changed, or it refuses to forward): ssh -v -J "
            f"{host.jump} {host.ssh} says why"
        )
    if _UNKNOWN_KEY.search(stderr) and host.jump:
        # The key may be the jump host's or the host's: ssh's own line says whose.
        said = next((line for line in lines if line.startswith("No ")), "unknown host key")
        return f"{said.rstrip('.')} (through {host.jump}): refused, not accepted silently"
    if _UNKNOWN_KEY.search(stderr):
        return f"unknown host key{fingerprint(host)}: refused, not accepted silently"
    return reason


def fingerprint(host: HostSection) -> str:
    """The key the host offers now, as ` SHA256:...` (empty when it cannot be read)."""
    resolved = subprocess.run(
        ["ssh", *ssh_options(host), "-G", "--", host.ssh],
        capture_output=True, text=True, timeout=5, check=False,
    ).stdout  # fmt: skip
    found = dict(line.split(" ", 1) for line in resolved.splitlines() if " " in line)
    name, port = found.get("hostname", host.ssh), found.get("port", "22")
    scanned = subprocess.run(
        ["ssh-keyscan", "-T", str(CONNECT_SECONDS), "-p", port, "--", name],
        capture_output=True, text=True, timeout=CONNECT_SECONDS + 2, check=False,
    ).stdout  # fmt: skip
    if not scanned.strip():
        return ""
    listed = subprocess.run(
        ["ssh-keygen", "-l", "-f", "-"], input=scanned, capture_output=True, text=True,
        timeout=5, check=False,
    ).stdout.split()  # fmt: skip
    return f" {listed[1]} of {name}:{port}" if len(listed) > 1 else ""


class Unreachable(ConnectionError):
    """ssh could not reach the host: ssh's own reason, in one line."""


def reach(host: HostSection, lanes: int = 1) -> None:
    """Makes sure the host's kept connections are up (opening those that are not); raises
    Unreachable with ssh's reason when one cannot be."""
    for lane in range(lanes):
        _reach(host, lane)


_opening: dict[tuple[str, ...], threading.Lock] = {}
_opening_guard = threading.Lock()


def _reach(host: HostSection, lane: int) -> None:
    options = ssh_options(host, lane)
    # One opening a connection at a time: a second master for the same socket would find
    # it taken ("ControlSocket already exists, disabling multiplexing") and stay behind,
    # a connection of its own that nothing ever closes.
    with _opening_guard:
        opening = _opening.setdefault((*options, host.ssh), threading.Lock())
    with opening:
        try:
            _open(host, options)
        except subprocess.TimeoutExpired as slow:
            # Connected, but the login itself hangs (an agent waiting for a touch, a slow
            # directory service): ConnectTimeout does not cover it.
            raise Unreachable(
                f"ssh did not get through within {slow.timeout:g} s (connecting or logging in)"
            ) from None


def _open(host: HostSection, options: list[str]) -> None:
    check = subprocess.run(
        ["ssh", *options, "-O", "check", "--", host.ssh],
        capture_output=True, timeout=CONNECT_SECONDS, check=False,
    )  # fmt: skip
    if check.returncode == 0:
        return
    # The master, in the background once authenticated (-f, -N: no command). Its stderr
    # to a file, not a pipe: the master it leaves behind would hold a pipe open forever.
    # ssh takes an option's first value: ControlMaster=yes before the options' "auto".
    with tempfile.TemporaryFile() as said:
        opened = subprocess.run(
            ["ssh", "-o", "ControlMaster=yes", *options, "-f", "-N", "--", host.ssh],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=said,
            timeout=CONNECT_SECONDS * 3, check=False,
        )  # fmt: skip
        if opened.returncode != 0:
            said.seek(0)
            raise Unreachable(said_by_ssh(host, said.read().decode(errors="replace")))


STEPS_LANE = 64
"""The kept connection runbook steps share: apart from the Docker polls' lanes, so that a
step never takes the last of a connection's sessions from them, nor waits for one."""


def reach_for_steps(host: HostSection) -> None:
    """Makes sure the steps' kept connection to the host is up; Unreachable if not."""
    _reach(host, STEPS_LANE)


CAUSES = (
    "none", "dns", "refused", "timeout", "host_key_changed", "host_key_unknown", "auth",
    "jump", "other",
)  # fmt: skip
"""Why a host cannot be reached, as `opsconsole hosts check` says it (`cause=...`): the
host-unreachable runbook's decision branches on it."""


def cause_of(reason: str) -> str:
    """The cause in a reason `said_by_ssh` gave (one of CAUSES, never "none")."""
    checks = (
        ("host_key_changed", "has CHANGED"),
        ("host_key_unknown", "host key"),
        ("jump", "the way through"),
        ("dns", "Could not resolve hostname"),
        ("refused", "Connection refused"),
        ("timeout", "timed out"),
        ("timeout", "No route to host"),
        ("auth", "Permission denied"),
    )
    return next((cause for cause, said in checks if said in reason), "other")
