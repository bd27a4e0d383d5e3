"""Log an evaluation to MLflow: a run with params, aggregate metrics and the per-row table, and
each score as feedback on the trace its row came from.

Everything goes to llmtrace's store (``llmtrace.current_config().tracking_uri``), through an
`MlflowClient` bound to it: MLflow's global tracking URI and active run are not touched.

What the run holds:

- params: ``metrics`` (names), ``metric.<name>.version`` / ``.threshold`` / ``.<option>``,
  ``judge.model``, ``judge.prompt_version.<metric>``, ``dataset.digest`` (sha256 of the
  normalised rows), ``dataset.rows``, ``max_concurrency``, ``cache``, ``budget_usd``;
- metrics: ``<metric>/mean|p50|pass_rate|n_scored|n_errors|n_budget``, ``judge/<usage key>``,
  ``eval/rows``, ``eval/unscored_by_budget``;
- artifacts: ``eval/rows.json`` (the table, as ``mlflow.log_table`` writes it; the MLflow UI
  shows it in the run's Artifacts tab) and ``eval/summary.json`` (aggregates and judge usage);
- feedback: on each evaluated trace, one assessment per metric named after the metric: the
  value and reason, or the error; source CODE (``evals.<metric>``) or LLM_JUDGE (the judge's
  model), metadata with the run id and metric version. The traces are linked to the run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ._result import EvaluationResult
from ._types import Metric, Row

logger = logging.getLogger("evals")

_MAX_PARAM_CHARS = 500
_KEY_CHARS = re.compile(r"[^A-Za-z0-9_\-. /]")


def key(name: str) -> str:
    """A name made valid as an MLflow param/metric key."""
    return _KEY_CHARS.sub("_", name)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def dataset_digest(rows: Sequence[Row]) -> str:
    """sha256 of the rows' fields (not their traces), canonical JSON; same data, same digest.

    Example:
        >>> dataset_digest(evals.load_rows([{"question": "q", "answer": "a"}]))[:12]
    """
    digest = hashlib.sha256()
    for row in rows:
        fields = {
            name: _jsonable(getattr(row, name))
            for name in Row.__dataclass_fields__
            if name not in ("trace", "index")
        }
        digest.update(json.dumps(fields, sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _client(tracking_uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def start_run(tracking_uri: str, experiment: str | None, run_name: str | None) -> tuple[str, str]:
    """Create the evaluation run; (run id, experiment id). A child of the active run, if any."""
    import llmtrace
    from llmtrace.semconv import LLMTRACE_EVALUATION

    experiment_id = llmtrace.experiment_id(experiment)  # in llmtrace's store: ``tracking_uri``
    client = _client(tracking_uri)
    tags = {LLMTRACE_EVALUATION: "true"}
    active = llmtrace.active_run()
    if active is not None:
        parent = str(active.info.run_id)
        try:
            if client.get_run(parent).info.experiment_id == experiment_id:
                tags["mlflow.parentRunId"] = parent
        except Exception:  # the active run lives in another store
            pass
    run = client.create_run(experiment_id, run_name=run_name, tags=tags)
    return str(run.info.run_id), experiment_id


def end_run(tracking_uri: str, run_id: str, ok: bool) -> None:
    """Mark the run FINISHED (or FAILED)."""
    try:
        _client(tracking_uri).set_terminated(run_id, "FINISHED" if ok else "FAILED")
    except Exception as exc:
        logger.warning("evals could not end MLflow run %s: %s", run_id, exc)


def params_of(
    metrics: Sequence[Metric],
    result: EvaluationResult,
    judge: Any,
    settings: Mapping[str, Any],
    digest: str,
) -> dict[str, str]:
    """The run's params (see the module docstring)."""
    params: dict[str, Any] = {
        "metrics": ",".join(m.name for m in metrics),
        "dataset.digest": digest,
        "dataset.rows": len(result.rows),
        **settings,
    }
    for metric in metrics:
        base = f"metric.{metric.name}"
        params[f"{base}.version"] = metric.version
        if metric.threshold is not None:
            params[f"{base}.threshold"] = metric.threshold
        for option, value in (getattr(metric, "settings", None) or {}).items():
            params[f"{base}.{option}"] = value
        versions = sorted(
            {
                str(s.details["judge_prompt_version"])
                for s in result.scores.get(metric.name, [])
                if s.details.get("judge_prompt_version") is not None
            }
        )
        if versions:
            params[f"judge.prompt_version.{metric.name}"] = ",".join(versions)
    if judge is not None:
        params["judge.model"] = getattr(judge, "model", type(judge).__name__)
    return {key(k): ("None" if v is None else str(v))[:_MAX_PARAM_CHARS] for k, v in params.items()}


def metrics_of(result: EvaluationResult) -> dict[str, float]:
    """The run's metrics: aggregates, judge usage, row counts."""
    values = {key(k): v for k, v in result.metrics.items()}
    for name, value in result.judge_usage.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            values[key(f"judge/{name}")] = float(value)
    values["eval/rows"] = float(len(result.rows))
    values["eval/unscored_by_budget"] = float(result.unscored_by_budget)
    return values


