"""`evaluate`: load the data, optionally run the app on it, score every row, log to MLflow.

Order of work, so mistakes cost nothing: metrics and data are checked first (a one-line
`ValueError` naming the problem and the fix), before any ``predict`` call, judge call or MLflow
write. Then the run is created, ``predict`` runs (its traces are linked to the run), every
(metric, row) is scored in a thread pool of ``max_concurrency`` workers, and the results are
logged. A metric failing on one row gives that cell an error; the other cells keep their scores.
"""

from __future__ import annotations

import inspect
import logging
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from . import _data, _logging
from ._result import BUDGET_ERROR_PREFIX, EvaluationResult, aggregate, build_table
from ._types import BudgetExceeded, Judge, Metric, MetricError, Row, Score

logger = logging.getLogger("evals")

#: Rows per thread-pool task for cheap built-in metrics (judge and custom metrics: one row).
_CHUNK = 256
#: Fields a ``predict`` call (and the trace it makes) fills in.
_PREDICTED = frozenset({"answer", "trace", "trace_id", "contexts", "context_ids", "tool_calls"})


def evaluate(
    data: Any,
    metrics: Sequence[Metric | Callable[[], Metric]],
    *,
    predict: Callable[..., Any] | None = None,
    judge: Judge | None = None,
    experiment: str | None = None,
    run_name: str | None = None,
    max_concurrency: int = 8,
    cache: bool = True,
    budget_usd: float | None = None,
    log_to_mlflow: bool = True,
    progress: bool | None = None,
) -> EvaluationResult:
    """Score ``data`` with ``metrics`` and log the scores to MLflow, beside the traces.

    Args:
        data: a pandas DataFrame, a list of dicts, a ``.jsonl``/``.json``/``.csv`` path, or
            traces (``llmtrace.search_traces(...)``, ``mlflow.search_traces(...)``, a list of
            MLflow ``Trace`` objects), or ``"dataset:NAME"`` / ``"dataset:NAME@VERSION"`` (a
            dataset saved by `evals.datasets.from_traces`; the run records its name, version
            and digest as params ``dataset.name``, ``dataset.version``,
            ``dataset.version_digest``). Column names and aliases: see `evals.load_rows`.
        metrics: `Metric` objects, or metric factories taken uncalled (``metrics.token_f1``).
        predict: your app: called for each row with its ``inputs`` dict as keyword arguments
            (or its question), traced with llmtrace; its return value becomes the answer and
            its trace gives ``trace_id``, contexts and tool calls.
        judge: the judge for judge metrics (``evals.OpenAIJudge(...)``).
        experiment: MLflow experiment of the run; default llmtrace's configured one.
        run_name: name of the MLflow run.
        max_concurrency: threads scoring rows at once (the judge may limit further).
        cache: sets ``judge.cache_enabled`` when the judge has it.
        budget_usd: sets ``judge.budget_usd`` when the judge has it; in any case no judge
            metric is started once ``judge.usage()["cost_usd"]`` reached it. Scores left out
            get the error ``"not scored: budget ... reached"`` and are counted in
            ``unscored_by_budget``.
        log_to_mlflow: False to only compute (no run, no feedback on traces).
        progress: show a progress bar; default: when stderr is a terminal.

    Returns:
        `EvaluationResult`: the per-row table, aggregates, judge usage, the run id.

    Raises:
        ValueError: unreadable or empty data, a column a metric needs absent from every row, a
            judge metric without a judge, two metrics with one name.

    Example:
        >>> from evals import evaluate, metrics
        >>> result = evaluate(
        ...     [{"question": "Capital of France?", "answer": "Paris", "expected": "Paris"}],
        ...     [metrics.exact_match(), metrics.token_f1()],
        ... )
        >>> result.aggregates["exact_match"]["mean"]
        1.0
    """
    chosen = _check_metrics(metrics, judge)
    if not isinstance(max_concurrency, int) or max_concurrency < 1:
        raise ValueError(f"max_concurrency must be an integer >= 1, got {max_concurrency!r}")
    if budget_usd is not None and (not isinstance(budget_usd, (int, float)) or budget_usd < 0):
        raise ValueError(f"budget_usd must be a number >= 0, got {budget_usd!r}")
    if predict is not None and not callable(predict):
        raise ValueError(f"predict must be a function, got {type(predict).__name__}")
    if inspect.iscoroutinefunction(predict) or inspect.isasyncgenfunction(predict):
        raise ValueError(
            "predict is an async function: pass a plain function, e.g. "
            "lambda **kw: asyncio.run(app(**kw))"
        )

    import llmtrace

    config = llmtrace.current_config()
    tracking_uri = config.tracking_uri
    source: dict[str, Any] = {}
    if isinstance(data, str) and data.startswith("dataset:"):
        from . import datasets

        saved = datasets.load(data, experiment=experiment)
        data = saved.rows()
        source = {"dataset.name": saved.name, "dataset.version": saved.version}
        source |= {"dataset.version_digest": saved.digest, "dataset.id": saved.dataset_id}
    rows = _data.load_rows(data)
    needed = {name for m in chosen for name in _requires(m)}
    _data.attach_traces(rows, needed, tracking_uri)
    _check_columns(rows, chosen, skip=_PREDICTED if predict is not None else frozenset())
    digest = _logging.dataset_digest(rows)
    restore = _configure_judge(judge, cache, budget_usd)

    run_id = experiment_id = None
    ok = False
    try:
        if log_to_mlflow:
            run_id, experiment_id = _logging.start_run(
                tracking_uri, experiment or config.experiment, run_name
            )
        predict_errors = None
        predicted: set[str] = set()
        if predict is not None:
            predict_errors = _run_predict(rows, predict, run_id, max_concurrency, tracking_uri)
            predicted = {r.trace_id for r in rows if r.trace_id}
        usage_before = _usage(judge)
        scores = _score_all(
            rows, chosen, judge, max_concurrency, budget_usd, usage_before, predict_errors, progress
        )
        usage = _usage_delta(usage_before, _usage(judge))
        result = EvaluationResult(
            table=build_table(rows, chosen, scores, predict_errors),
            aggregates={m.name: aggregate(scores[m.name], m.threshold) for m in chosen},
            judge_usage=usage,
            run_id=run_id,
            experiment_id=experiment_id,
            unscored_by_budget=sum(
                1
                for name in scores
                for s in scores[name]
                if (s.error or "").startswith(BUDGET_ERROR_PREFIX)
            ),
            scores=scores,
            rows=rows,
        )
        if run_id is not None:
            settings = {
                "max_concurrency": max_concurrency,
                "cache": cache,
                "budget_usd": budget_usd,
                "predict": getattr(predict, "__name__", None) if predict else None,
                **source,
            }
            try:
                _logging.log_run(tracking_uri, run_id, chosen, result, judge, settings, digest)
                _logging.log_feedback(tracking_uri, run_id, chosen, result, judge, predicted)
            except Exception as exc:  # the scores are computed: hand them back, say what failed
                result.log_error = f"{type(exc).__name__}: {exc}"
                logger.warning("evals could not log the evaluation to MLflow: %s", exc)
                return result
        ok = True
        return result
    finally:
        restore()
        if run_id is not None:
            _logging.end_run(tracking_uri, run_id, ok)


