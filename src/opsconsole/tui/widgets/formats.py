"""Numbers as the panes show them: two significant digits, so a value that wobbles in its
third digit does not repaint the screen every poll; a symbol beside every colour, so a
breach reads the same under NO_COLOR."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from rich.text import Text

# The figures themselves are plain functions with no UI in them; the panes use them here.
from opsconsole.common.readable import percent as percent
from opsconsole.common.readable import rate as rate
from opsconsole.common.readable import seconds as seconds
from opsconsole.common.readable import significant as significant
from opsconsole.common.readable import size as size

BREACH = "▲"
BAD = "✖"
GOOD = "✔"
STALE = "?"
"""After a value from the last good reading of a source that now fails."""
NONE = "—"
BARS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class Looks:
    """How each kind of thing is styled on screen; its symbol says the same in words."""

    good: str
    """UP, a step done."""
    warn: str
    """DEGRADED, a queue over its length, restarts: look soon."""
    bad: str
    """DOWN, a breach, a failed step: look now."""
    quiet: str
    """Not configured, pending, skipped, checking: nothing to read into."""
    stale: str
    """The last value known of a source that now fails (marked `?` as well)."""
    active: str
    """The step running now."""
    said: str
    """The words beside a bad state (its reason): as loud as it, without the badge."""


COLOUR = Looks(
    good="green",
    warn="yellow",
    bad="bold red",
    quiet="dim",
    stale="dim",
    active="bold",
    said="bold red",
)
# Without colour a colour turns to a grey (red to a dark one) and dim text to a fainter
# one: DOWN would be the least readable word on the screen. So every state reads by its
# symbol and its weight, the worst reversed, and nothing is dimmed.
MONOCHROME = Looks(
    good="",
    warn="bold",
    bad="bold reverse",
    quiet="",
    stale="italic",
    active="bold underline",
    said="bold",
)
LOOK = COLOUR
"""What the widgets draw with: the app sets it once it knows whether colour is wanted."""


def use_colour(colour: bool) -> None:
    global LOOK
    LOOK = COLOUR if colour else MONOCHROME


def judged(text: str, breached: bool, stale: bool = False) -> Text:
    """A value, marked when it is over its threshold and when it is no longer current."""
    shown = f"{BREACH} {text}" if breached else text
    if stale:
        return Text(shown + STALE, style=LOOK.stale)
    return Text(shown, style=LOOK.bad if breached else "")


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

    def shown(self, key: tuple[str, str]) -> float | None:
        """The figure on screen for `key`: what any other line saying it must say too."""
        held = self._shown.get(key)
        return held[0] if held is not None else None


def sparkline(values: Sequence[float], width: int, ceiling: float) -> str:
    """The last `width` values as bars, full height at `ceiling` (a threshold) or at the
    largest value when that is higher; padded on the left until there is history."""
    return _bars(tuple(values)[-width:], width, ceiling)


@lru_cache(maxsize=4096)  # a trend's buckets stay the same for 30 s, poll after poll
def _bars(shown: tuple[float, ...], width: int, ceiling: float) -> str:
    top = max([ceiling, *shown]) or 1.0
    bars = "".join(BARS[min(len(BARS) - 1, int(v / top * (len(BARS) - 1) + 0.5))] for v in shown)
    return bars.rjust(width)
