"""A command step at run time: a destructive one confirmed first (or refused), then each
attempt its retry allows, in its own process group, its output streamed as events and
kept whole in an artifact, judged by its expect, and captured into the run's values."""

from __future__ import annotations

import asyncio
import shlex
import socket
from collections.abc import Mapping

from opsconsole.common.redact import Redactor
from opsconsole.config.model import HostSection
from opsconsole.engine.control import Aborted, RunControl, RunOptions
from opsconsole.engine.environment import command_environment
from opsconsole.engine.events import (
    Confirmed,
    Emit,
    Output,
    Refused,
    StepFinished,
    StepStarted,
)
from opsconsole.engine.operator import Confirmation, Operator
from opsconsole.engine.process import CommandResult, OutputLine, run_command
from opsconsole.engine.remote import SSH_FAILED, remote_argv
from opsconsole.engine.render import (
    ParamError,
    captured_values,
    command_argv,
    expectation_failure,
    render,
)
from opsconsole.runbooks.model import CommandStep
from opsconsole.runbooks.placeholders import placeholders
from opsconsole.sources.ssh import Unreachable, reach_for_steps

# Output kept in memory for a step's expectations and captures; all of it is in the
# step's artifact file. A check on the 100,001st megabyte of a log is not a runbook's job.
KEPT_OUTPUT_CHARS = 1024 * 1024


