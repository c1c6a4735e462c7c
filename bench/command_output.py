"""How fast the command runner takes a flood of output, and what memory it costs.

Runs `seq 1 1000000` through `run_command` with an `on_lines` that only counts, once with
no redaction and once with a redaction that looks at every line, and prints lines per
second, the number and size of batches, the artifact's size, how late a 10 ms timer on the
same event loop fires (what a UI sharing the loop would feel), and the growth of the peak
resident set (ru_maxrss, taken after a warm-up run, so that the figures are the run's own;
VmRSS is also sampled in on_lines, to show it stays flat rather than peaking). The runner
should keep memory flat whatever the output's size: lines go to the artifact file and to
on_lines as they come, and nothing keeps them.
Run: .venv/bin/python bench/command_output.py [--lines N]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opsconsole.engine.process import OutputLine, run_command


def vm_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def max_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


class Counter:
    def __init__(self) -> None:
        self.lines = 0
        self.batches = 0
        self.largest = 0
        self.rss_samples: list[int] = []

    def __call__(self, lines: list[OutputLine]) -> None:
        self.lines += len(lines)
        self.batches += 1
        self.largest = max(self.largest, len(lines))
        if self.batches % 100 == 0:
            self.rss_samples.append(vm_rss_kib())


async def lag_meter(lags: list[float]) -> None:
    """How late a 10 ms timer fires: what a UI on the same loop would feel."""
    loop = asyncio.get_running_loop()
    while True:
        expected = loop.time() + 0.01
        await asyncio.sleep(0.01)
        lags.append(loop.time() - expected)


async def measure(count: int, directory: Path, name: str, redact: Callable[[str], str]) -> None:
    counter = Counter()
    lags: list[float] = []
    meter = asyncio.create_task(lag_meter(lags))
    artifact = directory / f"{name}.log"
    rss_before, peak_before = vm_rss_kib(), max_rss_kib()
    started = time.perf_counter()
    result = await run_command(
        ["seq", "1", str(count)],
        timeout=600,
        on_lines=counter,
        artifact=artifact,
        redact=redact,
    )
    elapsed = time.perf_counter() - started
    meter.cancel()
    complete = "ok" if counter.lines == result.line_count == count else "LINES MISSING"
    samples = counter.rss_samples or [rss_before]
    rate = count / elapsed
    print(f"{name}: {count:,} lines in {elapsed:.2f} s = {rate:,.0f} lines/s ({complete})")
    print(
        f"  on_lines calls {counter.batches:,}, largest batch {counter.largest:,}, "
        f"mean {counter.lines / max(counter.batches, 1):,.0f}"
    )
    print(f"  artifact {artifact.stat().st_size / 1e6:.1f} MB, exit {result.exit_code}")
    lags.sort()
    print(
        f"  event-loop lag (10 ms timer): median {lags[len(lags) // 2] * 1000:.1f} ms, "
        f"p99 {lags[int(len(lags) * 0.99)] * 1000:.1f} ms, max {lags[-1] * 1000:.1f} ms"
    )
    print(
        f"  peak RSS growth (ru_maxrss) {(max_rss_kib() - peak_before) / 1024:.1f} MiB; "
        f"VmRSS before {rss_before / 1024:.1f} MiB, during {min(samples) / 1024:.1f}"
        f"..{max(samples) / 1024:.1f} MiB ({len(samples)} samples)"
    )


def redact_secret(text: str) -> str:
    return text.replace("hunter2", "***") if "hunter2" in text else text


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        # Warm-up: imports, the child watcher, first allocations, not the run's cost.
        await run_command(
            ["seq", "1", "20000"],
            timeout=60,
            on_lines=lambda lines: None,
            artifact=Path(directory) / "warmup.log",
        )
        print(f"python {sys.version.split()[0]}, VmRSS after warm-up {vm_rss_kib() / 1024:.1f} MiB")
        await measure(args.lines, Path(directory), "no redaction", lambda s: s)
        await measure(args.lines, Path(directory), "str.replace redaction", redact_secret)


if __name__ == "__main__":
    asyncio.run(main())
