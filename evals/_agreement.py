"""Is the judge right? Agreement between a metric's scores and people's labels on the same rows.

`agreement` pairs each scored row with a person's label — a column of the data, a list, or
the human feedback (an MLflow assessment with source type HUMAN, as ``mlflow.log_feedback`` and
``llmtrace.log_feedback`` write it) on the row's trace — and reports per metric:

- ``accuracy``: share of paired rows where the judge's value equals the person's label;
- ``kappa``: Cohen's κ (``sklearn.metrics.cohen_kappa_score``): agreement beyond chance;
- ``weighted_kappa``: Cohen's κ with quadratic weights, for ordinal and interval scores;
- ``alpha``: Krippendorff's alpha (the ``krippendorff`` package) at the scale's level of
  measurement (nominal, ordinal, interval): for rubric scores it credits near misses;
- ``confusion``: the confusion matrix (``sklearn.metrics.confusion_matrix``), rows = people,
  columns = judge, over ``categories``;
- ``disagreements``: the rows where judge and people are furthest apart (``top`` of them).

Values are compared after one normalisation: booleans become 1.0/0.0, numeric strings numbers,
``yes/no``, ``true/false``, ``pass/fail``, ``correct/incorrect`` 1.0/0.0 (``label_map`` maps
other categories); with ``threshold``, numbers become pass (1.0, ``value >= threshold``) or fail
(0.0). A row without a value on either side is left out and counted in ``n_missing``. A
statistic that is undefined (all rows in one category: chance agreement is 1) is None.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

#: Label texts read as pass (1.0) and fail (0.0).
_TRUE = frozenset({"yes", "true", "pass", "passed", "correct", "good", "y", "1"})
_FALSE = frozenset({"no", "false", "fail", "failed", "incorrect", "bad", "n", "0"})
SCALES = ("auto", "nominal", "ordinal", "interval")
SOURCES = ("auto", "column", "feedback")
#: Metric name used for `agreement` on two plain sequences.
PLAIN = "judge"


@dataclass(frozen=True)
class Disagreement:
    """A row where the judge and the person differ (``distance``: how far apart)."""

    row: Any
    judge: Any
    human: Any
    distance: float
    trace_id: str | None = None
    question: str | None = None
    reason: str | None = None
    """The judge's reason for its score, when the metric gave one."""


