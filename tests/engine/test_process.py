"""The command runner with real processes: output, exit, timeouts, cancellation, leftovers.

`sh -c` scripts below are programs under test; the runner itself never adds a shell.
Whether a process group is gone is read from /proc (Linux). A member that has died but
whose parent is init shows as a zombie until init reaps it, which is init's business (in
some sandboxes that takes a second or so): right after a run no member may be alive and
the process we spawned must be reaped; the timeout and cancellation tests also wait for
the group to vanish completely.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from datetime import UTC
from pathlib import Path

import pytest

from opsconsole.common.redact import MASK, Redactor
from opsconsole.engine.process import (
    MAX_BATCH,
    MAX_LINE_BYTES,
    CommandResult,
    OutputLine,
    run_command,
)

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


class Recorder:
    """An on_lines that keeps every batch and when it came."""

    def __init__(self) -> None:
        self.batches: list[list[OutputLine]] = []
        self.arrivals: list[float] = []
        self.first_line = asyncio.Event()

    def __call__(self, lines: list[OutputLine]) -> None:
        self.batches.append(lines)
        self.arrivals.append(time.monotonic())
        self.first_line.set()

    @property
    def lines(self) -> list[OutputLine]:
        return [line for batch in self.batches for line in batch]

    def texts(self, stream: str | None = None) -> list[str]:
        return [line.text for line in self.lines if stream in (None, line.stream)]


async def run(argv: list[str], tmp_path: Path, **options: object) -> tuple[CommandResult, Recorder]:
    """run_command with a Recorder, an artifact in tmp_path and a 10 s timeout unless told."""
    recorder = Recorder()
    options.setdefault("timeout", 10.0)
    result = await run_command(
        argv,
        on_lines=recorder,
        artifact=tmp_path / "output.log",
        **options,  # type: ignore[arg-type]
    )
    return result, recorder


def artifact_lines(path: Path) -> list[tuple[str, str, str]]:
    """(time, stream, text) of every artifact line."""
    rows = []
    for line in path.read_text(encoding="utf-8").split("\n")[:-1]:
        at, stream, text = line.split(" ", 2)
        rows.append((at, stream, text))
    return rows


def group_members(pgid: int) -> dict[int, str]:
    """pid -> state of every process in the group, zombies included."""
    members = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_bytes().rpartition(b")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            members[int(entry.name)] = fields[0].decode()
    return members


def in_proc(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def live_members(pgid: int) -> dict[int, str]:
    return {pid: state for pid, state in group_members(pgid).items() if state not in "ZX"}


async def assert_group_gone(pgid: int, *, until_reaped: bool = False) -> None:
    """Nothing of the group alive, our child reaped; with `until_reaped`, also wait
    (up to 5 s) for init to reap the orphans, which takes a while in some sandboxes."""
    assert live_members(pgid) == {}
    assert not in_proc(pgid), "the process we spawned was not reaped"
    if not until_reaped:
        return
    for _ in range(100):
        if not group_members(pgid):
            break
        await asyncio.sleep(0.05)
    assert group_members(pgid) == {}, "orphaned zombies were never reaped by init"


async def pgid_of(recorder: Recorder) -> int:
    """The scripts below print $$ first: the shell we spawned, leader of its group."""
    await asyncio.wait_for(recorder.first_line.wait(), 5)
    return int(recorder.texts("stdout")[0])


# Output


async def test_lines_arrive_in_order_per_stream_with_timestamps(tmp_path: Path) -> None:
    script = "echo a; echo b >&2; echo c; sleep 0.2; echo d >&2; echo e"
    result, recorder = await run(["sh", "-c", script], tmp_path)
    assert result.exit_code == 0
    assert recorder.texts("stdout") == ["a", "c", "e"]
    assert recorder.texts("stderr") == ["b", "d"]
    assert result.line_count == 5
    stamps = [line.at for line in recorder.lines]
    assert stamps == sorted(stamps)
    assert all(at.tzinfo is UTC for at in stamps)
    # Stamped when read, not when the run ended: the sleep is between c and e.
    by_text = {line.text: line.at for line in recorder.lines}
    assert (by_text["e"] - by_text["c"]).total_seconds() >= 0.15
    assert artifact_lines(result.artifact) == [
        (line.at.isoformat(), line.stream, line.text) for line in recorder.lines
    ]


async def test_lines_are_delivered_while_the_command_runs(tmp_path: Path) -> None:
    started = time.monotonic()
    result, recorder = await run(["sh", "-c", "echo early; sleep 1; echo late"], tmp_path)
    assert recorder.texts() == ["early", "late"]
    assert len(recorder.batches) == 2
    assert recorder.arrivals[0] - started < 0.6  # batch window 50 ms, plus spawn
    assert result.duration >= 1


async def test_lines_written_one_by_one_are_batched(tmp_path: Path) -> None:
    program = "for i in range(5000): print(i, flush=True)"  # a write() per line
    _, recorder = await run([sys.executable, "-c", program], tmp_path)
    assert recorder.texts() == [str(i) for i in range(5000)]
    assert len(recorder.batches) < 100


async def test_last_line_without_newline_and_crlf(tmp_path: Path) -> None:
    _, recorder = await run(["printf", "one\\r\\ntwo\\n\\nthree"], tmp_path)
    assert recorder.texts() == ["one", "two", "", "three"]


async def test_invalid_utf8_is_replaced(tmp_path: Path) -> None:
    _, recorder = await run(["printf", "ok \\377\\376 caf\\303\\251\\n"], tmp_path)
    assert recorder.texts() == ["ok \ufffd\ufffd café"]


async def test_a_long_line_comes_in_pieces(tmp_path: Path) -> None:
    size = 3 * MAX_LINE_BYTES + 1000
    script = f"head -c {size} /dev/zero | tr '\\0' x; echo; echo after"
    result, recorder = await run(["sh", "-c", script], tmp_path)
    texts = recorder.texts()
    assert texts[-1] == "after"
    pieces = texts[:-1]
    assert len(pieces) == 4
    assert all(len(piece) <= MAX_LINE_BYTES for piece in pieces)
    assert "".join(pieces) == "x" * size
    assert result.line_count == 5


async def test_a_long_line_is_not_cut_inside_a_character(tmp_path: Path) -> None:
    text = "é€" * 40_000  # 200,000 bytes, chars of 2 and 3
    # No newline: the unterminated path, where the cuts are made as the bytes come.
    program = "import sys; sys.stdout.write('é€' * 40_000)"
    _, recorder = await run([sys.executable, "-c", program], tmp_path)
    pieces = recorder.texts()
    assert len(pieces) >= 4
    assert all(len(piece.encode()) <= MAX_LINE_BYTES for piece in pieces)
    assert "".join(pieces) == text


async def test_a_hundred_thousand_lines_all_arrive_in_order(tmp_path: Path) -> None:
    result, recorder = await run(["seq", "1", "100000"], tmp_path)
    expected = [str(n) for n in range(1, 100_001)]
    assert result.exit_code == 0
    assert result.line_count == 100_000
    assert recorder.texts() == expected
    assert all(0 < len(batch) <= MAX_BATCH for batch in recorder.batches)
    assert len(recorder.batches) < 150  # full batches, and a few the window closed
    rows = artifact_lines(result.artifact)
    assert [text for _, _, text in rows] == expected
    assert {stream for _, stream, _ in rows} == {"stdout"}


async def test_redaction_reaches_lines_and_artifact(tmp_path: Path) -> None:
    script = "echo password=hunter2; echo hunter2hunter2 >&2; echo fine"
    result, recorder = await run(
        ["sh", "-c", script], tmp_path, redact=lambda s: s.replace("hunter2", "***")
    )
    assert recorder.texts("stdout") == ["password=***", "fine"]
    assert recorder.texts("stderr") == ["******"]
    content = result.artifact.read_text()
    assert "hunter2" not in content
    assert "password=***" in content


@pytest.mark.parametrize("terminated", [True, False], ids=["newline", "unterminated"])
async def test_a_secret_across_the_cut_of_an_overlong_line_is_masked(
    tmp_path: Path, terminated: bool
) -> None:
    # A minified JSON answer (one line of 200 KB) with a password right across 64 KiB.
    secret = "Zq8vN3xTp2Lr7Hw5Kd1Fy6"  # noqa: S105 -- a test value
    head = '{"items":"' + "a" * (MAX_LINE_BYTES - 35) + '","password":"'
    line = head + secret + '","rest":"' + "b" * 140_000 + '"}'
    assert len(head) < MAX_LINE_BYTES < len(head) + len(secret)
    # Built by the child: one argument of 200 KB is over the kernel's limit.
    made = f"{head!r} + {secret!r} + '\",\"rest\":\"' + 'b' * 140_000 + '\"}}'"
    program = f"import sys; sys.stdout.write({made}{' + chr(10)' if terminated else ''})"
    result, recorder = await run(
        [sys.executable, "-c", program], tmp_path, redact=Redactor([secret], env={})
    )
    pieces = recorder.texts()
    assert len(pieces) >= 4
    assert all(len(piece.encode()) <= MAX_LINE_BYTES for piece in pieces)
    assert "".join(pieces) == line.replace(secret, MASK)
    assert secret not in result.artifact.read_text()


async def test_a_private_key_on_stdout_is_masked_while_stderr_interleaves(
    tmp_path: Path,
) -> None:
    # One redactor for both streams took stderr's line for the key's end and showed
    # the rest of the key.
    body = ["MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "BKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj"]
    program = (
        "import sys\n"
        "def say(stream, text): stream.write(text + '\\n'); stream.flush()\n"
        "say(sys.stdout, '-----BEGIN PRIVATE KEY-----')\n"
        f"say(sys.stderr, 'warning: key printed')\n"
        f"say(sys.stdout, {body[0]!r})\n"
        "say(sys.stderr, '-----END CERTIFICATE-----')\n"
        f"say(sys.stdout, {body[1]!r})\n"
        "say(sys.stdout, '-----END PRIVATE KEY-----')\n"
        "say(sys.stdout, 'done')\n"
    )
    result, recorder = await run([sys.executable, "-c", program], tmp_path, redact=Redactor(env={}))
    assert recorder.texts("stdout")[1:3] == [MASK, MASK]
    assert recorder.texts("stdout")[-1] == "done"
    assert recorder.texts("stderr") == ["warning: key printed", "-----END CERTIFICATE-----"]
    content = result.artifact.read_text()
    assert not any(part in content for part in body)


async def test_stdin_is_dev_null(tmp_path: Path) -> None:
    result, recorder = await run(["cat"], tmp_path, timeout=5)
    assert (result.exit_code, result.timed_out, recorder.texts()) == (0, False, [])


async def test_env_and_cwd(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "OPSCONSOLE_TEST": "given"}
    _, recorder = await run(
        ["sh", "-c", 'echo "$OPSCONSOLE_TEST"; pwd; echo "${HOME:-unset}"'],
        tmp_path,
        env=env,
        cwd=tmp_path,
    )
    assert recorder.texts() == ["given", str(tmp_path), "unset"]


async def test_the_command_leads_a_session_of_its_own(tmp_path: Path) -> None:
    program = "import os; print(os.getpid() == os.getpgid(0) == os.getsid(0))"
    _, recorder = await run([sys.executable, "-c", program], tmp_path)
    assert recorder.texts() == ["True"]


# Arguments are never a shell's


PAYLOADS = [
    "x; touch {tmp}/pwned",
    "$(touch {tmp}/pwned)",
    "`touch {tmp}/pwned`",
    "a\ntouch {tmp}/pwned",
    "&& touch {tmp}/pwned",
    "| touch {tmp}/pwned",
    "'; touch {tmp}/pwned; '",
]


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("program", [["echo"], ["printf", "%s\\n"]], ids=["echo", "printf"])
async def test_arguments_are_printed_literally(
    tmp_path: Path, program: list[str], payload: str
) -> None:
    argument = payload.format(tmp=tmp_path)
    result, recorder = await run([*program, argument], tmp_path)
    assert result.exit_code == 0
    assert "\n".join(recorder.texts()) == argument
    await asyncio.sleep(0.1)  # anything started behind our back has had its chance
    assert not (tmp_path / "pwned").exists()


# Exit


@pytest.mark.parametrize(("script", "code"), [("exit 0", 0), ("echo x; exit 3", 3)])
async def test_exit_codes(tmp_path: Path, script: str, code: int) -> None:
    result, _ = await run(["sh", "-c", script], tmp_path)
    assert (result.exit_code, result.signal, result.timed_out) == (code, None, False)


async def test_a_process_killed_by_a_signal_reports_it(tmp_path: Path) -> None:
    result, _ = await run(["sh", "-c", "kill -USR1 $$"], tmp_path)
    assert (result.exit_code, result.signal) == (None, signal.SIGUSR1)
    assert not result.timed_out


async def test_command_not_found_is_exit_127_with_a_line(tmp_path: Path) -> None:
    result, recorder = await run(["opsconsole-no-such-command", "--flag"], tmp_path)
    message = "opsconsole: command not found: opsconsole-no-such-command"
    assert (result.exit_code, result.signal, result.line_count) == (127, None, 1)
    assert [(line.stream, line.text) for line in recorder.lines] == [("stderr", message)]
    assert artifact_lines(result.artifact)[0][1:] == ("stderr", message)


async def test_a_file_that_is_not_executable_is_exit_126(tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    result, recorder = await run([str(script)], tmp_path)
    assert result.exit_code == 126
    assert recorder.texts("stderr") == [f"opsconsole: permission denied: {script}"]


async def test_a_missing_cwd_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await run(["true"], tmp_path, cwd=tmp_path / "missing")


async def test_an_empty_argv_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="argv is empty"):
        await run([], tmp_path)


# Ending the group


async def test_timeout_ends_the_whole_group(tmp_path: Path) -> None:
    timeout, grace = 0.5, 1.0
    recorder = Recorder()
    started = time.monotonic()
    task = asyncio.create_task(
        run_command(
            ["sh", "-c", "sleep 300 & echo $$; sleep 300"],
            timeout=timeout,
            on_lines=recorder,
            artifact=tmp_path / "output.log",
            kill_grace=grace,
        )
    )
    pgid = await pgid_of(recorder)
    await asyncio.sleep(0.1)
    assert len(live_members(pgid)) >= 2  # the shell and its background sleep at least
    result = await task
    elapsed = time.monotonic() - started
    assert result.timed_out
    assert (result.exit_code, result.signal) == (None, signal.SIGTERM)
    assert timeout <= elapsed < timeout + grace + 1
    await assert_group_gone(pgid, until_reaped=True)


async def test_a_process_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    timeout, grace = 0.3, 0.7
    started = time.monotonic()
    result, recorder = await run(
        ["sh", "-c", "trap '' TERM; echo $$; sleep 300"],
        tmp_path,
        timeout=timeout,
        kill_grace=grace,
    )
    elapsed = time.monotonic() - started
    assert result.timed_out
    assert (result.exit_code, result.signal) == (None, signal.SIGKILL)
    assert timeout + grace <= elapsed < timeout + grace + 1
    await assert_group_gone(int(recorder.texts()[0]))


async def test_what_a_process_says_on_sigterm_is_kept(tmp_path: Path) -> None:
    script = "trap 'echo cleaning up; exit 0' TERM; echo $$; sleep 300 & wait"
    result, recorder = await run(["sh", "-c", script], tmp_path, timeout=0.3, kill_grace=2)
    assert result.timed_out
    assert result.exit_code is None  # it exited, but because we ended it
    assert result.signal == signal.SIGTERM
    assert recorder.texts()[1:] == ["cleaning up"]
    assert result.duration < 1.5  # it went at once: the grace is not waited out
    await assert_group_gone(int(recorder.texts()[0]))


async def test_cancelling_ends_the_group_and_propagates(tmp_path: Path) -> None:
    recorder = Recorder()
    task = asyncio.create_task(
        run_command(
            ["sh", "-c", "sleep 300 & echo $$; sleep 300"],
            timeout=60,
            on_lines=recorder,
            artifact=tmp_path / "output.log",
            kill_grace=1,
        )
    )
    pgid = await pgid_of(recorder)
    await asyncio.sleep(0.1)
    assert len(live_members(pgid)) >= 2
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 2
    await assert_group_gone(pgid, until_reaped=True)
    assert [text for _, _, text in artifact_lines(tmp_path / "output.log")] == [str(pgid)]


async def test_a_second_cancel_during_the_grace_kills_at_once(tmp_path: Path) -> None:
    recorder = Recorder()
    task = asyncio.create_task(
        run_command(
            ["sh", "-c", "trap '' TERM; echo $$; sleep 300"],
            timeout=60,
            on_lines=recorder,
            artifact=tmp_path / "output.log",
            kill_grace=30,
        )
    )
    pgid = await pgid_of(recorder)
    started = time.monotonic()
    task.cancel()
    await asyncio.sleep(0.3)
    assert not task.done()  # patient: the grace is 30 s
    assert live_members(pgid) != {}
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 2
    await asyncio.sleep(0.1)  # SIGKILL sent; not waited for on a second cancel
    assert live_members(pgid) == {}


async def test_leftovers_are_ended_when_the_command_exits(tmp_path: Path) -> None:
    script = "sleep 300 >/dev/null 2>&1 & echo $$"
    result, recorder = await run(["sh", "-c", script], tmp_path, kill_grace=2)
    assert (result.exit_code, result.signal, result.timed_out) == (0, None, False)
    assert result.duration < 1.5
    await assert_group_gone(int(recorder.texts()[0]))


async def test_a_failing_on_lines_ends_the_group_and_propagates(tmp_path: Path) -> None:
    seen: list[str] = []

    def explode(lines: list[OutputLine]) -> None:
        seen.extend(line.text for line in lines)
        raise RuntimeError("the consumer broke")

    with pytest.raises(RuntimeError, match="the consumer broke"):
        await run_command(
            ["sh", "-c", "echo $$; sleep 300"],
            timeout=30,
            on_lines=explode,
            artifact=tmp_path / "output.log",
        )
    await assert_group_gone(int(seen[0]))


async def test_a_process_that_left_the_group_is_not_waited_for(tmp_path: Path) -> None:
    # setsid makes the background sleep a session of its own, holding our stdout open.
    result, recorder = await run(["sh", "-c", "setsid sleep 30 & echo $!"], tmp_path)
    outsider = int(recorder.texts()[0])
    try:
        assert (result.exit_code, result.timed_out) == (0, False)
        assert result.duration < 1.5
        assert in_proc(outsider)  # not ours to end
    finally:
        os.kill(outsider, signal.SIGKILL)


async def test_no_file_descriptor_is_left_open(tmp_path: Path) -> None:
    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    await run(["true"], tmp_path)  # whatever the first run sets up for good
    before = open_fds()
    await run(["seq", "1", "1000"], tmp_path)
    await run(["opsconsole-no-such-command"], tmp_path)
    await run(["sh", "-c", "sleep 300"], tmp_path, timeout=0.2, kill_grace=0.2)
    _, recorder = await run(["sh", "-c", "setsid sleep 30 & echo $!"], tmp_path)
    os.kill(int(recorder.texts()[0]), signal.SIGKILL)
    task = asyncio.create_task(run(["sleep", "300"], tmp_path))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(FileNotFoundError):
        await run(["true"], tmp_path, cwd=tmp_path / "missing")
    await asyncio.sleep(0.01)  # a closed asyncio transport lets go of its fd a tick later
    assert open_fds() == before


@pytest.mark.parametrize("terminated", [True, False], ids=["newline", "unterminated"])
async def test_a_secret_across_a_cut_with_no_separator_near_is_masked_whole(
    tmp_path: Path, terminated: bool
) -> None:
    """No space nor `,;&` in the last 8 KiB: the line was cut at exactly 64 KiB and the
    secret shown as `…aaaHunter2Secr` then `etValue99`, on screen and in the artifact."""
    secret = "Hunter2SecretValue99"  # noqa: S105 -- a test value
    head = "a" * (MAX_LINE_BYTES - 8)
    made = f"'a' * {len(head)} + {secret!r} + 'b' * 70000"
    program = f"import sys; sys.stdout.write({made}{' + chr(10)' if terminated else ''})"
    result, recorder = await run(
        [sys.executable, "-c", program], tmp_path, redact=Redactor([secret], env={})
    )
    pieces = recorder.texts()
    assert all(len(piece.encode()) <= MAX_LINE_BYTES for piece in pieces)
    assert "".join(pieces) == head + MASK + "b" * 70000
    assert pieces[0] == head  # the secret went whole into the next piece
    artifact = result.artifact.read_text()
    assert secret not in artifact
    assert "Hunter2Secr" not in artifact
    assert "etValue99" not in artifact
