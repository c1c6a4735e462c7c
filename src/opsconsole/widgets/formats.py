"""Numbers as the panes show them: two significant digits, so a value that wobbles in its
third digit does not repaint the screen every poll; a symbol beside every colour, so a
breach reads the same under NO_COLOR."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

BREACH = "▲"
BAD = "✖"
GOOD = "✔"
STALE = "?"
"""After a value from the last good reading of a source that now fails."""
NONE = "—"
BARS = "▁▂▃▄▅▆▇█"


def significant(value: float) -> str:
    """Two significant digits, without a needless exponent: 0.35, 3.5, 35, 350, 3500."""
    if value == 0:
        return "0"
    text = f"{value:.2g}"
    if "e" in text:
        text = f"{float(text):.0f}" if abs(value) >= 1 else f"{float(text):f}".rstrip("0")
    return text


def seconds(value: float) -> str:
    """``35ms``, ``350ms``, ``1.2s``, ``12s``."""
    milliseconds = significant(value * 1000)
    if float(milliseconds) < 1000:  # 0.9999 s rounds up to a second, not to "1000ms"
        return f"{milliseconds}ms"
    return f"{significant(value)}s"


def percent(ratio: float) -> str:
    """``0%``, ``<0.1%``, ``0.52%``, ``12%``."""
    if ratio == 0:
        return "0%"
    if ratio < 0.001:
        return "<0.1%"
    return f"{significant(ratio * 100)}%"


def rate(per_second: float) -> str:
    """``0.5``, ``12``, ``120``, ``1.2k``."""
    if per_second >= 1000:
        return f"{significant(per_second / 1000)}k"
    return significant(per_second)


def size(count: int) -> str:
    """Bytes in binary units: ``512 B``, ``12 MiB``, ``1.2 GiB``."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{significant(value) if unit != 'B' else int(value)} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def judged(text: str, breached: bool, stale: bool = False) -> Text:
    """A value, marked when it is over its threshold and when it is no longer current."""
    shown = f"{BREACH} {text}" if breached else text
    if stale:
        return Text(shown + STALE, style="dim")
    return Text(shown, style="bold red" if breached else "")


class Steady:
    """Holds each figure as shown until it moves by more than `tolerance` of itself, or
    crosses its threshold. A P95 that wanders 52, 56, 50 ms between polls is noise, not
    news; repainting it every poll is what makes a dashboard expensive over SSH."""

    def __init__(self, tolerance: float = 0.1) -> None:
        self.tolerance = tolerance
        self._shown: dict[tuple[str, str], tuple[float, bool]] = {}

    def __call__(self, key: tuple[str, str], value: float, limit: float | None = None) -> float:
        breached = limit is not None and value > limit
        shown = self._shown.get(key)
        if shown is not None:
            before, was_breached = shown
            if was_breached == breached and abs(value - before) <= self.tolerance * abs(before):
                return before
        self._shown[key] = (value, breached)
        return value


def sparkline(values: Sequence[float], width: int, ceiling: float) -> str:
    """The last `width` values as bars, full height at `ceiling` (a threshold) or at the
    largest value when that is higher; padded on the left until there is history."""
    shown = list(values)[-width:]
    top = max([ceiling, *shown]) or 1.0
    bars = "".join(BARS[min(len(BARS) - 1, int(v / top * (len(BARS) - 1) + 0.5))] for v in shown)
    return bars.rjust(width)
