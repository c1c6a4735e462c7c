"""Run one command of a runbook step: its output streamed, redacted and kept, its time bounded.

The command is an argv list executed directly, never through a shell, so nothing in an
argument (a parameter an engineer typed, a value captured from an earlier step) can turn
into a second command. It runs in a process group of its own, so that a timeout or a
cancellation ends everything it started, not only the process we spawned.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal as signals
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal, TextIO

from opsconsole.common.redact import Redactor

Stream = Literal["stdout", "stderr"]
STREAMS: tuple[Stream, Stream] = ("stdout", "stderr")

MAX_LINE_BYTES = 64 * 1024
"""A line longer than this is cut into pieces of at most this many bytes."""
# How far back from the limit an overlong line is cut at a separator: longer than any
# token or key a redaction pattern looks for.
SEPARATOR_SEARCH_BYTES = 8 * 1024
# The last one in the window wins (the greedy prefix). Bytes that end a whole key=value
# or "key": "value" pair in logs, JSON and query strings: not a quote or an equals sign,
# which would part a key from its value and hide the pair from the patterns.
_SEPARATOR = re.compile(rb".*[\s,;&]", re.DOTALL)
CutPoint = Callable[[str, int], int]
"""`Redactor.cut_point`: where a piece may end, at or before a position of a text."""
MAX_BATCH = 1_000
"""At most this many lines reach `on_lines` in one call."""
BATCH_WINDOW = 0.05
"""A line waits at most this long (seconds) for others to share its batch."""
READ_SIZE = 16 * 1024
# The most taken from a pipe before the loop runs others: 16 KiB of short lines is a few
# ms of work (bench/command_output.py: a 10 ms timer is ~7 ms late during a flood of
# `seq`, ~25 ms with 64 KiB), and no slower overall.

# Ending a group: how often we look whether it is gone, how long SIGKILL may take, and how
# long the pipes may stay open once it is gone. The last two only matter when something is
# badly wrong (a process stuck in the kernel, a pipe held by a process outside the group);
# they bound how late run_command can return after timeout + kill_grace.
POLL_INTERVAL = 0.02
KILL_WAIT = 0.5
DRAIN_WAIT = 0.3

NOT_FOUND_EXIT = 127
NOT_EXECUTABLE_EXIT = 126


@dataclass(frozen=True, slots=True)
class OutputLine:
    stream: Stream
    text: str
    """Decoded UTF-8 (invalid bytes replaced), no line ending, already redacted."""
    at: datetime
    """UTC, when it was read (the lines of one read share it)."""


@dataclass(frozen=True, slots=True)
class CommandResult:
    exit_code: int | None
    """None when the process died of a signal or when we ended it (timeout, cancellation)."""
    signal: int | None
    """The signal that ended it, if any (see `run_command`)."""
    timed_out: bool
    cancelled: bool
    """Always False from `run_command`, which re-raises CancelledError instead; the
    field lets a caller record a cancelled run in the same shape."""
    duration: float
    """Seconds, from just before the spawn to the end of the output."""
    line_count: int
    artifact: Path
    """The full redacted output, one line per OutputLine: ``<iso time> <stream> <text>``."""


async def run_command(
    argv: Sequence[str],
    *,
    # A plain number, not asyncio.timeout(): the timeout is the command's, it decides
    # what is signalled and when, and it has to be reported in the result.
    timeout: float,  # noqa: ASYNC109
    on_lines: Callable[[list[OutputLine]], None],
    artifact: Path,
    redact: Callable[[str], str] | Redactor = lambda s: s,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    kill_grace: float = 2.0,
    hold_stdin: bool = False,
) -> CommandResult:
    """Run `argv` and stream its output, line by line, to `on_lines` and to `artifact`.

    - `argv[0]` is looked up on PATH (of `env` when given) and executed with `argv` as
      its arguments: no shell, stdin is /dev/null, a new session and process group.
    - stdout and stderr are read concurrently. Every line is stamped with the time it was
      read, passed through `redact`, appended to `artifact` (created or truncated; its
      directory must exist) and delivered to `on_lines` in batches of at most
      `MAX_BATCH` lines, none held back longer than `BATCH_WINDOW`. Lines of one stream
      keep their order. A line longer than `MAX_LINE_BYTES` comes in pieces, each its own
      OutputLine, cut after a space, comma, semicolon or ampersand when one is near, so
      that neither a token nor a key=value pair is split between two calls of `redact`;
      a last line without a newline is delivered as it is. `redact` may be a `Redactor`:
      each stream then has a `stream()` of its own, which masks a PEM private key block
      line by line.
    - The command is over when the process we spawned exits. Whatever it left running in
      its process group is then ended as on a timeout (start something meant to outlive
      the step with ``setsid``). A process outside the group that still holds a pipe
      open is not waited for beyond a short drain (`DRAIN_WAIT` without a new line).
    - After `timeout` seconds the whole group gets SIGTERM, and SIGKILL if anything in it
      is still alive `kill_grace` seconds later; `timed_out` is set. Cancelling the task
      that awaits this does the same, then re-raises CancelledError; a second cancellation
      during that grace sends SIGKILL at once.
    - `exit_code` is the process's own exit status, or None if it died of a signal or we
      ended it. `signal` is the signal it died of, or, when we ended it and it exited by
      itself in response (a TERM handler), the last signal we sent.
    - A program that cannot be found does not raise: the result has exit code 127 (126
      when it exists but cannot be executed), as a shell would report, and one stderr
      line ``opsconsole: command not found: <argv0>``, delivered and written like any
      other output. A runbook step then fails the way a typo'd command fails in a
      terminal, with the reason in its output. Anything else that stops the spawn (a
      missing `cwd`, an unwritable `artifact`) raises OSError: it is a fault of the
      caller, not of the command.
    - If `on_lines` or `redact` raises, the group is ended and the exception propagates.
    - `hold_stdin`: stdin is a pipe that nothing is written to, closed only once the
      command is over, or by the kernel if this process dies. ssh carries its end to the
      remote command, whose watcher ends it then (engine/remote.py).
    """
    if not argv:
        raise ValueError("run_command needs a program to run: argv is empty")
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    # Opened before the spawn: a command is not run if its output cannot be kept.
    sink = _open_artifact(artifact)
    try:
        output = _Output(on_lines, redact, sink)
        pipes: list[_Pipe] = []
        stdin_read, held = os.pipe() if hold_stdin else (None, None)
        try:
            pipes.append(await _Pipe.open())
            pipes.append(await _Pipe.open())
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL if stdin_read is None else stdin_read,
                stdout=pipes[0].write_fd,
                stderr=pipes[1].write_fd,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        except BaseException as error:
            for pipe in pipes:
                pipe.close()
            if held is not None:
                os.close(held)
                held = None
            # The same errno also comes from a missing or forbidden cwd; subprocess names
            # the cwd in `filename` then, and that one is the caller's fault.
            if not isinstance(error, FileNotFoundError | PermissionError) or (
                error.filename != argv[0]
            ):
                raise
            missing = isinstance(error, FileNotFoundError)
            reason = "command not found" if missing else "permission denied"
            output.add("stderr", [f"opsconsole: {reason}: {argv[0]}"], datetime.now(UTC))
            output.flush()
            return CommandResult(
                exit_code=NOT_FOUND_EXIT if missing else NOT_EXECUTABLE_EXIT,
                signal=None,
                timed_out=False,
                cancelled=False,
                duration=time.monotonic() - started,
                line_count=output.count,
                artifact=artifact,
            )
        finally:
            # The child has its copies; ours would keep the pipes from ever ending.
            for pipe in pipes:
                pipe.close_write_end()
            if stdin_read is not None:
                os.close(stdin_read)
        run = _Run(proc, pipes, output, kill_grace)
        try:
            await run.wait(deadline=loop.time() + timeout)
        finally:
            if held is not None:
                os.close(held)
        return CommandResult(
            exit_code=run.exit_code,
            signal=run.ended_by,
            timed_out=run.timed_out,
            cancelled=False,
            duration=time.monotonic() - started,
            line_count=output.count,
            artifact=artifact,
        )
    finally:
        sink.close()


def _open_artifact(path: Path) -> TextIO:
    # A large buffer: the artifact takes every line, and a write per line would cost
    # more than everything else done with it.
    return path.open("w", encoding="utf-8", errors="replace", newline="\n", buffering=1 << 20)


class _Pipe:
    """A pipe for one of the child's output streams.

    Ours rather than asyncio's (stdout=PIPE), for two reasons. We can close our end when
    we stop reading, even while a process that left the group holds the other end (with
    asyncio's pipes the transport would stay open until garbage collection). And with no
    pipes of its own, Process.wait() returns at the exit: under 3.11 it also waits for
    its pipes to close, which hides the exit of a command that left a writer behind.
    """

    def __init__(
        self, reader: asyncio.StreamReader, transport: asyncio.ReadTransport, fd: int
    ) -> None:
        self.reader = reader
        self.transport = transport
        self.write_fd: int | None = fd

    @classmethod
    async def open(cls) -> _Pipe:
        read_end, write_fd = _os_pipe()
        # The limit: past twice this much unread, reading pauses and the child blocks in
        # write(), so a slow on_lines slows the command rather than growing our memory.
        reader = asyncio.StreamReader(limit=READ_SIZE)
        try:
            loop = asyncio.get_running_loop()
            transport, _ = await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader), read_end
            )
        except BaseException:
            read_end.close()
            os.close(write_fd)
            raise
        return cls(reader, transport, write_fd)

    def close_write_end(self) -> None:
        if self.write_fd is not None:
            os.close(self.write_fd)
            self.write_fd = None

    def close(self) -> None:
        self.close_write_end()
        self.transport.close()


def _os_pipe() -> tuple[BinaryIO, int]:
    read_fd, write_fd = os.pipe()  # both close-on-exec; the child gets its dup2 copy
    return os.fdopen(read_fd, "rb", buffering=0), write_fd


class _Output:
    """Where lines go: redacted, written to the artifact, batched for `on_lines`."""

    def __init__(
        self,
        on_lines: Callable[[list[OutputLine]], None],
        redact: Callable[[str], str] | Redactor,
        sink: TextIO,
    ) -> None:
        self._on_lines = on_lines
        # One per stream: a PEM block is followed line by line, and stdout and stderr
        # interleave.
        self._redact: dict[Stream, Callable[[str], str]] = {
            stream: redact.stream() if isinstance(redact, Redactor) else redact
            for stream in STREAMS
        }
        self._sink = sink
        self.cut_point: CutPoint | None = redact.cut_point if isinstance(redact, Redactor) else None
        """Where an overlong line with no separator near the limit may be cut, so that no
        secret is split between two pieces that are each redacted on their own."""
        self._pending: list[OutputLine] = []
        self._has_pending = asyncio.Event()
        self.count = 0

    def add(self, stream: Stream, texts: list[str], at: datetime) -> None:
        if not texts:
            return
        redact = self._redact[stream]
        redacted = [redact(text) for text in texts]
        stamp = f"{at.isoformat()} {stream} "
        self._sink.write("".join(f"{stamp}{text}\n" for text in redacted))
        self._pending.extend(OutputLine(stream, text, at) for text in redacted)
        self.count += len(redacted)
        # Full batches go now: a fast producer need not wait for the window, and what is
        # pending stays under one batch whatever the output's size.
        while len(self._pending) >= MAX_BATCH:
            batch = self._pending[:MAX_BATCH]
            del self._pending[:MAX_BATCH]
            self._on_lines(batch)
        if self._pending:
            self._has_pending.set()

    def flush(self) -> None:
        self._has_pending.clear()
        if self._pending:
            batch, self._pending = self._pending, []
            self._on_lines(batch)

    async def flush_periodically(self) -> None:
        while True:
            await self._has_pending.wait()
            await asyncio.sleep(BATCH_WINDOW)
            self.flush()


class _Run:
    """One spawned process and its group, from the spawn to nothing left of either."""

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        pipes: list[_Pipe],
        output: _Output,
        kill_grace: float,
    ) -> None:
        self.proc = proc
        # start_new_session made the process a session and group leader: pgid == pid.
        self.pgid = proc.pid
        self.pipes = pipes
        self.output = output
        self.kill_grace = kill_grace
        self.timed_out = False
        self.killed_by_us = False
        self.last_signal: int | None = None
        self.readers = [
            asyncio.create_task(_pump(pipe.reader, stream, output))
            for pipe, stream in zip(pipes, STREAMS, strict=True)
        ]
        self.exit = asyncio.create_task(proc.wait())
        self.flusher = asyncio.create_task(output.flush_periodically())

    @property
    def exit_code(self) -> int | None:
        code = self.proc.returncode
        if code is None or code < 0 or self.killed_by_us:
            return None
        return code

    @property
    def ended_by(self) -> int | None:
        code = self.proc.returncode
        if code is not None and code < 0:
            return -code
        return self.last_signal if self.killed_by_us else None

    def exited(self) -> bool:
        return self.exit.done()

    def read_all(self) -> bool:
        return all(reader.done() for reader in self.readers)

    async def wait(self, deadline: float) -> None:
        try:
            if not await self._until(self.exited, deadline):
                self.timed_out = True
                self.killed_by_us = self.proc.returncode is None
            # Timed out, or exited leaving something behind in its group: end the group.
            await self._end_group()
            await self._drain(deadline)
        except asyncio.CancelledError:
            self.killed_by_us = self.proc.returncode is None
            try:
                await self._end_group()
            finally:
                await self._stop()
            raise
        except BaseException:
            # on_lines or redact failed: the command must not run on unwatched.
            self.killed_by_us = self.proc.returncode is None
            try:
                await self._end_group()
            finally:
                await self._stop(flush=False)
            raise
        await self._stop()

    async def _drain(self, deadline: float) -> None:
        """Read what is left in the pipes, now that nothing of the group is alive."""
        loop = asyncio.get_running_loop()
        while True:
            seen = self.output.count
            if await self._until(self.read_all, loop.time() + DRAIN_WAIT):
                return
            # Still open with the group gone: a process that left the group (setsid, a
            # daemon) holds a pipe. What it writes is not this command's output; read on
            # only while lines keep coming, and not past the command's time.
            if self.output.count == seen or loop.time() >= deadline:
                return

    async def _until(self, condition: Callable[[], bool], deadline: float) -> bool:
        """Wait until `condition` holds (True) or `deadline` passes (False), raising at
        once if a reader or the flusher failed (that is, on_lines or redact did)."""
        loop = asyncio.get_running_loop()
        tasks: tuple[asyncio.Task[Any], ...] = (*self.readers, self.exit, self.flusher)
        while True:
            for task in tasks:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    task.result()
            if condition():
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            # Every condition is about tasks of ours: one of them finishing is the moment
            # to look again. The flusher runs to the end, so this is never an empty wait.
            running = [task for task in tasks if not task.done()]
            await asyncio.wait(running, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)

    async def _end_group(self) -> None:
        """SIGTERM, kill_grace, SIGKILL; back when nothing of the group is alive and the
        process we spawned is reaped."""
        if _group_alive(self.pgid):
            self._signal(signals.SIGTERM)
            try:
                gone = await _group_gone(self.pgid, self.kill_grace)
            except asyncio.CancelledError:
                # Cancelled while being patient: no more patience.
                self._signal(signals.SIGKILL)
                raise
            if not gone:
                self._signal(signals.SIGKILL)
                await _group_gone(self.pgid, KILL_WAIT)
        # Dead is not reaped yet: wait for the child watcher, so that no zombie of ours
        # outlives the call. Bounded: a process stuck in the kernel ignores even SIGKILL.
        await asyncio.wait({self.exit}, timeout=KILL_WAIT)

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, sig)
        self.last_signal = sig

    async def _stop(self, *, flush: bool = True) -> None:
        """Cancel what still runs of ours, close our pipe ends, deliver the last lines."""
        tasks = (*self.readers, self.exit, self.flusher)
        for task in tasks:
            task.cancel()
        try:
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            # Even when cancelled once more while the tasks wind down.
            for pipe in self.pipes:
                pipe.close()
        if flush:
            self.output.flush()


async def _pump(reader: asyncio.StreamReader, stream: Stream, output: _Output) -> None:
    """Read one stream to its end, cutting it into lines as it comes."""
    tail = b""
    try:
        while chunk := await reader.read(READ_SIZE):
            at = datetime.now(UTC)
            data = tail + chunk if tail else chunk
            end = data.rfind(b"\n")
            texts: list[str] = []
            if end >= 0:
                texts = _lines(data[:end], output.cut_point)
                tail = data[end + 1 :]
            else:
                tail = data
            while len(tail) > MAX_LINE_BYTES:
                cut = _cut(tail, output.cut_point)
                texts.append(tail[:cut].decode("utf-8", "replace"))
                tail = tail[cut:]
            output.add(stream, texts, at)
            # read() does not suspend while data is buffered: let the loop (a UI drawing,
            # keys being pressed) run between slices of a flood.
            await asyncio.sleep(0)
    finally:
        # At the end of the stream, and when reading is given up on (cancelled), a last
        # line without its newline is still output.
        if tail:
            output.add(stream, [tail.decode("utf-8", "replace")], datetime.now(UTC))


def _lines(block: bytes, cut_point: CutPoint | None = None) -> list[str]:
    """The lines of `block` (complete lines, newlines between them, none at the end)."""
    # Decoded in one go: a block starts at a line's start and ends at a newline, and the
    # decoder never swallows an ASCII byte into an invalid sequence, so this equals
    # decoding line by line, at a fraction of the cost.
    text = block.decode("utf-8", "replace")
    lines = text.split("\n")
    if "\r" in text:
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    # A char is at most 4 bytes: below this, no line can be over the limit.
    if len(block) > MAX_LINE_BYTES and any(len(line) > MAX_LINE_BYTES // 4 for line in lines):
        lines = [piece for line in lines for piece in _pieces(line, cut_point)]
    return lines


def _pieces(line: str, cut_point: CutPoint | None) -> list[str]:
    data = line.encode("utf-8")
    if len(data) <= MAX_LINE_BYTES:
        return [line]
    pieces = []
    while data:
        cut = _cut(data, cut_point) if len(data) > MAX_LINE_BYTES else len(data)
        pieces.append(data[:cut].decode("utf-8", "replace"))
        data = data[cut:]
    return pieces


def _cut(data: bytes, cut_point: CutPoint | None = None) -> int:
    """Where to end a piece of an overlong line: after the last separator near the limit,
    so that a token, a password or a key is not cut in two and so escapes redaction (a
    minified JSON answer of a few hundred KB is one line); at the limit, between UTF-8
    sequences, only when no separator comes near it, and then before a secret that runs
    across the limit (`cut_point`), which goes whole into the next piece."""
    separator = _SEPARATOR.search(data, MAX_LINE_BYTES - SEPARATOR_SEARCH_BYTES, MAX_LINE_BYTES)
    if separator is not None:
        return separator.end()
    cut = _char_boundary(data, MAX_LINE_BYTES)
    if cut_point is None:
        return cut
    # Decoded so that each byte that is not UTF-8 is one character, and encodes back to
    # itself: a position in the text is a position in the bytes.
    window = data[: cut + SEPARATOR_SEARCH_BYTES].decode("utf-8", "surrogateescape")
    head = len(data[:cut].decode("utf-8", "surrogateescape"))
    moved = cut_point(window, head)
    return len(window[:moved].encode("utf-8", "surrogateescape")) if 0 < moved < head else cut


def _char_boundary(data: bytes, limit: int) -> int:
    """The largest cut at most `limit` that does not split a UTF-8 sequence."""
    cut = limit
    # Continuation bytes are 10xxxxxx; a sequence has at most three of them.
    while cut > limit - 3 and data[cut] & 0xC0 == 0x80:
        cut -= 1
    return cut


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group is still alive (zombies are dead)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # kill(0) also succeeds on zombies. Orphaned members are reaped by init, which may
    # take its time; they are dead already, so on Linux we look past them.
    return _live_member(pgid)


def _live_member(pgid: int) -> bool:
    try:
        entries = os.scandir("/proc")
    except OSError:
        return True  # no /proc: kill(0) is all we know
    with entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as stat:
                    fields = stat.read().rpartition(b")")[2].split()
            except OSError:
                continue  # exited while we looked
            # After the command name: state, ppid, pgrp.
            if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
                return True
    return False


async def _group_gone(pgid: int, within: float) -> bool:
    """Wait up to `within` seconds for the group to die; True if it did."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while _group_alive(pgid):
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(POLL_INTERVAL)
    return True