class CommandSteps:
    """The command steps of one run, which share its values: what a step captures, the
    steps after it use."""

    def __init__(
        self,
        runbook: str,
        values: dict[str, str],
        operator: Operator,
        options: RunOptions,
        redact: Redactor,
        emit: Emit,
        control: RunControl,
    ) -> None:
        self.runbook = runbook
        self.values = values
        self.operator = operator
        self.options = options
        self.redact = redact
        self.emit = emit
        self.control = control

    async def run(self, step: CommandStep, confirm: bool = True) -> str | None:
        """Why the step failed; None when it did what it expects. `confirm=False` asks
        nothing: a dry run shows what would be confirmed without running it."""
        try:
            argv = command_argv(step, self.values)
        except KeyError as missing:
            return f"needs {{{missing.args[0]}}}, which no step before it captured"
        except ParamError as unfit:
            return str(unfit)
        try:
            host = host_of(step, self.values, self.options.hosts)
        except KeyError as missing:
            return f"needs {{{missing.args[0]}}}, which no step before it captured"
        except ParamError as unfit:
            return str(unfit)
        # Each value redacted before quoting too: a known secret with a quote in it would
        # not read the same once quoted.
        shown = self.redact(shlex.join(self.redact(element) for element in argv))
        if step.destructive and confirm and (refused := await self._confirm(step, shown, host)):
            return refused
        where = host.name if host else None
        if self.options.dry_run:
            # On a host: the whole ssh command line, as it would be run.
            # Redacted before it is encoded for the host: base64 of a secret is the secret.
            redacted = [self.redact(element) for element in argv]
            run_argv = remote_argv(host, redacted) if host else redacted
            shown_argv = tuple(self.redact(element) for element in run_argv)
            asks = self._target_of(step, host) if step.destructive else None
            self.emit(
                StepStarted, step.id, command=shown, argv=shown_argv, dry_run=True,
                confirm_with=asks, host=where,
            )  # fmt: skip
            self.emit(StepFinished, step.id, command=shown, dry_run=True, host=where)
            return None
        attempts = 1 + (step.retry.count if step.retry else 0)
        failure: str | None = None
        for attempt in range(1, attempts + 1):
            failure = await self._attempt(step, argv, shown, attempt, host)
            if failure is None or attempt == attempts:
                break
            assert step.retry is not None
            await asyncio.sleep(step.retry.delay_seconds)
        if failure is None and step.destructive:
            self.control.fixed()  # a verifying check's window starts here: {since_fix}
        return failure

    async def _confirm(self, step: CommandStep, shown: str, host: HostSection | None) -> str | None:
        """Why the step may not run; None once the operator has confirmed it. Raises
        Aborted when they did not: a person who says no means the run, not the step."""
        where = host.name if host else None
        if self.options.read_only:
            self.emit(Refused, step.id, command=shown, reason="read-only mode", host=where)
            return "refused: destructive, and the run is read-only"
        request = Confirmation(
            self.runbook, step, shown, self.options.environment, self._target_of(step, host),
            host=where,
        )  # fmt: skip
        if not await self.control.ask(self.operator.confirm(request)):
            self.emit(Refused, step.id, command=shown, reason="not confirmed", host=where)
            raise Aborted(f"'{step.title}' was not confirmed")
        self.emit(Confirmed, step.id, command=shown, target=request.target, host=where)
        return None

    async def _attempt(
        self, step: CommandStep, argv: list[str], shown: str, attempt: int,
        host: HostSection | None,
    ) -> str | None:  # fmt: skip
        shown_argv = tuple(self.redact(a) for a in argv)
        where = host.name if host else None
        self.emit(StepStarted, step.id, command=shown, argv=shown_argv, attempt=attempt, host=where)
        if self.control.stopping:
            # Stopped while its start was being recorded: the command never runs.
            self.emit(
                StepFinished, step.id, error="not started", command=shown, attempt=attempt,
                host=where,
            )  # fmt: skip
            self.control.raise_if_stopping()
        if host is not None:
            try:
                unreachable = await self.control.run(self._reach(host))
            except asyncio.CancelledError:
                if not self.control.aborting:
                    raise
                unreachable = "aborted while reaching the host"
            if unreachable is not None or self.control.stopping:
                # Aborted while connecting: the command never runs, whatever was confirmed.
                self.emit(
                    StepFinished, step.id, error=unreachable or "not started", command=shown,
                    attempt=attempt, host=where,
                )  # fmt: skip
                self.control.raise_if_stopping()
                assert unreachable is not None
                return unreachable
        kept: list[str] = []
        kept_chars = 0
        said_last = ""  # the last line on stderr: ssh's own, when ssh fails

        def arrived(lines: list[OutputLine]) -> None:
            nonlocal kept_chars, said_last
            for line in lines:
                if line.stream == "stderr" and line.text.strip():
                    said_last = line.text
                if kept_chars < KEPT_OUTPUT_CHARS:
                    kept.append(line.text)
                    kept_chars += len(line.text) + 1
            self.emit(Output, step.id, lines=tuple(lines))

        artifact = self.options.artifacts / f"{self.runbook}-{step.id}-{attempt}.log"
        artifact.parent.mkdir(parents=True, exist_ok=True)
        command = run_command(
            remote_argv(host, argv) if host else argv, timeout=step.timeout_seconds,
            on_lines=arrived, artifact=artifact, redact=self.redact, env=command_environment(),
            hold_stdin=host is not None,
        )  # fmt: skip
        try:
            result: CommandResult = await self.control.run(command)
        except asyncio.CancelledError:
            if not self.control.aborting:
                raise
            self.emit(
                StepFinished, step.id, error="aborted", command=shown, artifact=str(artifact),
                attempt=attempt, host=where,
            )  # fmt: skip
            raise Aborted(f"aborted during '{step.title}'") from None
        output = "\n".join(kept)
        if result.timed_out:
            failure: str | None = f"timed out after {step.timeout_seconds:g} s"
        elif (
            host is not None
            and result.exit_code == SSH_FAILED
            and SSH_FAILED not in step.expect.exit_codes
        ):
            # ssh's own status when it failed (the connection lost under way), and also a
            # command's own 255: said as either, with the last word on stderr.
            maybe = "; it may have run" if step.destructive else ""
            failure = f"exit {SSH_FAILED}: ssh to {host.name} failed, or the command did{maybe}" + (
                f": {said_last}" if said_last else ""
            )
        else:
            failure = expectation_failure(step.expect, result.exit_code, output)
        values = captured_values(step.capture, output) if failure is None else {}
        self.values.update(values)
        self.emit(
            StepFinished,
            step.id,
            error=failure,
            exit_code=result.exit_code,
            signal=result.signal,
            duration=result.duration,
            command=shown,
            lines=result.line_count,
            artifact=str(result.artifact),
            captured=values,
            attempt=attempt,
            host=where,
        )
        return failure

    async def _reach(self, host: HostSection) -> str | None:
        """Why the host cannot be reached now (ssh's reason); None once its kept
        connection is up. Opened here, not by the step's ssh: a connection that ssh
        opened itself would live in the step's process group and die with it."""
        try:
            await asyncio.to_thread(reach_for_steps, host)
        except (Unreachable, OSError) as error:
            return f"{host.name} unreachable: {error}"
        return None

    def _target_of(self, step: CommandStep, host: HostSection | None = None) -> str:
        """What the operator types to run it: the name of what it acts on, as the runbook
        says it (`confirm`), else the value of the last parameter in its argv; a step's
        own id only where neither has a value (`check` refuses such a runbook). The
        `{hostname}` of a step on a host is that host's name."""
        if step.confirm is not None:
            hostname = host.name if host else socket.gethostname()
            try:
                return render(step.confirm, {"hostname": hostname, **self.values})
            except KeyError:
                return step.id
        names = [name for element in step.argv for name in placeholders(element)]
        for name in reversed(names):
            if self.values.get(name):
                return self.values[name]
        return step.id


def host_of(
    step: CommandStep, values: Mapping[str, str], hosts: Mapping[str, HostSection]
) -> HostSection | None:
    """The host a step runs on: None for this machine (no `host`, or one rendered
    empty: a service that runs here). Raises ParamError for a name [[hosts]] lacks,
    KeyError for a value nothing filled."""
    if step.host is None:
        return None
    name = render(step.host, values).strip()
    if not name:
        return None
    if name not in hosts:
        known = ", ".join(hosts) or "none configured"
        raise ParamError(f"no host '{name}' in the configuration's [[hosts]] ({known})")
    return hosts[name]
