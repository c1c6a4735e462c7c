"""How figures read on screen: short, steady, and marked without relying on colour."""

from __future__ import annotations

import pytest

from opsconsole.tui.widgets import formats


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.0351, "35ms"), (0.351, "350ms"), (0.9999, "1s"), (1.24, "1.2s"), (12.4, "12s"),
     (124.0, "120s")],
)  # fmt: skip
def test_latency_in_two_significant_digits(seconds: float, shown: str) -> None:
    assert formats.seconds(seconds) == shown


@pytest.mark.parametrize(
    ("ratio", "shown"),
    [(0, "0%"), (0.0004, "<0.1%"), (0.0052, "0.52%"), (0.02, "2%"), (0.123, "12%"), (1, "100%")],
)
def test_error_rate_as_a_percentage(ratio: float, shown: str) -> None:
    assert formats.percent(ratio) == shown


def test_a_breach_is_marked_with_a_symbol_not_only_a_colour() -> None:
    assert formats.judged("2.4s", breached=True).plain == "▲ 2.4s"
    assert formats.judged("350ms", breached=False).plain == "350ms"
    assert formats.judged("350ms", breached=False, stale=True).plain == "350ms?"


def test_steady_holds_noise_and_moves_on_news() -> None:
    steady = formats.Steady(tolerance=0.1)
    key = ("api", "p95")
    assert steady(key, 0.050, limit=2.0) == 0.050
    assert steady(key, 0.054, limit=2.0) == 0.050  # 8 %: noise
    assert steady(key, 0.046, limit=2.0) == 0.050
    assert steady(key, 0.060, limit=2.0) == 0.060  # 20 %: news
    assert steady(("web", "p95"), 0.054, limit=2.0) == 0.054  # each figure on its own


def test_steady_never_hides_a_threshold_crossing() -> None:
    steady = formats.Steady(tolerance=0.1)
    key = ("api", "p95")
    assert steady(key, 1.95, limit=2.0) == 1.95
    assert steady(key, 2.01, limit=2.0) == 2.01  # within 10 %, but now over the SLA
    assert steady(key, 1.99, limit=2.0) == 1.99  # and back under it


def test_sparkline_is_scaled_to_the_threshold_and_padded_until_history() -> None:
    assert formats.sparkline([0.5, 1.0, 2.0], width=6, ceiling=2.0) == "   ▃▅█"
    assert formats.sparkline([4.0, 2.0], width=2, ceiling=2.0) == "█▅"  # over it: to the max
    assert formats.sparkline([], width=3, ceiling=1.0) == "   "
