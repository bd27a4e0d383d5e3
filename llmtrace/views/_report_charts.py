"""The report's charts: matplotlib figures written as inline SVG (no pyplot, no global state).

matplotlib is optional (``pip install 'llmtrace[report]'``); `svg` imports it on first use and
says which extra to install when it is missing. Text stays text (``svg.fonttype = none``), so
the charts are small and their labels searchable; ids are salted so a report is reproducible.

Example:
    >>> svg = line_chart("p95", [datetime(2026, 1, 1)], {"p95": [120.0]}, "ms")   # doctest: +SKIP
    >>> svg.startswith("<svg")
    True
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .._errors import LLMTraceError

PALETTE = ("#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5")


class ReportDependencyError(LLMTraceError):
    """matplotlib, which draws the report's charts, is not installed."""


def _matplotlib() -> Any:
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise ReportDependencyError(
            "llmtrace report draws its charts with matplotlib, which is not installed: "
            "pip install 'llmtrace[report]'"
        ) from None
    return matplotlib, Figure


def _figure(width: float = 7.5, height: float = 2.8, left: float = 0.125) -> Any:
    """A figure with fixed margins (a constrained layout would draw every chart twice)."""
    _, figure_class = _matplotlib()
    fig = figure_class(figsize=(width, height), dpi=100)
    bottom = min(0.45, 0.62 / height)
    fig.subplots_adjust(left=left, right=0.98, top=1 - 0.32 / height, bottom=bottom)
    return fig, fig.add_subplot()


def _style(ax: Any, ylabel: str = "") -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)
    if ylabel:
        ax.set_ylabel(ylabel)


def svg(fig: Any) -> str:
    """The figure as an ``<svg>`` element (XML prologue dropped)."""
    matplotlib, _ = _matplotlib()
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "llmtrace"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _window(ax: Any, window: tuple[datetime, datetime] | None) -> None:
    if window is not None:
        ax.set_xlim(*window)


def _empty(ax: Any, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", color="#777", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def line_chart(
    title: str,
    times: Sequence[datetime],
    series: dict[str, Sequence[float | None]],
    ylabel: str,
    window: tuple[datetime, datetime] | None = None,
) -> str:
    """One line per series over time (None leaves a gap)."""
    fig, ax = _figure()
    _window(ax, window)
    _style(ax, ylabel)
    drawn = any(v is not None for values in series.values() for v in values)
    if not drawn:
        _empty(ax, "nothing in this window")
    for i, (name, values) in enumerate(series.items() if drawn else ()):
        ys = [float("nan") if v is None else v for v in values]
        ax.plot(times, ys, marker="o", markersize=3, label=name, color=PALETTE[i % len(PALETTE)])
    if drawn:
        ax.legend(frameon=False, fontsize=8, loc="best")
        fig.autofmt_xdate()
    ax.set_title(title, loc="left", fontsize=10)
    return svg(fig)


def bar_chart(
    title: str,
    times: Sequence[datetime],
    values: Sequence[float],
    ylabel: str,
    width_days: float,
    window: tuple[datetime, datetime] | None = None,
) -> str:
    """Bars over time."""
    fig, ax = _figure()
    _window(ax, window)
    _style(ax, ylabel)
    if not times:
        _empty(ax, "no traces in this window")
    else:
        ax.bar(times, values, width=width_days * 0.8, color=PALETTE[2], align="edge")
        fig.autofmt_xdate()
    ax.set_title(title, loc="left", fontsize=10)
    return svg(fig)


def stacked_bars(
    title: str,
    times: Sequence[datetime],
    stacks: dict[str, Sequence[float]],
    ylabel: str,
    width_days: float,
    window: tuple[datetime, datetime] | None = None,
) -> str:
    """Bars over time, one colour per stack (e.g. per model)."""
    fig, ax = _figure()
    _window(ax, window)
    _style(ax, ylabel)
    if not times or not stacks:
        _empty(ax, "no model calls in this window")
    else:
        bottom = [0.0] * len(times)
        for i, (name, values) in enumerate(stacks.items()):
            ax.bar(times, values, width=width_days * 0.8, bottom=bottom, label=name,
                   color=PALETTE[i % len(PALETTE)], align="edge")  # fmt: skip
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.legend(frameon=False, fontsize=8, loc="upper left")
        fig.autofmt_xdate()
    ax.set_title(title, loc="left", fontsize=10)
    return svg(fig)


def hbar_chart(title: str, labels: Sequence[str], values: Sequence[float], xlabel: str) -> str:
    """Horizontal bars, first label on top."""
    longest = max((len(label[:40]) for label in labels), default=0)
    fig, ax = _figure(
        height=max(1.6, 0.3 * len(labels) + 0.9), left=min(0.4, 0.03 + 0.0095 * longest)
    )
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if not labels:
        _empty(ax, "nothing in this window")
    else:
        positions = list(range(len(labels)))[::-1]
        ax.barh(positions, values, color=PALETTE[0])
        ax.set_yticks(positions, [label[:40] for label in labels])
        ax.set_xlabel(xlabel)
    ax.set_title(title, loc="left", fontsize=10)
    return svg(fig)


def grouped_bars(title: str, groups: Sequence[str], series: dict[str, Sequence[float]]) -> str:
    """One group of bars per label (e.g. per run), one bar per series (e.g. per metric)."""
    fig, ax = _figure()
    _style(ax, "mean score")
    if not groups or not series:
        _empty(ax, "no evaluation runs yet (llmtrace eval run ...)")
    else:
        width = 0.8 / len(series)
        for i, (name, values) in enumerate(series.items()):
            xs = [g + i * width for g in range(len(groups))]
            ax.bar(xs, values, width=width, label=name, color=PALETTE[i % len(PALETTE)])
        ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))], [g[:18] for g in groups])
        ax.legend(frameon=False, fontsize=8)
    ax.set_title(title, loc="left", fontsize=10)
    return svg(fig)
