"""`assert_scores`: fail a test when an evaluation misses its thresholds, saying which rows and why.

A check is ``metric=MIN`` (the mean must be ``>= MIN``) or ``metric=(STAT, MIN)`` with STAT one
of ``mean``, ``p50``, ``pass_rate`` (share of rows at or above the metric's own threshold) or
``min`` (every row). Rows the metric could not score (an error in their cell) fail the check
too, unless ``allow_errors=True``: a mean over the rows that happened to work is not a pass.
The `AssertionError` lists, per failed check, the rows that pulled it down — lowest first, with
their question, answer, value and the metric's reason (or error).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

STATS = ("mean", "p50", "pass_rate", "min")
#: Rows listed per failed check.
MAX_ROWS = 10


@dataclass(frozen=True)
class Check:
    """One threshold: ``stat`` of ``metric`` must be ``>= minimum``."""

    metric: str
    stat: str
    minimum: float

    def __str__(self) -> str:
        return f"{self.metric} {self.stat} >= {self.minimum:g}"


def parse_check(metric: str, spec: Any) -> Check:
    """``0.8`` → mean >= 0.8; ``("pass_rate", 0.9)`` → pass rate >= 0.9.

    Example:
        >>> parse_check("faithfulness", ("pass_rate", 0.9))
        Check(metric='faithfulness', stat='pass_rate', minimum=0.9)
    """
    stat, minimum = "mean", spec
    if isinstance(spec, (tuple, list)) and len(spec) == 2:
        stat, minimum = spec
    if (
        stat not in STATS
        or isinstance(minimum, bool)
        or not isinstance(minimum, (int, float))
        or math.isnan(minimum)
    ):
        raise ValueError(
            f"check {metric}={spec!r}: give a number (the mean's minimum) or (STAT, MIN) with "
            f"STAT one of {', '.join(STATS)}, e.g. {metric}=0.8 or {metric}=('pass_rate', 0.9)"
        )
    return Check(metric, str(stat), float(minimum))


def parse_gate(spec: str) -> Check:
    """A command-line gate ``METRIC=MIN`` or ``METRIC/STAT=MIN`` (``--llmtrace-fail-under``).

    Example:
        >>> parse_gate("faithfulness/pass_rate=0.9")
        Check(metric='faithfulness', stat='pass_rate', minimum=0.9)
    """
    target, sep, number = spec.partition("=")
    name, _, stat = target.strip().partition("/")
    try:
        minimum = float(number)
    except ValueError:
        minimum = math.nan
    if not sep or not name or math.isnan(minimum) or (stat or "mean") not in STATS:
        raise ValueError(
            f"{spec!r}: write METRIC=MIN or METRIC/STAT=MIN with STAT one of "
            f"{', '.join(STATS)}, e.g. token_f1=0.8 or faithfulness/pass_rate=0.9"
        )
    return Check(name, stat or "mean", minimum)


def _value(result: Any, check: Check) -> tuple[float | None, float | None]:
    """(the statistic, the per-row cut that counts a row as failing)."""
    agg = result.aggregates[check.metric]
    values = [s.value for s in result.scores.get(check.metric, []) if s.value is not None]
    if check.stat == "pass_rate":
        if agg.get("threshold") is None:
            raise ValueError(
                f"check {check}: metric {check.metric!r} has no threshold, so it has no pass "
                "rate; give the metric threshold=... or check its mean"
            )
        return agg.get("pass_rate"), float(agg["threshold"])
    if check.stat == "min":
        return (min(values) if values else None), check.minimum
    return agg.get(check.stat), check.minimum


def _short(value: Any, width: int = 60) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _failing_rows(result: Any, metric: str, cut: float | None, allow_errors: bool) -> list[str]:
    table = result.table
    rows: list[tuple[float, str]] = []
    for index, record in zip(table.index, table.to_dict("records"), strict=True):
        value = record.get(f"{metric}/value")
        error = record.get(f"{metric}/error")
        if value is None or (isinstance(value, float) and math.isnan(value)):
            if allow_errors:
                continue
            why, rank, shown = f"error: {_short(error, 80)}", -math.inf, "error"
        elif cut is not None and value < cut:
            reason = record.get(f"{metric}/reason")
            why = f"reason: {_short(reason, 80)}" if reason else ""
            rank, shown = value, f"{value:.3g}"
        else:
            continue
        parts = [f"row {index}", shown]
        for column in ("question", "answer"):
            if record.get(column) is not None:
                parts.append(f"{column}={_short(record[column], 50)!r}")
        rows.append((rank, "  ".join([*parts, why] if why else parts)))
    rows.sort(key=lambda item: item[0])  # lowest (errors) first; stable
    return [line for _, line in rows]


def failures(result: Any, checks: list[Check], allow_errors: bool = False) -> list[str]:
    """One message block per failed check (empty: every check passed)."""
    out: list[str] = []
    for check in checks:
        if check.metric not in result.aggregates:
            raise ValueError(
                f"check {check}: {check.metric!r} was not scored; scored: "
                f"{', '.join(result.aggregates) or 'none'}"
            )
        value, cut = _value(result, check)
        agg = result.aggregates[check.metric]
        errors = 0 if allow_errors else int(agg.get("n_errors") or 0)
        if value is not None and value >= check.minimum and not errors:
            continue
        shown = "n/a (no row scored)" if value is None else f"{value:.4g}"
        head = f"{check.metric}: {check.stat} {shown}, needs >= {check.minimum:g}"
        unscored = f"{errors} row(s) not scored (allow_errors=True to ignore them)"
        if value is not None and value >= check.minimum:
            head = f"{check.metric}: {check.stat} {shown} >= {check.minimum:g}, but {unscored}"
        elif errors:
            head += f"; {unscored}"
        rows = _failing_rows(result, check.metric, cut, allow_errors)
        what = f"below {cut:g}" if cut is not None else "failing"
        lines = [head, f"  rows {what} or not scored ({len(rows)}), lowest first:"]
        lines += [f"    {line}" for line in rows[:MAX_ROWS]]
        if len(rows) > MAX_ROWS:
            lines.append(f"    ... and {len(rows) - MAX_ROWS} more (result.table has them all)")
        out.append("\n".join(lines))
    return out


def assert_scores(
    result: Any,
    checks: Mapping[str, Any] | None = None,
    /,
    *,
    allow_errors: bool = False,
    **thresholds: Any,
) -> None:
    """Assert that an evaluation meets its thresholds; the error lists the failing rows.

    Args:
        result: what `evals.evaluate` returned.
        checks: ``{metric: spec}`` for metric names that are not Python names (``"rougeL"``
            works as a keyword too).
        allow_errors: do not fail on rows the metric could not score.
        **thresholds: ``metric=MIN`` (mean >= MIN) or ``metric=(STAT, MIN)``, STAT one of
            ``mean``, ``p50``, ``pass_rate`` (rows at or above the metric's threshold),
            ``min`` (every row).

    Raises:
        AssertionError: a check failed; the message names the check, its value and the rows
            (question, answer, value, the metric's reason or error), lowest first.
        ValueError: no checks, a metric that was not scored, a malformed check.

    Example:
        >>> result = evals.evaluate(rows, [metrics.token_f1(), evals.Faithfulness(threshold=0.7)],
        ...                         judge=judge)
        >>> evals.assert_scores(result, token_f1=0.8, faithfulness=("pass_rate", 0.9))
    """
    specs = {**dict(checks or {}), **thresholds}
    if not specs:
        raise ValueError("assert_scores needs at least one check, e.g. token_f1=0.8")
    parsed = [parse_check(name, spec) for name, spec in specs.items()]
    failed = failures(result, parsed, allow_errors)
    if failed:
        rows = len(result.table)
        head = f"{len(failed)} of {len(parsed)} score checks failed on {rows} rows"
        if getattr(result, "run_id", None):
            head += f" (run {result.run_id})"
        raise AssertionError(head + ":\n" + "\n".join(failed))
