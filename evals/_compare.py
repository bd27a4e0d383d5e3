"""Compare two evaluation runs row by row: per-metric deltas, a paired significance test, and
the rows that regressed most (what ``llmtrace eval compare`` prints).

Each run's per-row table is its ``eval/rows.json`` artifact (see `evals._logging`). Rows of the
two runs are paired by a key: the trace id when both runs scored the same traces, else the
question (the input), else the row position. For every metric both runs have, the paired
differences ``d = B - A`` get:

- a two-sided **paired permutation test** (sign flip): under "no difference" each ``d_i`` is as
  likely to be ``-d_i``; the p-value is the share of sign assignments whose mean ``|d|`` is at
  least the observed one. Exact (all ``2**n`` assignments) when ``2**n <= resamples``, else
  ``resamples`` seeded random ones with the ``(k + 1) / (resamples + 1)`` estimate;
- a seeded **paired bootstrap** 95% confidence interval of the mean difference.

Only numpy is used, so results are reproducible for a given ``seed``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Metrics where a smaller value is better (the others: larger is better).
LOWER_IS_BETTER = frozenset(
    {"latency_s", "cost_usd", "total_tokens", "input_tokens", "output_tokens", "num_steps"}
)
KEYS = ("auto", "trace_id", "question", "row")
#: Largest resamples x rows block drawn at once (bounds memory: ~16 MB of float64).
_BLOCK = 2_000_000


@dataclass(frozen=True)
class RunTable:
    """One run's per-row scores, as logged in ``eval/rows.json``."""

    run_id: str
    run_name: str | None
    rows: list[dict[str, Any]]

    @property
    def metrics(self) -> list[str]:
        """Metric names, in table order (from the ``<metric>/value`` columns)."""
        names: list[str] = []
        for row in self.rows[:1]:
            names = [c[: -len("/value")] for c in row if c.endswith("/value")]
        return names


@dataclass(frozen=True)
class PairedTest:
    """Result of `paired_test`: mean difference ``B - A``, its CI and the p-value."""

    n: int
    mean_a: float
    mean_b: float
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    exact: bool
    """True when the p-value enumerated every sign assignment (no sampling)."""


@dataclass(frozen=True)
class RowChange:
    """One row's change on one metric (``b`` None: B has an error instead of a value)."""

    metric: str
    key: str
    a: float | None
    b: float | None
    change: float
    """``B - A`` turned so that negative is worse (``A - B`` for lower-is-better metrics);
    ``-inf`` when B lost the value to an error."""
    error: str | None = None


@dataclass(frozen=True)
class MetricComparison:
    """Per-metric figures of a comparison."""

    name: str
    higher_is_better: bool
    test: PairedTest | None
    """None when no row has a value in both runs."""
    new_errors: int
    fixed_errors: int

    def verdict(self, alpha: float) -> str:
        """``better``/``worse`` (significant at ``alpha``), ``no significant change``, ``n/a``."""
        t = self.test
        if t is None:
            return "n/a"
        if t.p_value >= alpha or t.delta == 0:
            return "no significant change"
        improved = t.delta > 0 if self.higher_is_better else t.delta < 0
        return "better" if improved else "worse"


