"""Figures, durations and ages as an on-call engineer reads them: short, exact enough.

Numbers get two significant digits, so a value that wobbles in its third digit does not
repaint the screen every poll; ages count minutes past the first one, so a column of
them changes once a minute, not every second."""

from __future__ import annotations

from functools import lru_cache


def duration(seconds: float) -> str:
    """``4s``, ``2m 05s``, ``3h 12m``, ``2d 4h``."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def latency(seconds: float) -> str:
    """``12 ms`` below a second, ``1.42 s`` above."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def age(seconds: float) -> str:
    """``45s``, ``12m``, ``3h 12m``, ``2d 4h``: to the minute past the first one, so that a
    column of ages changes once a minute, not every second."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m"
    return duration(whole)


def significant(value: float) -> str:
    """Two significant digits, without a needless exponent: 0.35, 3.5, 35, 350, 3500."""
    if value == 0:
        return "0"
    text = f"{value:.2g}"
    if "e" in text:
        text = f"{float(text):.0f}" if abs(value) >= 1 else f"{float(text):f}".rstrip("0")
    return text


# A dashboard shows the same held figures poll after poll: worth remembering.
@lru_cache(maxsize=4096)
def seconds(value: float) -> str:
    """``35ms``, ``350ms``, ``1.2s``, ``12s``."""
    milliseconds = significant(value * 1000)
    if float(milliseconds) < 1000:  # 0.9999 s rounds up to a second, not to "1000ms"
        return f"{milliseconds}ms"
    return f"{significant(value)}s"


@lru_cache(maxsize=4096)
def percent(ratio: float) -> str:
    """``0%``, ``<0.1%``, ``0.52%``, ``12%``."""
    if ratio == 0:
        return "0%"
    if ratio < 0.001:
        return "<0.1%"
    return f"{significant(ratio * 100)}%"


@lru_cache(maxsize=4096)
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
