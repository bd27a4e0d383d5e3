"""`evals.watch`: score new traces as they are stored, and write each score as feedback on them.

The loop: every ``poll_s`` seconds, search the experiment's traces started since the checkpoint,
oldest first; score each finished one (deterministic metrics and judges, with the judge's cache
and ``budget_usd``, as `evaluate` does) and attach every score to its trace as MLflow feedback
(an assessment the MLflow UI shows) whose metadata carries ``llmtrace.watch = <name>``.

How a restart neither rescores nor skips:

- *Done is read from the store.* A trace counts as scored for a metric when it has feedback of
  that name with this watcher's ``llmtrace.watch`` mark; a restart (after a crash, Ctrl-C or
  SIGTERM) scores only the metrics a trace still lacks. Traces with equal timestamps are no
  special case: nothing is keyed on the timestamp alone.
- *The checkpoint only bounds the search.* It is an experiment tag
  ``llmtrace.watch.<name>`` = ``{"origin_ms", "watermark_ms"}`` in the store itself (so it
  survives restarts and works the same against a server): the origin is when the watcher first
  started (or ``since``), the watermark the newest trace start it has finished with. Each poll
  searches from ``max(origin, watermark - settle_s)``, so a trace stored up to ``settle_s``
  after it started (a long agent run) is still found; traces in progress are left for later.
- *Sampling is a function of the trace id* (sha256), so a sampled-out trace stays out after a
  restart, and a sampled-in one stays in.

Stops cleanly: Ctrl-C or SIGTERM (handlers installed only while it runs, in the main thread)
lets the trace being scored finish and its scores be written, then returns; so do
``max_traces``, ``until`` and a judge budget that is used up.

Example:
    >>> from evals import metrics, watch
    >>> result = watch([metrics.answer_length("words")], experiment="chatbot", max_traces=100)
    >>> result.traces_scored, result.stopped
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmtrace import semconv as sc

from ._evaluate import _check_metrics, _configure_judge, _score_one, _usage, _usage_delta
from ._result import BUDGET_ERROR_PREFIX
from ._types import Judge, Metric, Row, Score

logger = logging.getLogger("evals")

_NAME = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass
class WatchResult:
    """What a `watch` call did.

    Example:
        >>> result.traces_scored, result.scores_written, result.stopped
        (12, 24, 'max_traces')
    """

    name: str
    traces_scored: int = 0
    scores_written: int = 0
    sampled_out: int = 0
    errors: int = 0
    """Scores written as errors (the metric could not score the trace)."""
    stopped: str = ""
    """``"signal"``, ``"max_traces"``, ``"until"`` or ``"budget"``."""
    sampled_out_ids: set[str] = field(default_factory=set, repr=False)
    judge_usage: dict[str, Any] = field(default_factory=dict)
    checkpoint: dict[str, int] = field(default_factory=dict)


def watcher_name(metrics: Sequence[Metric], filter_string: str | None, sample: float) -> str:
    """The default name: the metrics, filter and sample rate, hashed (same settings, same name).

    Example:
        >>> watcher_name([metrics.token_f1()], None, 1.0)
        'token_f1-1a2b3c4d'
    """
    names = sorted(m.name for m in metrics)
    digest = hashlib.sha256(json.dumps([names, filter_string, sample]).encode()).hexdigest()
    return _NAME.sub("_", "+".join(names))[:60] + "-" + digest[:8]


def sampled(trace_id: str, rate: float) -> bool:
    """Whether ``trace_id`` is in a ``rate`` sample (the same answer every time)."""
    if rate >= 1:
        return True
    bucket = int(hashlib.sha256(trace_id.encode()).hexdigest()[:8], 16) / 0x1_0000_0000
    return bucket < rate


def write_feedback(
    tracking_uri: str,
    trace_id: str,
    name: str,
    score: Score,
    *,
    source_type: str,
    source_id: str,
    metadata: dict[str, str],
    span_id: str | None = None,
) -> None:
    """The one place `watch` writes a score: an MLflow feedback assessment on the trace.

    Written as `mlflow.log_feedback` does (`TracingClient.log_assessment`), bound to
    ``tracking_uri`` so MLflow's global tracking URI is not touched.
    """
    from mlflow.entities import AssessmentError, AssessmentSource, Feedback
    from mlflow.tracing.client import TracingClient

    feedback = Feedback(
        name=name,
        value=score.value,
        error=AssessmentError(error_code="METRIC_ERROR", error_message=score.error)
        if score.error
        else None,
        rationale=score.reason,
        source=AssessmentSource(source_type=source_type, source_id=source_id),
        metadata=metadata,
        span_id=span_id,
    )
    TracingClient(tracking_uri).log_assessment(trace_id, feedback)


def _moment(value: float | str, option: str, direction: int) -> float:
    """Epoch seconds of ``value``: seconds or ``30m``/``8h``/``1d`` from now (forward when
    ``direction`` is 1, back when -1), or an ISO time (UTC unless it says otherwise)."""
    if isinstance(value, (int, float)):
        return time.time() + direction * float(value)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", value)
    if match:
        seconds = float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
        return time.time() + direction * seconds
    from datetime import datetime, timezone

    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"{option} {value!r}: use a duration such as 30m or 8h, or an ISO time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


class _Stop:
    """Set by SIGINT/SIGTERM while `watch` runs (handlers only in the main thread)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signalled = False
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> _Stop:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.signalled = True
        self.event.set()

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)