# -- checks before any work -----------------------------------------------------------------------
def _check_metrics(metrics: Any, judge: Judge | None) -> list[Metric]:
    if isinstance(metrics, Metric) or (callable(metrics) and not isinstance(metrics, Iterable)):
        metrics = [metrics]
    if not isinstance(metrics, Iterable) or isinstance(metrics, (str, bytes, Mapping)):
        raise ValueError("metrics must be a list of metrics, e.g. [metrics.token_f1()]")
    chosen: list[Metric] = []
    for item in metrics:
        metric = item
        if not isinstance(metric, Metric) and callable(metric):
            try:
                metric = metric()  # a factory taken uncalled: metrics.token_f1
            except TypeError as exc:
                raise ValueError(
                    f"metric {getattr(item, '__name__', item)!r} needs arguments: call it, "
                    f"e.g. {getattr(item, '__name__', 'metric')}(...) ({exc})"
                ) from exc
        if not callable(getattr(metric, "score", None)) or not hasattr(metric, "name"):
            raise ValueError(
                f"{item!r} is not a metric: pass evals.metrics.* objects, @evals.metric "
                "functions or Metric subclasses"
            )
        chosen.append(metric)
    if not chosen:
        raise ValueError("no metrics given: pass at least one, e.g. [metrics.exact_match()]")
    names = [m.name for m in chosen]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"two metrics are named {name!r}: give one of them name=...")
    for metric in chosen:
        if getattr(metric, "needs_judge", False) and judge is None:
            raise ValueError(
                f"metric {metric.name!r} needs a judge: pass judge=evals.OpenAIJudge(...)"
            )
    return chosen


