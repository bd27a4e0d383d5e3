"""Small text formatters shared by the views: durations, tokens, cost, times, clipping."""

from __future__ import annotations

import math
import time


def duration(ms: float | None) -> str:
    """``30 µs``, ``13.1 ms``, ``2.35 s``, ``3m 05s``; ``<1 µs`` below a microsecond; ``-``
    when unknown. Never ``0.00 ms``: each unit is chosen after rounding (``999.96 ms`` reads
    ``1.00 s``, not ``1000.0 ms``).

    Example:
        >>> duration(0.03), duration(13.14), duration(2345), duration(0.0004)
        ('30 µs', '13.1 ms', '2.35 s', '<1 µs')
    """
    if ms is None:
        return "-"
    if ms <= 0:
        return "0 µs"
    if round(ms * 1000) < 1:
        return "<1 µs"
    if round(ms * 1000) < 1000:
        return f"{ms * 1000:.0f} µs"
    if round(ms, 1) < 1000:
        return f"{ms:.1f} ms"
    if round(ms / 1000, 2) < 60:
        return f"{ms / 1000:.2f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes}m {seconds:02d}s"


def tokens(usage: dict[str, int] | None) -> str:
    """Total tokens with thousands separators (``1,234``), empty when unknown."""
    if not usage:
        return ""
    total = usage.get("total_tokens")
    if total is None:
        total = usage.get("input_tokens", 0) + usage.get("output_tokens", 0)
    return f"{total:,}"


def cost(usd: float | None) -> str:
    """``$0.000132`` below a cent, ``$0.0123`` above; empty when unknown."""
    if usd is None:
        return ""
    if usd == 0:
        return "$0"
    if usd < 0.01:
        return f"${usd:.6f}"
    return f"${usd:.4f}"


def timestamp(ms: int) -> str:
    """Milliseconds since the epoch as ``2026-01-02 03:04:05`` (UTC)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000))


def short_timestamp(ms: int) -> str:
    """Milliseconds since the epoch as ``01-02 03:04:05`` (UTC, no year: for narrow tables)."""
    return time.strftime("%m-%d %H:%M:%S", time.gmtime(ms / 1000))


def one_line(text: str) -> str:
    """Collapse newlines and runs of spaces so a value fits one line."""
    return " ".join(text.split())


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, ending in ``…`` when cut."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    return text[: max(0, width - 1)] + "…"


def bar(start: float, end: float, t0: float, t1: float, width: int) -> str:
    """A timing bar: ``█`` where the span ran, ``·`` elsewhere, relative to ``[t0, t1]``.

    Example:
        >>> bar(5, 10, 0, 10, 10)
        '·····█████'
    """
    if width <= 0:
        return ""
    span = t1 - t0
    if span <= 0:
        return "█" * width
    first = int((start - t0) / span * width)
    last = math.ceil((end - t0) / span * width)
    first = min(max(first, 0), width - 1)
    last = min(max(last, first + 1), width)
    return "·" * first + "█" * (last - first) + "·" * (width - last)
