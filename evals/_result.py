"""What `evaluate` returns: per-row scores, per-metric aggregates, judge usage, the MLflow run."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._types import Metric, Row, Score

if TYPE_CHECKING:
    import pandas as pd

#: Prefix of the error of a score a budget stop left out (counted in ``unscored_by_budget``).
BUDGET_ERROR_PREFIX = "not scored: budget"

_AGGREGATE_KEYS = ("mean", "p50", "pass_rate", "threshold", "n_scored", "n_errors", "n_budget")


def aggregate(scores: Sequence[Score], threshold: float | None) -> dict[str, Any]:
    """Mean, median (p50), pass rate against ``threshold`` and counts of one metric's scores.

    ``mean``, ``p50`` and ``pass_rate`` are over the scored rows (None when none was scored;
    ``pass_rate`` None without a threshold); ``n_errors`` counts rows with an error, of which
    ``n_budget`` were left out by a budget stop.

    Example:
        >>> aggregate([Score(1.0), Score(0.0), Score(None, error="x")], threshold=0.5)
        {'mean': 0.5, 'p50': 0.5, 'pass_rate': 0.5, 'threshold': 0.5, 'n_scored': 2, ...}
    """
    values = [s.value for s in scores if s.value is not None]
    errors = [s for s in scores if s.value is None]
    passed = None
    if threshold is not None and values:
        passed = sum(v >= threshold for v in values) / len(values)
    return {
        "mean": statistics.fmean(values) if values else None,
        "p50": float(statistics.median(values)) if values else None,
        "pass_rate": passed,
        "threshold": threshold,
        "n_scored": len(values),
        "n_errors": len(errors),
        "n_budget": sum(1 for s in errors if (s.error or "").startswith(BUDGET_ERROR_PREFIX)),
    }


@dataclass
class EvaluationResult:
    """Scores of one `evaluate` call.

    Attributes:
        table: one row per input row — the input columns (``question``, ``answer``,
            ``expected``..., ``trace_id``) then, per metric, ``<metric>/value``,
            ``<metric>/reason`` and ``<metric>/error`` (value is None exactly when error is
            set; never NaN from us). With ``predict=``, also ``predict/error``.
        aggregates: per metric: ``mean``, ``p50``, ``pass_rate`` (share of scored rows with
            value >= threshold; None without a threshold), ``threshold``, ``n_scored``,
            ``n_errors``, ``n_budget`` (errors that are budget stops).
        judge_usage: what the judge did during this call, from ``judge.usage()`` (``calls``,
            ``cached_calls``, ``prompt_tokens``, ``completion_tokens``, ``cost_usd``...);
            empty without a judge.
        run_id: the MLflow run holding params, metrics and the table (None if not logged).
        experiment_id: its experiment.
        unscored_by_budget: scores left out because the budget was reached.
        scores: the `Score` objects by metric name, in row order.
        rows: the `Row` objects scored (after ``predict``).
        log_error: why logging to MLflow failed, if it did (the scores are still here).

    Example:
        >>> result = evals.evaluate(rows, [metrics.token_f1()])
        >>> result.aggregates["token_f1"]["mean"], result.run_id
        >>> result.table[["question", "token_f1/value", "token_f1/reason"]]
    """

    table: pd.DataFrame
    aggregates: dict[str, dict[str, Any]]
    judge_usage: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    experiment_id: str | None = None
    unscored_by_budget: int = 0
    scores: dict[str, list[Score]] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    log_error: str | None = None

    @property
    def metrics(self) -> dict[str, float]:
        """The aggregates as flat numbers, as logged to MLflow: ``{"token_f1/mean": 0.8, ...}``."""
        flat: dict[str, float] = {}
        for name, agg in self.aggregates.items():
            for key in _AGGREGATE_KEYS:
                if key != "threshold" and agg.get(key) is not None:
                    flat[f"{name}/{key}"] = float(agg[key])
        return flat

    def summary(self) -> pd.DataFrame:
        """The aggregates as a DataFrame, one line per metric.

        Example:
            >>> print(result.summary().to_string())
        """
        import pandas as pd

        frame = pd.DataFrame(  # object: a missing mean or pass rate shows as None, not NaN
            [[agg.get(k) for k in _AGGREGATE_KEYS] for agg in self.aggregates.values()],
            index=list(self.aggregates),
            columns=list(_AGGREGATE_KEYS),
            dtype=object,
        )
        frame.index.name = "metric"
        return frame

    def print_summary(self, console: Any = None) -> None:
        """Print the aggregates as the table ``llmtrace eval run`` prints (a rich console).

        Example:
            >>> result.print_summary()
             metric     mean    p50   pass   thr  n  err
             token_f1  0.690  0.600  0.857  0.500  7    0
        """
        from rich.console import Console

        from ._table import summary_table

        (console or Console(highlight=False)).print(summary_table(self))

    def __repr__(self) -> str:
        means = ", ".join(
            f"{name}={agg['mean']:.3g}" if agg["mean"] is not None else f"{name}=n/a"
            for name, agg in self.aggregates.items()
        )
        return f"<EvaluationResult rows={len(self.table)} {means} run_id={self.run_id!r}>"


# -- the per-row table --------------------------------------------------------------------------
_INPUT_FIELDS = (
    "trace_id",
    "question",
    "answer",
    "expected",
    "contexts",
    "context_ids",
    "reference_contexts",
    "reference_context_ids",
    "tool_calls",
    "expected_tool_calls",
)


def build_table(
    rows: Sequence[Row],
    metrics: Sequence[Metric],
    scores: Mapping[str, Sequence[Score]],
    predict_errors: Sequence[str | None] | None = None,
) -> pd.DataFrame:
    """The per-row DataFrame of `EvaluationResult.table`."""
    import pandas as pd

    columns: dict[str, list[Any]] = {}
    for name in _INPUT_FIELDS:
        values = [getattr(r, name) for r in rows]
        if any(v is not None for v in values):
            columns[name] = values
    extra_names: list[str] = []
    for r in rows:
        for key in r.extra:
            if key not in extra_names and key not in columns:
                extra_names.append(key)
    for key in extra_names:
        values = [r.extra.get(key) for r in rows]
        if key == "inputs" and all(
            v is None or v == {"question": r.question} for v, r in zip(values, rows, strict=True)
        ):
            continue  # only the question again
        columns[key] = values
    if predict_errors is not None:
        columns["predict/error"] = list(predict_errors)
    for metric in metrics:
        metric_scores = scores[metric.name]
        columns[f"{metric.name}/value"] = [s.value for s in metric_scores]
        columns[f"{metric.name}/reason"] = [s.reason for s in metric_scores]
        columns[f"{metric.name}/error"] = [s.error for s in metric_scores]
    index = [r.index for r in rows]
    # A value column with a None stays object-typed (float64 would show NaN): None is visible.
    return pd.DataFrame(
        {
            k: pd.Series(
                v,
                index=index,
                dtype=float if k.endswith("/value") and None not in v else object,
            )
            for k, v in columns.items()
        }
    )