def _requires(metric: Metric) -> tuple[str, ...]:
    return tuple(getattr(metric, "requires", ()) or ())


def _check_columns(rows: list[Row], metrics: list[Metric], skip: frozenset[str]) -> None:
    for metric in metrics:
        for name in _requires(metric):
            if name in skip or _data.present(rows, name):
                continue
            if name == "trace":
                raise ValueError(
                    f"metric {metric.name!r} reads traces, and no row has one: evaluate "
                    "traces (llmtrace.search_traces()), rows with a 'trace_id', or use predict="
                )
            raise ValueError(
                f"metric {metric.name!r} needs column {_data.columns_for(name)}, which the "
                f"data does not have; add it (columns: see evals.load_rows)"
            )


def _configure_judge(judge: Any, cache: bool, budget_usd: float | None) -> Callable[[], None]:
    """Apply ``cache``/``budget_usd`` to the judge for this call; return what undoes it.

    ``cache=False`` turns the judge's cache off (``cache=True`` keeps the judge's own setting);
    ``budget_usd`` (when given) replaces the judge's budget. Both are put back afterwards.
    """
    saved: dict[str, Any] = {}
    if judge is not None and hasattr(judge, "cache_enabled") and not cache:
        saved["cache_enabled"] = judge.cache_enabled
        judge.cache_enabled = False
    if judge is not None and hasattr(judge, "budget_usd") and budget_usd is not None:
        saved["budget_usd"] = judge.budget_usd
        judge.budget_usd = budget_usd  # may refuse (no price for the model): before any work

    def restore() -> None:
        for name, value in saved.items():
            try:
                setattr(judge, name, value)
            except Exception as exc:
                logger.warning("evals could not restore judge.%s: %s", name, exc)

    return restore


# -- predict --------------------------------------------------------------------------------------
def _run_predict(
    rows: list[Row],
    predict: Callable[..., Any],
    run_id: str | None,
    max_concurrency: int,
    tracking_uri: str,
) -> list[str | None]:
    """Call ``predict`` on every row (traced), fill answers and trace-derived fields."""
    import llmtrace
    from llmtrace import semconv as sc

    from ._traces import answer_of

    name = getattr(predict, "__name__", "predict")

    def one(row: Row) -> tuple[str | None, Any, str | None]:
        inputs = row.extra.get("inputs")
        trace_id = None
        try:
            with llmtrace.span(name, kind="CHAIN") as span:
                trace_id = span.trace_id
                if run_id is not None:
                    span.set_attribute(sc.LLMTRACE_RUN_ID, run_id)
                if isinstance(inputs, Mapping):
                    span.set_inputs(dict(inputs))
                    output = predict(**inputs)
                else:
                    span.set_inputs({"question": row.question})
                    output = predict(row.question)
                span.set_outputs(output)
            return trace_id, output, None
        except Exception as exc:
            return trace_id, None, f"predict raised {type(exc).__name__}: {exc}"

    with ThreadPoolExecutor(max_workers=max_concurrency) as pool:
        outcomes = list(pool.map(one, rows))
    errors: list[str | None] = []
    for row, (trace_id, output, error) in zip(rows, outcomes, strict=True):
        if trace_id:  # the new trace tells what was retrieved and called, not the old one
            row.trace_id, row.trace = trace_id, None
            row.contexts = row.context_ids = row.tool_calls = None
        row.answer = None if error else answer_of(output)
        errors.append(error)
    llmtrace.flush()
    _data.attach_traces(rows, _data.TRACE_FIELDS, tracking_uri)
    return errors


