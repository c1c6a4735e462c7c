"""Durations and ages as an on-call engineer reads them: short, exact enough."""

from __future__ import annotations


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