@dataclass(frozen=True)
class MetricAgreement:
    """Agreement of one metric with people's labels. Fields read as attributes or keys.

    Example:
        >>> a = evals.agreement([1, 0, 1, 1], [1, 0, 0, 1])["judge"]
        >>> a.accuracy, a["kappa"]
        (0.75, 0.5)
    """

    metric: str
    labels: str
    scale: str
    n: int
    n_missing: int
    accuracy: float | None
    kappa: float | None
    weighted_kappa: float | None
    alpha: float | None
    categories: list[Any]
    confusion: list[list[int]]
    """Counts: ``confusion[i][j]`` rows the person put in ``categories[i]`` and the judge in
    ``categories[j]``."""
    disagreements: list[Disagreement] = field(default_factory=list)
    threshold: float | None = None
    paired: list[dict[str, Any]] = field(default_factory=list, repr=False)
    """Every paired row: ``row``, ``trace_id``, ``judge``, ``human``, ``agree``, ``distance``
    (logged as the table artifact; not in `to_dict`)."""

    def __getitem__(self, key: str) -> Any:
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (without ``paired``)."""
        out = asdict(self)
        out.pop("paired")
        return out


@dataclass
class AgreementReport:
    """What `agreement` found, per metric; ``report["faithfulness"]`` is one metric's figures.

    With a single metric (as for two plain sequences), ``report.accuracy``, ``report.kappa``,
    ``report.alpha`` (and ``report["kappa"]``...) are that metric's.

    Attributes:
        metrics: `MetricAgreement` by metric name.
        labels: where the labels came from (feedback or column name, ``labels`` for a list).
        run_id: the evaluation run the report was logged on (None: not logged).
        log_error: why logging failed, if it did.
    """

    metrics: dict[str, MetricAgreement]
    labels: str
    run_id: str | None = None
    log_error: str | None = None

    def _single(self, name: str) -> Any:
        if len(self.metrics) != 1:
            raise AttributeError(
                f"the report covers {len(self.metrics)} metrics ({', '.join(self.metrics)}): "
                f"read one, e.g. report[{next(iter(self.metrics), 'metric')!r}].{name}"
            )
        return getattr(next(iter(self.metrics.values())), name)

    @property
    def accuracy(self) -> float | None:
        """The single metric's accuracy."""
        return self._single("accuracy")  # type: ignore[no-any-return]

    @property
    def kappa(self) -> float | None:
        """The single metric's Cohen's κ."""
        return self._single("kappa")  # type: ignore[no-any-return]

    @property
    def weighted_kappa(self) -> float | None:
        """The single metric's quadratic-weighted Cohen's κ."""
        return self._single("weighted_kappa")  # type: ignore[no-any-return]

    @property
    def alpha(self) -> float | None:
        """The single metric's Krippendorff's alpha."""
        return self._single("alpha")  # type: ignore[no-any-return]

    def __getitem__(self, key: str) -> Any:
        if key in self.metrics:
            return self.metrics[key]
        if key in MetricAgreement.__dataclass_fields__:
            try:
                return self._single(key)
            except AttributeError as exc:
                raise KeyError(str(exc)) from None
        raise KeyError(f"{key!r}: not a metric of this report ({', '.join(self.metrics)})")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``llmtrace eval agreement --json`` prints)."""
        return {
            "labels": self.labels,
            "run_id": self.run_id,
            "log_error": self.log_error,
            "metrics": {name: m.to_dict() for name, m in self.metrics.items()},
        }

    def summary(self) -> Any:
        """One line per metric: n, accuracy, κ, weighted κ, alpha (a pandas DataFrame)."""
        import pandas as pd

        columns = ("scale", "n", "n_missing", "accuracy", "kappa", "weighted_kappa", "alpha")
        frame = pd.DataFrame(
            [[getattr(m, c) for c in columns] for m in self.metrics.values()],
            index=list(self.metrics),
            columns=list(columns),
            dtype=object,
        )
        frame.index.name = "metric"
        return frame

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{name}: acc={_f(m.accuracy)} kappa={_f(m.kappa)} alpha={_f(m.alpha)}"
            for name, m in self.metrics.items()
        )
        return f"<AgreementReport labels={self.labels!r} {parts}>"


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


# -- normalising values ---------------------------------------------------------------------------
def normalize(value: Any, label_map: Mapping[Any, Any] | None = None) -> Any:
    """One label or score as compared: a float, a category text, or None (missing).

    Example:
        >>> normalize(True), normalize("yes"), normalize("0.5"), normalize("toxic")
        (1.0, 1.0, 0.5, 'toxic')
    """
    if label_map and _hashable(value) and value in label_map:
        value = label_map[value]
    if value is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return None if math.isnan(value) else float(value)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return normalize(value.item())
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            return None if math.isnan(number) else number
        low = text.lower()
        if low in _TRUE:
            return 1.0
        if low in _FALSE:
            return 0.0
        return text
    raise ValueError(
        f"label {value!r} ({type(value).__name__}) is not a number, bool or category text: "
        "pass label_map={...} to map it"
    )


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _binarize(value: Any, threshold: float | None) -> Any:
    if threshold is None or not isinstance(value, float):
        return value
    return 1.0 if value >= threshold else 0.0


def _category(value: Any) -> Any:
    """A stable key for equality: floats rounded to 9 decimals (0.1 + 0.2 equals 0.3)."""
    return round(value, 9) if isinstance(value, float) else value


# -- the statistics -------------------------------------------------------------------------------
def _scale_of(values: Sequence[Any], requested: str) -> str:
    if any(isinstance(v, str) for v in values):
        if requested in ("ordinal", "interval"):
            raise ValueError(
                f"scale={requested!r} needs numbers, and some labels are categories "
                f"({sorted({v for v in values if isinstance(v, str)})[:3]}): map them with "
                "label_map={...} or use scale='nominal'"
            )
        return "nominal"
    if requested != "auto":
        return requested
    return "nominal" if set(values) <= {0.0, 1.0} else "ordinal"


def _undefined_to_none(value: float) -> float | None:
    return None if value is None or math.isnan(value) or math.isinf(value) else float(value)


def _stats(
    judge: list[Any], human: list[Any], scale: str
) -> tuple[list[Any], list[list[int]], float, float | None, float | None, float | None]:
    """Categories, confusion, accuracy, κ, weighted κ and alpha of equally long non-empty lists."""
    import warnings

    import krippendorff
    import numpy as np
    from sklearn.metrics import cohen_kappa_score, confusion_matrix

    categories = sorted(set(judge) | set(human), key=lambda v: (isinstance(v, str), v))
    rank = {c: i for i, c in enumerate(categories)}
    j = [rank[v] for v in judge]
    h = [rank[v] for v in human]
    codes = list(range(len(categories)))
    accuracy = sum(a == b for a, b in zip(j, h, strict=True)) / len(j)
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")  # one category: κ/alpha undefined (None), no warnings
        confusion = confusion_matrix(h, j, labels=codes).tolist()
        kappa = _undefined_to_none(cohen_kappa_score(h, j, labels=codes))
        weighted = None
        if scale != "nominal":
            weighted = _undefined_to_none(
                cohen_kappa_score(h, j, labels=codes, weights="quadratic")
                if scale == "ordinal"
                else _interval_weighted_kappa(judge, human)
            )
        alpha: float | None = None
        if len(categories) > 1:
            # nominal/ordinal alpha depend only on categories and their order: pass the ranks.
            data = [judge, human] if scale == "interval" else [j, h]
            alpha = _undefined_to_none(
                krippendorff.alpha(
                    reliability_data=np.asarray(data, dtype=float),
                    level_of_measurement=scale,
                    value_domain=categories if scale == "interval" else codes,
                )
            )
    return categories, confusion, accuracy, kappa, weighted, alpha


def _interval_weighted_kappa(judge: list[float], human: list[float]) -> float:
    """Quadratic-weighted κ on the values themselves (weights ``(x - y)**2``)."""
    import numpy as np

    x = np.asarray(judge, dtype=float)
    y = np.asarray(human, dtype=float)
    observed = float(np.mean((x - y) ** 2))
    expected = float(np.mean((x[:, None] - y[None, :]) ** 2))
    return math.nan if expected == 0 else 1.0 - observed / expected


def _distance(a: Any, b: Any, scale: str, rank: Mapping[Any, int]) -> float:
    if scale == "interval":
        return abs(float(a) - float(b))
    if scale == "ordinal":
        return float(abs(rank[a] - rank[b]))
    return 1.0


def metric_agreement(
    metric: str,
    judge_values: Sequence[Any],
    human_values: Sequence[Any],
    *,
    labels: str = "labels",
    scale: str = "auto",
    threshold: float | None = None,
    label_map: Mapping[Any, Any] | None = None,
    top: int = 5,
    rows: Sequence[Mapping[str, Any]] | None = None,
) -> MetricAgreement:
    """Agreement of one metric's values with people's labels, paired by position.

    ``rows`` (same length): each row's ``row``, ``trace_id``, ``question`` and
    ``<metric>/reason``, shown in `Disagreement`.

    Example:
        >>> metric_agreement("judge", [1, 2, 3, 3], [1, 2, 2, 3], scale="ordinal").alpha
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if len(judge_values) != len(human_values):
        raise ValueError(
            f"{len(judge_values)} judge scores but {len(human_values)} labels: pass one label "
            "per scored row, in the same order"
        )
    pairs: list[tuple[int, Any, Any]] = []
    for i, (jv, hv) in enumerate(zip(judge_values, human_values, strict=True)):
        a = _binarize(normalize(jv, label_map), threshold)
        b = _binarize(normalize(hv, label_map), threshold)
        if a is not None and b is not None:
            pairs.append((i, _category(a), _category(b)))
    missing = len(judge_values) - len(pairs)
    if not pairs:
        return MetricAgreement(
            metric,
            labels,
            "nominal" if scale == "auto" else scale,
            0,
            missing,
            None,
            None,
            None,
            None,
            [],
            [],
            [],
            threshold,
        )
    judged = [a for _, a, _ in pairs]
    human = [b for _, _, b in pairs]
    kinds = {isinstance(v, str) for v in judged} | {isinstance(v, str) for v in human}
    if len(kinds) > 1:
        texts = sorted({v for v in judged + human if isinstance(v, str)})[:3]
        raise ValueError(
            f"metric {metric!r}: some values are numbers and some categories ({texts}): map "
            "the categories to numbers with label_map={...}, e.g. {'good': 1, 'bad': 0}"
        )
    chosen = _scale_of(judged + human, scale)
    categories, confusion, accuracy, kappa, weighted, alpha = _stats(judged, human, chosen)
    rank = {c: i for i, c in enumerate(categories)}
    found, paired = [], []
    for i, a, b in pairs:
        row = rows[i] if rows is not None else {}
        distance = _distance(a, b, chosen, rank) if a != b else 0.0
        trace_id = row.get("trace_id") if isinstance(row.get("trace_id"), str) else None
        paired.append(
            {
                "row": row.get("row", i),
                "trace_id": trace_id,
                "judge": a,
                "human": b,
                "agree": a == b,
                "distance": distance,
            }
        )
        if a == b:
            continue
        reason = row.get(f"{metric}/reason")
        found.append(
            Disagreement(
                row=row.get("row", i),
                judge=a,
                human=b,
                distance=distance,
                trace_id=trace_id,
                question=row.get("question") if isinstance(row.get("question"), str) else None,
                reason=reason if isinstance(reason, str) else None,
            )
        )
    found.sort(key=lambda d: -d.distance)  # stable: ties keep row order
    return MetricAgreement(
        metric=metric,
        labels=labels,
        scale=chosen,
        n=len(pairs),
        n_missing=missing,
        accuracy=accuracy,
        kappa=kappa,
        weighted_kappa=weighted,
        alpha=alpha,
        categories=categories,
        confusion=confusion,
        disagreements=found[:top],
        threshold=threshold,
        paired=paired,
    )