def _source(metric: Metric, judge: Judge | None) -> tuple[str, str]:
    if getattr(metric, "needs_judge", False):
        return "LLM_JUDGE", str(getattr(judge, "model", "judge"))
    return "CODE", f"evals.{metric.name}"


def watch(
    metrics: Sequence[Metric | Callable[[], Metric]],
    *,
    experiment: str | None = None,
    judge: Judge | None = None,
    sample: float = 1.0,
    filter_string: str | None = None,
    budget_usd: float | None = None,
    cache: bool = True,
    max_traces: int | None = None,
    until: float | str | None = None,
    since: str | None = None,
    poll_s: float = 2.0,
    settle_s: float = 600.0,
    name: str | None = None,
    tracking_uri: str | None = None,
    on_score: Callable[[str, str, Score], None] | None = None,
) -> WatchResult:
    """Score the experiment's new traces as they are stored, until stopped (see the module).

    Args:
        metrics: as for `evaluate` (objects or uncalled factories).
        experiment: whose traces (default: llmtrace's configured experiment).
        judge: the judge of judge metrics; its cache is used (unless ``cache=False``).
        sample: share of traces scored, 0 < sample <= 1 (decided by the trace id).
        filter_string: an MLflow trace filter ANDed to the search, e.g. ``"status = 'OK'"``.
        budget_usd: stop once the judge has spent this much in this call.
        max_traces: stop after scoring this many traces.
        until: stop at this time: seconds from now, ``"30m"``, ``"8h"`` or an ISO time.
        since: on the first start only, also score traces started since then (``"1h"``, an
            ISO date); by default a new watcher starts with the traces stored from now on.
        poll_s: seconds between searches when there is nothing to do.
        settle_s: how late after its start a trace may be stored and still be scored.
        name: the watcher's name (its checkpoint and feedback mark); default `watcher_name`.
        tracking_uri: the store (default: llmtrace's configured one).
        on_score: called with (trace id, metric name, score) after each score is written.

    Raises:
        ValueError: bad metrics, arguments or experiment (one line).

    Example:
        >>> watch([metrics.faithfulness()], judge=OpenAIJudge("gpt-4o-mini"), sample=0.1,
        ...       budget_usd=5, until="8h")
    """
    from mlflow import MlflowClient

    import llmtrace

    chosen = _check_metrics(metrics, judge)
    if not isinstance(sample, (int, float)) or not 0 < sample <= 1:
        raise ValueError(f"sample must be a number in (0, 1], got {sample!r}")
    if max_traces is not None and (not isinstance(max_traces, int) or max_traces < 1):
        raise ValueError(f"max_traces must be an integer >= 1, got {max_traces!r}")
    if budget_usd is not None and (not isinstance(budget_usd, (int, float)) or budget_usd < 0):
        raise ValueError(f"budget_usd must be a number >= 0, got {budget_usd!r}")
    deadline = None if until is None else _moment(until, "until", 1)
    origin = None if since is None else int(_moment(since, "since", -1) * 1000)
    config = llmtrace.current_config()
    uri = tracking_uri or config.tracking_uri
    client = MlflowClient(uri)
    exp_name = experiment or config.experiment or "Default"
    found = client.get_experiment_by_name(exp_name)
    if found is None:
        raise ValueError(
            f"no experiment {exp_name!r} in {uri}: trace something first, or pass experiment="
        )
    exp_id = found.experiment_id
    watcher = name or watcher_name(chosen, filter_string, float(sample))
    result = WatchResult(name=watcher)
    checkpoint = _load_checkpoint(client, exp_id, watcher, origin)
    restore = _configure_judge(judge, cache, budget_usd)
    usage_before = _usage(judge)
    try:
        with _Stop() as stop:
            while True:
                reason = _poll(
                    client, uri, exp_id, watcher, chosen, judge, checkpoint, result, stop,
                    sample=float(sample), filter_string=filter_string,
                    settle_ms=int(settle_s * 1000),
                    max_traces=max_traces, deadline=deadline, budget_usd=budget_usd,
                    usage_before=usage_before, on_score=on_score,
                )  # fmt: skip
                if not reason and deadline is not None and time.time() >= deadline:
                    reason = "until"
                if reason:
                    result.stopped = reason
                    break
                wait = poll_s if deadline is None else min(poll_s, max(0.0, deadline - time.time()))
                if stop.event.wait(wait):
                    result.stopped = "signal"
                    break
    finally:
        restore()
        result.judge_usage = _usage_delta(usage_before, _usage(judge))
        result.checkpoint = dict(checkpoint)
    return result


