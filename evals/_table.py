"""The aggregates of an evaluation as a terminal table (``llmtrace eval run`` prints it too).

Example:
    >>> from rich.console import Console
    >>> Console().print(summary_table(result))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._result import EvaluationResult


def fmt(value: Any, digits: int = 3, sign: str = "") -> str:
    """A number for a table: ``digits`` decimals, or significant digits when it is tiny.

    Example:
        >>> fmt(0.690163), fmt(0.000321), fmt(None)
        ('0.690', '0.00032', '-')
    """
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != 0 and abs(value) < 10 ** (1 - digits):  # e.g. latencies in seconds
            return f"{value:{sign}.{digits - 1}g}"
        return f"{value:{sign}.{digits}f}"
    return str(value)


def short(text: str, width: int = 40) -> str:
    """One line of at most ``width`` characters, escaped for rich markup (data, not markup)."""
    from rich.markup import escape

    text = " ".join(text.split())
    return escape(text if len(text) <= width else text[: width - 1] + "…")


def table(title: str, tight: bool = False) -> Any:
    """A borderless rich table; ``tight``: one space between columns instead of two."""
    from rich import box
    from rich.table import Table

    return Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 0) if tight else (0, 1),
        collapse_padding=True,
        pad_edge=False,
    )


def summary_table(
    result: EvaluationResult, checks: Mapping[str, Sequence[str]] | None = None
) -> Any:
    """Per metric: mean, median, pass rate, threshold, rows scored, errors (and gate checks).

    ``checks`` adds a ``gate`` column: the ``--fail-under`` verdicts of each metric.
    """
    out = table(f"Evaluation of {len(result.table)} rows (pass: share >= thr; err: unscored)")
    columns = ["metric", "mean", "p50", "pass", "thr", "n", "err"]
    if checks is not None:
        columns.append("gate")
    for column in columns:
        out.add_column(
            column,
            justify="left" if column in ("metric", "gate") else "right",
            no_wrap=column == "metric",
        )
    for name, agg in result.aggregates.items():
        row = [
            short(name, 60),
            fmt(agg["mean"]),
            fmt(agg["p50"]),
            fmt(agg["pass_rate"]),
            fmt(agg["threshold"]),
            str(agg["n_scored"]),
            str(agg["n_errors"]),
        ]
        if checks is not None:
            row.append(", ".join(checks.get(name, ())))
        out.add_row(*row)
    return out