def _table_for_json(result: EvaluationResult) -> Any:
    table = result.table.copy()
    for column in table.columns:
        if table[column].dtype == object:
            table[column] = [
                v
                if v is None or isinstance(v, (str, int, float, bool))
                else json.dumps(_jsonable(v), ensure_ascii=False)
                for v in table[column]
            ]
    table.insert(0, "row", list(table.index))
    return table


def log_run(
    tracking_uri: str,
    run_id: str,
    metrics: Sequence[Metric],
    result: EvaluationResult,
    judge: Any,
    settings: Mapping[str, Any],
    digest: str,
) -> None:
    """Params, metrics and artifacts of the evaluation run."""
    from mlflow.entities import Metric as MlflowMetric
    from mlflow.entities import Param

    client = _client(tracking_uri)
    params = params_of(metrics, result, judge, settings, digest)
    items = list(params.items())
    for i in range(0, len(items), 100):  # MLflow takes 100 params per batch
        client.log_batch(run_id, params=[Param(k, v) for k, v in items[i : i + 100]])
    now = int(time.time() * 1000)
    values = [MlflowMetric(k, v, now, 0) for k, v in metrics_of(result).items()]
    for i in range(0, len(values), 1000):
        client.log_batch(run_id, metrics=values[i : i + 1000])
    client.log_table(run_id, data=_table_for_json(result), artifact_file="eval/rows.json")
    client.log_dict(
        run_id,
        _jsonable(
            {
                "aggregates": result.aggregates,
                "judge_usage": result.judge_usage,
                "unscored_by_budget": result.unscored_by_budget,
                "rows": len(result.rows),
            }
        ),
        "eval/summary.json",
    )


def log_feedback(
    tracking_uri: str,
    run_id: str | None,
    metrics: Sequence[Metric],
    result: EvaluationResult,
    judge: Any,
    linked: set[str],
) -> int:
    """Attach every score of rows with a trace id to that trace; return how many were logged.

    ``linked``: trace ids already linked to the run (made by ``predict`` inside it); the others
    are linked now so the run's Traces tab shows them.
    """
    from mlflow.entities import AssessmentSource, AssessmentSourceType, Feedback
    from mlflow.tracing.client import TracingClient
    from mlflow.tracing.constant import AssessmentMetadataKey

    traced = [(i, row) for i, row in enumerate(result.rows) if row.trace_id]
    if not traced:
        return 0
    tracing = TracingClient(tracking_uri)
    judge_id = str(getattr(judge, "model", "judge"))
    feedbacks: list[tuple[str, Any]] = []
    for metric in metrics:
        source = (
            AssessmentSource(source_type=AssessmentSourceType.LLM_JUDGE, source_id=judge_id)
            if metric.needs_judge
            else AssessmentSource(
                source_type=AssessmentSourceType.CODE, source_id=f"evals.{metric.name}"
            )
        )
        for i, row in traced:
            score = result.scores[metric.name][i]
            metadata = {"metric_version": str(metric.version)}
            if run_id is not None:
                metadata[AssessmentMetadataKey.SOURCE_RUN_ID] = run_id
            if score.details.get("judge_prompt_version") is not None:
                metadata["judge_prompt_version"] = str(score.details["judge_prompt_version"])
            feedback = Feedback(
                name=metric.name,
                value=score.value,
                error=score.error,
                rationale=score.reason,
                source=source,
                metadata=metadata,
                span_id=_root_span_id(row),
            )
            feedbacks.append((str(row.trace_id), feedback))
    # One write per score (MLflow has no batch call for assessments): ~10 ms each on SQLite,
    # where writes are serial anyway; an MLflow server takes several at once.
    workers = 8 if tracking_uri.startswith(("http://", "https://")) else 1
    failures: list[str] = []
    failed_ids: set[str] = set()

    def write(item: tuple[str, Any]) -> None:
        try:
            tracing.log_assessment(*item)
        except Exception as exc:  # e.g. a trace id that is not in this store
            failures.append(f"{item[0]}: {type(exc).__name__}: {exc}")
            failed_ids.add(item[0])

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(write, feedbacks))
    logged = len(feedbacks) - len(failures)
    if run_id is not None:
        todo = sorted({str(row.trace_id) for _, row in traced} - linked - failed_ids)
        client = _client(tracking_uri)
        for i in range(0, len(todo), 100):
            client.link_traces_to_run(todo[i : i + 100], run_id)
    if failures:
        raise RuntimeError(
            f"{len(failures)} of {len(feedbacks)} scores could not be attached to their "
            f"traces; first: {failures[0]}"
        )
    return logged


def _root_span_id(row: Row) -> str | None:
    if row.trace is None:
        return None
    from ._traces import root_span

    root = root_span(row.trace)
    return None if root is None else root.span_id
