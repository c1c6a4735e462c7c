"""Numbers as people read them on a dashboard: two significant digits, so a value that
wobbles in its third digit does not repaint the screen every poll."""

from __future__ import annotations

from functools import lru_cache


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