def _tag(watcher: str) -> str:
    return f"{sc.LLMTRACE_WATCH}.{watcher}"


def _load_checkpoint(client: Any, exp_id: str, watcher: str, origin: int | None) -> dict[str, int]:
    tags = client.get_experiment(exp_id).tags or {}
    saved = tags.get(_tag(watcher))
    if saved:
        data = json.loads(saved)
        return {"origin_ms": int(data["origin_ms"]), "watermark_ms": int(data["watermark_ms"])}
    if origin is None:
        origin = int(time.time() * 1000)
    checkpoint = {"origin_ms": origin, "watermark_ms": origin}
    client.set_experiment_tag(exp_id, _tag(watcher), json.dumps(checkpoint))
    return checkpoint


def _search(client: Any, exp_id: str, where: str) -> list[Any]:
    out: list[Any] = []
    token = None
    while True:
        page = client.search_traces(
            locations=[exp_id], filter_string=where, max_results=500,
            order_by=["timestamp_ms ASC"], include_spans=False, page_token=token,
        )  # fmt: skip
        out.extend(page)
        token = page.token
        if not token or not page:
            return out


def _done(info: Any, watcher: str) -> set[str]:
    return {
        a.name
        for a in info.assessments or []
        if (a.metadata or {}).get(sc.LLMTRACE_WATCH) == watcher and a.valid is not False
    }


def _poll(
    client: Any,
    uri: str,
    exp_id: str,
    watcher: str,
    metrics: list[Metric],
    judge: Judge | None,
    checkpoint: dict[str, int],
    result: WatchResult,
    stop: _Stop,
    *,
    sample: float,
    filter_string: str | None,
    settle_ms: int,
    max_traces: int | None,
    deadline: float | None,
    budget_usd: float | None,
    usage_before: dict[str, Any],
    on_score: Callable[[str, str, Score], None] | None,
) -> str:
    """One search and the scoring of what it found; the reason to stop, or ``""``."""
    from ._data import is_judge_trace, load_rows

    lower = max(checkpoint["origin_ms"], checkpoint["watermark_ms"] - settle_ms)
    where = f"timestamp_ms >= {lower}"
    if filter_string:
        where += f" AND {filter_string.strip()}"
    newest = checkpoint["watermark_ms"]
    pending: int | None = None  # the oldest trace still in progress
    reason = ""
    for trace in _search(client, exp_id, where):
        info = trace.info
        if stop.event.is_set():
            reason = "signal"
            break
        if deadline is not None and time.time() >= deadline:
            reason = "until"
            break
        if str(getattr(info.state, "value", info.state)) == "IN_PROGRESS":
            pending = info.timestamp_ms if pending is None else min(pending, info.timestamp_ms)
            continue
        if not is_judge_trace(trace) and sampled(info.trace_id, sample):
            todo = [m for m in metrics if m.name not in _done(info, watcher)]
            if todo:
                spent = _usage_delta(usage_before, _usage(judge)).get("cost_usd")
                if budget_usd is not None and isinstance(spent, (int, float)):
                    if spent >= budget_usd and any(m.needs_judge for m in todo):
                        reason = "budget"
                        break
                full = client.get_trace(info.trace_id)
                row = load_rows([full])[0] if not is_judge_trace(full) else Row(index=0)
                if not _score_trace(uri, watcher, full, row, todo, judge, result, on_score):
                    reason = "budget"
                    break
                result.traces_scored += 1
        elif not is_judge_trace(trace) and info.trace_id not in result.sampled_out_ids:
            result.sampled_out_ids.add(info.trace_id)
            result.sampled_out += 1
        if pending is None:
            newest = max(newest, info.timestamp_ms)
        if max_traces is not None and result.traces_scored >= max_traces:
            reason = "max_traces"
            break
    if newest > checkpoint["watermark_ms"]:
        checkpoint["watermark_ms"] = newest
        client.set_experiment_tag(exp_id, _tag(watcher), json.dumps(checkpoint))
    return reason


def _score_trace(
    uri: str,
    watcher: str,
    trace: Any,
    row: Row,
    metrics: list[Metric],
    judge: Judge | None,
    result: WatchResult,
    on_score: Callable[[str, str, Score], None] | None,
) -> bool:
    """Score and write each metric; False when the judge's budget stopped a score."""
    from ._traces import root_span

    trace_id = trace.info.trace_id
    root = root_span(trace)
    for metric in metrics:
        score = _score_one(metric, row, judge)
        if (score.error or "").startswith(BUDGET_ERROR_PREFIX):
            return False  # not written: the trace stays to be scored (with more budget)
        source_type, source_id = _source(metric, judge)
        metadata = {sc.LLMTRACE_WATCH: watcher, "metric_version": str(metric.version)}
        write_feedback(
            uri, trace_id, metric.name, score, source_type=source_type, source_id=source_id,
            metadata=metadata, span_id=None if root is None else root.span_id,
        )  # fmt: skip
        result.scores_written += 1
        result.errors += bool(score.error)
        if on_score is not None:
            on_score(trace_id, metric.name, score)
    return True
