"""A command step on a host of [[hosts]]: its argv run there through ssh, as the operator's
own `ssh` would run it (sources/ssh.py), with three things ssh alone does not give.

- **A value stays one argument.** ssh joins what follows the destination with spaces and
  hands that line to the remote user's login shell, whatever it is: argv is quoted for
  sh (shlex.join) and goes to sh in base64, so `x; rm -rf /` typed into a parameter
  arrives as one argument, and the login shell never reads a value.
- **A timeout ends the remote command too.** Killing the local ssh only closes the
  channel; sshd sends no signal to a command without a terminal, so `sleep 300` would
  live on. The command runs in a session of its own on the host (setsid), and a
  watcher there ends that session when the channel's standard input closes: when the
  console ends ssh, closes its end of the pipe, or dies itself.
- **The exit status is the command's own**, passed back by the wrapper; 255 is ssh's
  (the connection failed), said with ssh's reason.
"""

from __future__ import annotations

import base64
import shlex

from opsconsole.config.model import HostSection
from opsconsole.sources.ssh import STEPS_LANE, ssh_argv

# POSIX sh (dash and busybox have no `kill --`), on the host. The watcher reads the
# channel's stdin from fd 3 (a background job's own stdin is /dev/null) and stops reading
# at its end; then TERM to the command's session, KILL two seconds later. Its output goes
# nowhere, so that the channel closes as soon as the command's own output does. Once the
# command is over, what it left in its session is ended too, as on this machine.
WRAPPER = "; ".join(
    (
        "exec 3<&0",
        'setsid -- "$@" </dev/null 3<&- & pid=$!',
        "( trap 'exit 0' USR1",
        "while read -r _ <&3; do :; done",
        "trap '' USR1",
        'kill -TERM "-$pid" 2>/dev/null',
        "sleep 2",
        'kill -KILL "-$pid" 2>/dev/null ) >/dev/null 2>&1 & watcher=$!',
        "exec 3<&-",
        'wait "$pid"',
        "status=$?",
        'kill -USR1 "$watcher" 2>/dev/null',
        # What it left in its session: TERM, and KILL if anything of it holds on.
        'if kill -TERM "-$pid" 2>/dev/null; then sleep 0.2',
        'kill -0 "-$pid" 2>/dev/null && sleep 2 && kill -KILL "-$pid" 2>/dev/null; fi',
        'exit "$status"',
    )
)
"""One line, so that a dry run prints the ssh command as one."""
WRAPPER_NAME = "opsconsole-step"
"""$0 of the wrapper: what `ps` on the host shows the console's steps as."""

SSH_FAILED = 255
"""ssh's own exit status when it could not run the command at all (a command's own 255
reads the same: said as either)."""


def remote_command(argv: list[str]) -> str:
    """The line the host's login shell is given. Whatever that shell is (bash, zsh, but
    also fish or tcsh, whose quoting differs from sh's), it sees only `sh -c`, single
    quotes and base64's letters: the command itself, argv quoted for sh, reaches sh
    encoded, and sh decodes and runs it. No value is ever read by the login shell."""
    script = shlex.join(["sh", "-c", WRAPPER, WRAPPER_NAME, *argv])
    encoded = base64.b64encode(script.encode("utf-8", "surrogateescape")).decode("ascii")
    return f"sh -c 'eval \"$(echo {encoded} | base64 -d)\"'"


def remote_argv(host: HostSection, argv: list[str]) -> list[str]:
    """The local argv that runs `argv` on `host`: no terminal (-T: stdout and stderr stay
    apart, no line endings rewritten), over the host's kept connection."""
    full = ssh_argv(host, [remote_command(argv)], STEPS_LANE)
    return [full[0], "-T", *full[1:]]
