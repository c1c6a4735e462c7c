"""A step that prints 1,000,000 lines, streamed through the wizard: lines per second, how
long a key press waits to be answered meanwhile, and memory.

The wizard runs headless (Textual's test driver, 120x40) on top of an empty screen, as it
sits on the dashboard. A key is posted every 50 ms while the command runs; its latency is
the time from posting to the moment its binding runs. Targets (issue 4): at least
100,000 lines/s, keys answered within 100 ms, memory flat.
Run: .venv/bin/python bench/wizard_stream.py [--lines 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from textual import events
from textual.app import App
from textual.screen import Screen

from opsconsole.runbooks.model import Runbook
from opsconsole.tui.screens.wizard import WizardScreen

KEY_EVERY_SECONDS = 0.05


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Host(App[None]):
    """The wizard as the console shows it: it styles itself, no stylesheet needed."""

    def __init__(self, wizard: WizardScreen) -> None:
        super().__init__()
        self.wizard = wizard
        self.answered: list[float] = []

    def on_mount(self) -> None:
        self.push_screen(Screen())
        self.push_screen(self.wizard)

    def on_key(self, event: events.Key) -> None:
        if event.key == "z":  # unbound anywhere: it reaches the app as soon as it is read
            self.answered.append(time.perf_counter())


async def measure(lines: int) -> None:
    runbook = Runbook.model_validate(
        {
            "id": "flood",
            "title": "Flood",
            "summary": "Prints a lot.",
            "steps": [
                {
                    "id": "seq",
                    "kind": "command",
                    "title": "Print",
                    "argv": ["seq", "1", str(lines)],
                    "timeout_seconds": 600,
                }
            ],
        }
    )
    with tempfile.TemporaryDirectory() as artifacts:
        wizard = WizardScreen(runbook, {}, "bench", artifacts=Path(artifacts))
        app = Host(wizard)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.2)
            rss_before = rss_mib()
            started = time.perf_counter()
            posted: list[float] = []
            peak = rss_before
            while wizard.result is None and wizard.problem is None:
                posted.append(time.perf_counter())
                app.post_message(events.Key("z", "z"))
                await asyncio.sleep(KEY_EVERY_SECONDS)
                peak = max(peak, rss_mib())
            elapsed = time.perf_counter() - started
            await pilot.pause(0.2)
    latencies = sorted(
        (answered - sent) * 1000 for sent, answered in zip(posted, app.answered, strict=False)
    )
    p99 = latencies[max(0, round(0.99 * len(latencies)) - 1)]
    ended = wizard.result.outcome if wizard.result else wizard.problem
    print(
        f"wizard, {lines:,} lines from one step at 120x40: {elapsed:.2f} s, "
        f"{lines / elapsed:,.0f} lines/s ({ended})"
    )
    print(
        f"key answered: median {statistics.median(latencies):.1f} ms, p99 {p99:.1f} ms, "
        f"max {latencies[-1]:.1f} ms ({len(latencies)} keys)"
    )
    print(f"memory: VmRSS {rss_before:.0f} MiB before, peak {peak:.0f} MiB while streaming")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    asyncio.run(measure(parser.parse_args().lines))


if __name__ == "__main__":
    main()
