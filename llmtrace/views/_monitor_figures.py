"""The figures `llmtrace monitor` and `llmtrace report` show, whichever way they were computed.

A *unit* is one trace (for the time buckets and the ``session``/``user`` groups) or one span
(for the ``span``/``model``/``tool`` groups). Each set of units gives one `Figures`: how many,
how many failed, latency percentiles, tokens and cost. Percentiles use the nearest-rank rule
(the value at rank ``ceil(p/100 * n)`` of the sorted latencies), in SQL and in Python alike, so
both read paths give equal figures.

Example:
    >>> figures("chat", [(120.0, False, 15, 0.003), (80.0, True, 0, 0.0)]).p50_ms
    80.0
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

GROUPINGS = ("span", "model", "tool", "session", "user")
"""What ``--by`` accepts: span names, model names, tool (TOOL span) names, sessions, users."""

SPAN_GROUPINGS = frozenset({"span", "model", "tool"})
"""The groupings whose units are spans (the others count traces)."""

PERCENTILES = (50, 95, 99)

Unit = tuple[float | None, bool, int, float]
"""(latency in ms or None while in progress, failed, tokens, cost in USD)."""


def nearest_rank(sorted_values: Sequence[float], p: int) -> float | None:
    """The ``p``-th percentile of ascending values by the nearest-rank rule (None when empty).

    Example:
        >>> nearest_rank([10.0, 20.0, 30.0, 40.0], 50)
        20.0
    """
    if not sorted_values:
        return None
    rank = max(1, -(-p * len(sorted_values) // 100))  # ceil in integers, as the SQL does
    return float(sorted_values[rank - 1])


@dataclass(frozen=True)
class Figures:
    """Traces (or spans), errors, latency percentiles, tokens and cost of one bucket or group.

    Example:
        >>> Figures("all", count=4, errors=1).error_rate
        0.25
    """

    key: str
    count: int = 0
    errors: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    tokens: int = 0
    cost_usd: float = 0.0
    trend: list[float | None] = field(default_factory=list)
    """For a group: its p95 latency per time bucket (None where it has no unit)."""

    @property
    def error_rate(self) -> float:
        """Failed units over all units (0 when there are none)."""
        return self.errors / self.count if self.count else 0.0

    def value(self, metric: str) -> float:
        """One figure by name (`METRICS`); a missing percentile reads as 0."""
        if metric == "error_rate":
            return self.error_rate
        if metric == "traces":
            return float(self.count)
        found = getattr(self, metric)
        return 0.0 if found is None else float(found)

    def to_json(self) -> dict[str, Any]:
        """A plain dict (error_rate included), for ``--json`` and the report's embedded data."""
        out = asdict(self)
        out["error_rate"] = self.error_rate
        out["cost_usd"] = round(self.cost_usd, 10)
        return out


METRICS = ("traces", "errors", "error_rate", "p50_ms", "p95_ms", "p99_ms", "tokens", "cost_usd")
"""The figures ``--fail-if`` can test (``traces`` is the unit count of the whole window)."""


def figures(key: str, units: Iterable[Unit]) -> Figures:
    """The figures of ``units``, computed in Python (the fallback path's aggregate).

    Example:
        >>> figures("x", [(5.0, False, 3, 0.5)]).tokens
        3
    """
    latencies: list[float] = []
    count = errors = tokens = 0
    cost = 0.0
    for latency, failed, unit_tokens, unit_cost in units:
        count += 1
        errors += bool(failed)
        tokens += unit_tokens
        cost += unit_cost
        if latency is not None:
            latencies.append(latency)
    latencies.sort()
    p50, p95, p99 = (nearest_rank(latencies, p) for p in PERCENTILES)
    return Figures(key, count, errors, p50, p95, p99, tokens, cost)


def worst_first(groups: Iterable[Figures]) -> list[Figures]:
    """Groups ordered worst first: highest error rate, then slowest p95, then busiest."""
    return sorted(groups, key=lambda g: (-g.error_rate, -(g.p95_ms or 0.0), -g.count, g.key))


class Aggregate(NamedTuple):
    """What a read path returns: the window's total, its buckets, its groups, and each group's
    figures per bucket (``cells[group][bucket start]``)."""

    total: Figures
    buckets: list[Figures]
    groups: list[Figures]
    cells: dict[str, dict[int, Figures]]


@dataclass(frozen=True)
class Summary:
    """Everything `llmtrace monitor` prints: the window, its total, its buckets and its groups.

    Example:
        >>> summary = summarise(store, since="24h", by="model")   # doctest: +SKIP
        >>> summary.total.error_rate, [g.key for g in summary.groups][:3]
    """

    tracking_uri: str
    experiment: str
    since_ms: int
    until_ms: int
    every_ms: int
    by: str
    source: str
    """``"sql"`` (aggregated by SQLite, read-only) or ``"client"`` (MLflow's client)."""
    total: Figures
    buckets: list[Figures]
    """One per time bucket that has traces, oldest first; key = bucket start (epoch ms)."""
    groups: list[Figures]
    """Worst first (`worst_first`), each with its p95 ``trend`` over `bucket_starts`."""
    cells: dict[str, dict[int, Figures]] = field(default_factory=dict)
    """Each group's figures per bucket start (not in `to_json`)."""

    def bucket_starts(self) -> list[int]:
        """Every bucket's start in the window (epoch ms), empty ones included."""
        first = self.since_ms - self.since_ms % self.every_ms
        return list(range(first, self.until_ms, self.every_ms))

    def to_json(self) -> dict[str, Any]:
        """The summary as plain JSON-able data."""
        return {
            "tracking_uri": self.tracking_uri,
            "experiment": self.experiment,
            "since_ms": self.since_ms,
            "until_ms": self.until_ms,
            "every_ms": self.every_ms,
            "by": self.by,
            "source": self.source,
            "total": self.total.to_json(),
            "buckets": [b.to_json() for b in self.buckets],
            "groups": [g.to_json() for g in self.groups],
        }