# -- rows and labels ------------------------------------------------------------------------------
def _rows_of_result(result: Any) -> list[dict[str, Any]]:
    table = result.table
    rows = []
    for index, record in zip(table.index, table.to_dict("records"), strict=True):
        rows.append({"row": index, **record})
    return rows


def _metric_names(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    names: list[str] = []
    for row in rows[:1]:
        names = [c[: -len("/value")] for c in row if c.endswith("/value")]
    return names


def human_feedback(tracking_uri: str, trace_ids: Sequence[str | None], name: str) -> list[Any]:
    """Per trace id, the newest valid HUMAN feedback called ``name`` (its value), else None.

    Reads each trace's assessments through MLflow's client (`TraceInfo.assessments`): what
    ``mlflow.log_feedback`` and ``llmtrace.log_feedback`` write. Feedback a later one
    overrides (``valid`` False) is skipped.

    Example:
        >>> human_feedback("sqlite:///mlflow.db", ["tr-1f0c..."], "correct")
        [True]
    """
    from mlflow.entities import AssessmentSourceType, Feedback
    from mlflow.tracing.client import TracingClient

    client = TracingClient(tracking_uri)
    wanted = sorted({t for t in trace_ids if t})
    infos: dict[str, Any] = {}
    try:
        for i in range(0, len(wanted), 100):
            for info in client.store.batch_get_trace_infos(wanted[i : i + 100]):
                infos[info.trace_id] = info
    except Exception:  # a store without the batch call: one at a time
        for trace_id in wanted:
            if trace_id not in infos:
                try:
                    infos[trace_id] = client.get_trace_info(trace_id)
                except Exception:
                    continue  # not in this store: the row has no label
    labels: list[Any] = []
    for trace_id in trace_ids:
        info = infos.get(trace_id) if trace_id else None
        best = None
        for assessment in getattr(info, "assessments", None) or []:
            if (
                isinstance(assessment, Feedback)
                and assessment.name == name
                and assessment.valid is not False
                and assessment.error is None
                and assessment.source.source_type == AssessmentSourceType.HUMAN
            ):
                stamp = assessment.last_update_time_ms or assessment.create_time_ms or 0
                if best is None or stamp >= best[0]:
                    best = (stamp, assessment.value)
        labels.append(None if best is None else best[1])
    return labels


def _threshold_of(result: Any, run: Any, metric: str) -> float | None:
    if result is not None:
        value = (getattr(result, "aggregates", {}).get(metric) or {}).get("threshold")
        return None if value is None else float(value)
    if run is not None:
        raw = run.data.params.get(f"metric.{metric}.threshold")
        try:
            return None if raw in (None, "None") else float(raw)
        except ValueError:
            return None
    return None


def agreement(
    judged: Any,
    labels: Any = None,
    *,
    metrics: Sequence[str] | None = None,
    source: str = "auto",
    scale: str = "auto",
    threshold: float | None = None,
    label_map: Mapping[Any, Any] | None = None,
    top: int = 5,
    log: bool = True,
    tracking_uri: str | None = None,
) -> AgreementReport:
    """How well a judge (any metric) agrees with people: accuracy, Cohen's κ, Krippendorff's alpha.

    Args:
        judged: an `EvaluationResult`, an evaluation run (id or name, in llmtrace's store or
            ``tracking_uri``), or a plain list of judge scores.
        labels: people's labels: a list (one per row, in row order), or a name — a column of
            the evaluated data, else the human feedback of that name on each row's trace.
        metrics: the metrics to check (default: every metric of the result or run).
        source: how a name in ``labels`` is read: ``auto`` (a column if the data has it, else
            feedback), ``column`` or ``feedback``.
        scale: ``auto`` (nominal when every value is a category or 0/1, else ordinal),
            ``nominal``, ``ordinal`` (rubric scores) or ``interval``.
        threshold: turn numbers into pass (``>= threshold``) / fail on both sides first.
            Default: when the labels are pass/fail and a metric's scores are not, the metric's
            own threshold (a `ValueError` if it has none).
        label_map: maps labels (and judge values) before comparing, e.g. ``{"good": 1}``.
        top: disagreements kept per metric (furthest apart first).
        log: log the figures on the evaluation run (metrics ``agreement/<labels>/<metric>/...``,
            artifacts ``agreement/<labels>.json`` and ``agreement/<labels>_summary.json``).
        tracking_uri: the store (default: llmtrace's configured one).

    Returns:
        `AgreementReport`: per metric, `MetricAgreement` (``report["token_f1"].kappa``); with a
        single metric also ``report.kappa``, ``report["alpha"]``...

    Raises:
        ValueError: labels of another length than the rows, labels that cannot be compared
            with the scores, a name that is neither a column nor feedback on any trace.

    Example:
        >>> evals.agreement([1, 0, 1, 1], [1, 0, 0, 1]).kappa
        0.5
        >>> report = evals.agreement(result, labels="correct")   # human feedback "correct"
        >>> report["faithfulness"].confusion, report["faithfulness"].disagreements[:3]
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    if not isinstance(top, int) or top < 0:
        raise ValueError(f"top must be an integer >= 0, got {top!r}")
    if labels is None:
        raise ValueError(
            "labels missing: pass a list of people's labels, a column or feedback name"
        )
    from ._result import EvaluationResult

    result = run = None
    uri = tracking_uri
    if isinstance(judged, EvaluationResult):
        result = judged
        rows = _rows_of_result(judged)
        run_id = judged.run_id
    elif isinstance(judged, str):
        from mlflow import MlflowClient

        import llmtrace

        from .cli import load_run

        uri = uri or llmtrace.current_config().tracking_uri
        client = MlflowClient(tracking_uri=uri)
        table = load_run(client, judged)
        run = client.get_run(table.run_id)
        rows, run_id = table.rows, table.run_id
    elif isinstance(judged, Sequence) and not isinstance(judged, (bytes, Mapping)):
        if isinstance(labels, str) or not isinstance(labels, Sequence):
            raise ValueError(
                "judge scores given as a list: pass the people's labels as a list too "
                "(a feedback or column name needs an EvaluationResult or a run)"
            )
        plain = metric_agreement(
            PLAIN,
            list(judged),
            list(labels),
            scale=scale,
            threshold=threshold,
            label_map=label_map,
            top=top,
        )
        return AgreementReport({PLAIN: plain}, "labels")
    else:
        raise ValueError(
            f"agreement() takes an EvaluationResult, a run id or name, or a list of scores; "
            f"got {type(judged).__name__}"
        )

    available = _metric_names(rows)
    chosen = list(dict.fromkeys(metrics)) if metrics is not None else available
    unknown = [m for m in chosen if m not in available]
    if unknown or not chosen:
        raise ValueError(
            f"metric(s) {', '.join(unknown) or '(none)'} not scored here; scored: "
            f"{', '.join(available) or 'none'}"
        )
    label_name, human = _labels_for(labels, rows, source, uri)
    report: dict[str, MetricAgreement] = {}
    for metric in chosen:
        values = [r.get(f"{metric}/value") for r in rows]
        cut = threshold
        if cut is None:
            cut = _auto_threshold(metric, values, human, label_map, result, run)
        report[metric] = metric_agreement(
            metric,
            values,
            human,
            labels=label_name,
            scale=scale,
            threshold=cut,
            label_map=label_map,
            top=top,
            rows=rows,
        )
    out = AgreementReport(report, label_name)
    if log and run_id is not None:
        import llmtrace

        try:
            log_agreement(uri or llmtrace.current_config().tracking_uri, run_id, out)
            out.run_id = run_id
        except Exception as exc:
            out.log_error = f"{type(exc).__name__}: {exc}"
    return out


def _auto_threshold(
    metric: str,
    values: Sequence[Any],
    human: Sequence[Any],
    label_map: Mapping[Any, Any] | None,
    result: Any,
    run: Any,
) -> float | None:
    """The metric's threshold when people gave pass/fail and the scores are not 0/1."""
    people = {normalize(v, label_map) for v in human} - {None}
    scores = {normalize(v, label_map) for v in values} - {None}
    if not people or not people <= {0.0, 1.0} or scores <= {0.0, 1.0}:
        return None
    if any(isinstance(v, str) for v in scores):
        return None
    cut = _threshold_of(result, run, metric)
    if cut is None:
        raise ValueError(
            f"people's labels are pass/fail but {metric!r} scores take {len(scores)} values "
            "and the metric has no threshold: pass threshold=..., e.g. 0.5"
        )
    return cut


def _labels_for(
    labels: Any, rows: Sequence[Mapping[str, Any]], source: str, tracking_uri: str | None
) -> tuple[str, list[Any]]:
    if not isinstance(labels, str):
        if not isinstance(labels, Sequence) or isinstance(labels, (bytes, Mapping)):
            raise ValueError(
                f"labels must be a list, a column or a feedback name, got {type(labels).__name__}"
            )
        values = list(labels)
        if len(values) != len(rows):
            raise ValueError(
                f"{len(values)} labels for {len(rows)} scored rows: pass one label per row"
            )
        return "labels", values
    has_column = any(labels in r for r in rows)
    if source == "column" or (source == "auto" and has_column):
        if not has_column:
            raise ValueError(f"the evaluated data has no column {labels!r}")
        return labels, [r.get(labels) for r in rows]
    trace_ids = [r.get("trace_id") if isinstance(r.get("trace_id"), str) else None for r in rows]
    if not any(trace_ids):
        raise ValueError(
            f"{labels!r} is not a column of the data, and its rows have no traces to read "
            "human feedback from: evaluate traces (or rows with a trace_id), or pass a list"
        )
    import llmtrace

    values = human_feedback(
        tracking_uri or llmtrace.current_config().tracking_uri, trace_ids, labels
    )
    if all(v is None for v in values):
        raise ValueError(
            f"no human feedback named {labels!r} on the {sum(map(bool, trace_ids))} traces "
            "of these rows: log it with llmtrace.log_feedback / mlflow.log_feedback (source HUMAN)"
        )
    return labels, values


# -- logging --------------------------------------------------------------------------------------
def log_agreement(tracking_uri: str, run_id: str, report: AgreementReport) -> None:
    """Metrics, the per-metric summary and the disagreements table on the run."""
    import time

    from mlflow import MlflowClient
    from mlflow.entities import Metric as MlflowMetric

    from ._logging import key

    client = MlflowClient(tracking_uri=tracking_uri)
    now = int(time.time() * 1000)
    values = []
    for name, m in report.metrics.items():
        for stat in ("accuracy", "kappa", "weighted_kappa", "alpha", "n", "n_missing"):
            value = getattr(m, stat)
            if value is not None:
                values.append(
                    MlflowMetric(key(f"agreement/{report.labels}/{name}/{stat}"), value, now, 0)
                )
    if values:
        client.log_batch(run_id, metrics=values)
    base = key(f"agreement/{report.labels}")
    client.log_dict(
        run_id, json.loads(json.dumps(report.to_json(), default=str)), f"{base}_summary.json"
    )
    import pandas as pd

    columns = ["metric", "row", "trace_id", "judge", "human", "agree", "distance"]
    records = [{"metric": name, **p} for name, m in report.metrics.items() for p in m.paired]
    frame = pd.DataFrame(records, columns=columns).astype(object)
    client.log_table(run_id, data=frame, artifact_file=f"{base}.json")