# -- scoring --------------------------------------------------------------------------------------
def _usage(judge: Any) -> dict[str, Any]:
    usage = getattr(judge, "usage", None)
    if not callable(usage):
        return {}
    try:
        return dict(usage() or {})
    except Exception as exc:
        logger.warning("evals could not read judge.usage(): %s", exc)
        return {}


def _usage_delta(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """What was used between two ``judge.usage()`` readings (numbers subtracted)."""
    delta: dict[str, Any] = {}
    for key, value in after.items():
        old = before.get(key)
        if isinstance(value, (int, float)) and isinstance(old, (int, float)):
            delta[key] = value - old
        else:
            delta[key] = value
    return delta


def _score_one(metric: Metric, row: Row, judge: Judge | None) -> Score:
    from .metrics._base import missing_fields, to_score

    missing = missing_fields(row, _requires(metric))
    if missing:
        return Score(None, error=missing)
    try:
        return to_score(metric.score(row, judge))
    except BudgetExceeded as exc:
        return Score(None, error=f"{BUDGET_ERROR_PREFIX} reached ({exc})")
    except MetricError as exc:
        return Score(None, error=str(exc) or type(exc).__name__)
    except Exception as exc:  # a bug in a metric: that cell says so, the others are kept
        return Score(None, error=f"{metric.name} raised {type(exc).__name__}: {exc}")


def _score_all(
    rows: list[Row],
    metrics: list[Metric],
    judge: Judge | None,
    max_concurrency: int,
    budget_usd: float | None,
    usage_before: Mapping[str, Any],
    predict_errors: list[str | None] | None,
    progress: bool | None,
) -> dict[str, list[Score]]:
    scores: dict[str, list[Score]] = {
        m.name: [Score(None, error="not scored")] * len(rows) for m in metrics
    }
    spent_lock = threading.Lock()
    stopped = [False]

    def over_budget() -> bool:
        if budget_usd is None or judge is None:
            return False
        with spent_lock:
            if not stopped[0]:
                cost = _usage_delta(usage_before, _usage(judge)).get("cost_usd")
                stopped[0] = isinstance(cost, (int, float)) and cost >= budget_usd
            return stopped[0]

    def task(metric: Metric, indices: list[int]) -> tuple[Metric, list[int], list[Score]]:
        out = []
        for i in indices:
            if predict_errors is not None and predict_errors[i]:
                out.append(Score(None, error=f"not scored: {predict_errors[i]}"))
            elif getattr(metric, "needs_judge", False) and over_budget():
                out.append(Score(None, error=f"{BUDGET_ERROR_PREFIX} ${budget_usd:g} reached"))
            else:
                out.append(_score_one(metric, rows[i], judge))
        return metric, indices, out

    work: list[tuple[Metric, list[int]]] = []
    for metric in metrics:
        size = _CHUNK if getattr(metric, "cheap", False) else 1
        for start in range(0, len(rows), size):
            work.append((metric, list(range(start, min(start + size, len(rows))))))
    show = sys.stderr.isatty() if progress is None else progress
    with (
        ThreadPoolExecutor(max_workers=max_concurrency) as pool,
        _Progress(show, len(rows) * len(metrics)) as bar,
    ):
        futures = [pool.submit(task, metric, indices) for metric, indices in work]
        for future in as_completed(futures):
            metric, indices, out = future.result()
            for i, score in zip(indices, out, strict=True):
                scores[metric.name][i] = score
            bar.advance(len(indices))
    return scores


class _Progress:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, show: bool, total: int) -> None:
        self._bar: Any = None
        if show:
            from rich.console import Console
            from rich.progress import Progress

            self._bar = Progress(console=Console(stderr=True), transient=True)
            self._task = self._bar.add_task("scoring", total=total)

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=n)