@dataclass
class Comparison:
    """What `compare` found: pairing, per-metric tests, rows that regressed most."""

    run_a: RunTable
    run_b: RunTable
    key: str
    matched: int
    only_a: int
    only_b: int
    metrics: list[MetricComparison] = field(default_factory=list)
    regressions: list[RowChange] = field(default_factory=list)
    resamples: int = 10_000
    seed: int = 0
    top: int = 5

    def to_json(self, alpha: float) -> dict[str, Any]:
        """A JSON-ready dict (what ``--json`` prints)."""
        return {
            "run_a": {"run_id": self.run_a.run_id, "run_name": self.run_a.run_name},
            "run_b": {"run_id": self.run_b.run_id, "run_name": self.run_b.run_name},
            "key": self.key,
            "matched_rows": self.matched,
            "only_in_a": self.only_a,
            "only_in_b": self.only_b,
            "test": "paired permutation (sign flip), two-sided; paired bootstrap 95% CI",
            "resamples": self.resamples,
            "seed": self.seed,
            "alpha": alpha,
            "metrics": [
                {
                    "metric": m.name,
                    "higher_is_better": m.higher_is_better,
                    "verdict": m.verdict(alpha),
                    "new_errors": m.new_errors,
                    "fixed_errors": m.fixed_errors,
                    **({} if m.test is None else vars(m.test)),
                }
                for m in self.metrics
            ],
            "regressions": [
                {**vars(r), "change": None if math.isinf(r.change) else r.change}
                for r in self.regressions
            ],
        }


def read_rows_json(path: str | Path) -> list[dict[str, Any]]:
    """The rows of an ``eval/rows.json`` file (pandas "split" JSON) as dicts."""
    table = json.loads(Path(path).read_text(encoding="utf-8"))
    columns = table["columns"]
    return [dict(zip(columns, values, strict=True)) for values in table["data"]]


def _sign_means(d: Any, signs: Any) -> Any:
    return (signs * d).mean(axis=1)


def paired_test(
    a: Sequence[float], b: Sequence[float], *, resamples: int = 10_000, seed: int = 0
) -> PairedTest:
    """Paired permutation test and bootstrap CI of ``mean(b - a)`` (see the module docstring).

    Example:
        >>> t = paired_test([0.9, 0.8, 1.0, 0.7], [0.5, 0.6, 0.9, 0.2])
        >>> round(t.delta, 3), t.p_value, t.exact
        (-0.3, 0.125, True)
    """
    import numpy as np

    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) == 0:
        raise ValueError("paired_test needs two equally long, non-empty lists of numbers")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    d = y - x
    n = len(d)
    observed = abs(float(d.mean()))
    tolerance = 1e-12 * max(1.0, observed)
    rng = np.random.default_rng(seed)
    exact = n <= 16 and 2**n <= resamples
    if exact:
        codes = np.arange(2**n, dtype=np.int64)[:, None] >> np.arange(n, dtype=np.int64)
        signs = 1.0 - 2.0 * (codes & 1)
        extreme = int(np.sum(np.abs(_sign_means(d, signs)) >= observed - tolerance))
        p_value = extreme / 2**n
    else:
        extreme, done = 0, 0
        block = max(1, _BLOCK // n)
        while done < resamples:
            size = min(block, resamples - done)
            signs = rng.choice(np.array([-1.0, 1.0]), size=(size, n))
            extreme += int(np.sum(np.abs(_sign_means(d, signs)) >= observed - tolerance))
            done += size
        p_value = (extreme + 1) / (resamples + 1)
    boots = np.empty(resamples)
    done = 0
    block = max(1, _BLOCK // n)
    while done < resamples:
        size = min(block, resamples - done)
        boots[done : done + size] = d[rng.integers(0, n, size=(size, n))].mean(axis=1)
        done += size
    low, high = np.percentile(boots, [2.5, 97.5])
    return PairedTest(
        n=n,
        mean_a=float(x.mean()),
        mean_b=float(y.mean()),
        delta=float(d.mean()),
        ci_low=float(low),
        ci_high=float(high),
        p_value=min(1.0, float(p_value)),
        exact=exact,
    )


def _present(rows: Sequence[Mapping[str, Any]], column: str) -> bool:
    return bool(rows) and all(r.get(column) not in (None, "") for r in rows)


def choose_key(a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]]) -> str:
    """``trace_id`` when both runs scored some of the same traces, else ``question`` when
    every row has one, else ``row`` (position)."""
    if _present(a, "trace_id") and _present(b, "trace_id"):
        if {r["trace_id"] for r in a} & {r["trace_id"] for r in b}:
            return "trace_id"
    for column in ("question", "inputs"):
        if _present(a, column) and _present(b, column):
            return column
    return "row"


def row_keys(rows: Sequence[Mapping[str, Any]], key: str) -> list[str]:
    """Each row's key; a repeated key gets ``#2``, ``#3``... in order of appearance."""
    if key == "question" and not _present(rows, "question") and _present(rows, "inputs"):
        key = "inputs"
    seen: dict[str, int] = {}
    keys = []
    for position, row in enumerate(rows):
        value = row.get("row", position) if key == "row" else row.get(key)
        if value is None:
            raise ValueError(f"a row has no {key!r}: pair the runs with another --key")
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        seen[text] = seen.get(text, 0) + 1
        keys.append(text if seen[text] == 1 else f"{text}#{seen[text]}")
    return keys


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) else float(value)


def compare(
    run_a: RunTable,
    run_b: RunTable,
    *,
    key: str = "auto",
    metrics: Iterable[str] | None = None,
    lower_is_better: Iterable[str] = LOWER_IS_BETTER,
    resamples: int = 10_000,
    seed: int = 0,
    top: int = 5,
) -> Comparison:
    """Pair the rows of two runs and compare every metric both have (or those named).

    Example:
        >>> c = compare(RunTable("a", None, rows_a), RunTable("b", None, rows_b))
        >>> [(m.name, m.test.delta, m.test.p_value) for m in c.metrics]
    """
    if key not in KEYS:
        raise ValueError(f"key must be one of {', '.join(KEYS)}, got {key!r}")
    if not run_a.rows or not run_b.rows:
        empty = run_a if not run_a.rows else run_b
        raise ValueError(f"run {empty.run_id} has no scored rows")
    chosen = choose_key(run_a.rows, run_b.rows) if key == "auto" else key
    keys_a, keys_b = row_keys(run_a.rows, chosen), row_keys(run_b.rows, chosen)
    index_b = dict(zip(keys_b, run_b.rows, strict=True))
    pairs = [(k, ra, index_b[k]) for k, ra in zip(keys_a, run_a.rows, strict=True) if k in index_b]
    common = [m for m in run_a.metrics if m in set(run_b.metrics)]
    if metrics is not None:
        wanted = list(dict.fromkeys(metrics))
        unknown = [m for m in wanted if m not in common]
        if unknown:
            raise ValueError(
                f"metric(s) {', '.join(unknown)} not in both runs; common metrics: "
                f"{', '.join(common) or 'none'}"
            )
        common = wanted
    lower = set(lower_is_better)
    result = Comparison(
        run_a,
        run_b,
        chosen,
        matched=len(pairs),
        only_a=len(keys_a) - len(pairs),
        only_b=len(keys_b) - len(pairs),
        resamples=resamples,
        seed=seed,
        top=top,
    )
    for name in common:
        higher = name not in lower
        col = f"{name}/value"
        a_values, b_values, changes = [], [], []
        new_errors = fixed_errors = 0
        for row_key, ra, rb in pairs:
            va, vb = _number(ra.get(col)), _number(rb.get(col))
            if va is not None and vb is not None:
                a_values.append(va)
                b_values.append(vb)
                change = (vb - va) if higher else (va - vb)
                if change < 0:
                    changes.append(RowChange(name, row_key, va, vb, change))
            elif va is not None:
                new_errors += 1
                error = rb.get(f"{name}/error")
                changes.append(RowChange(name, row_key, va, None, -math.inf, error))
            elif vb is not None:
                fixed_errors += 1
        test = paired_test(a_values, b_values, resamples=resamples, seed=seed) if a_values else None
        result.metrics.append(MetricComparison(name, higher, test, new_errors, fixed_errors))
        changes.sort(key=lambda c: c.change)  # stable: ties keep the order of run A
        result.regressions.extend(changes[:top])
    return result
