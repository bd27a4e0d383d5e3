"""Monitor figures through MLflow's own client: for servers, PostgreSQL and unchecked schemas.

The same units and rules as `_monitor_sql` (see its docstring), read from the `Trace` objects
`MlflowClient.search_traces` returns: the trace's ``execution_duration``, ``state``, token
usage and cost; its ``mlflow.trace.session``/``mlflow.trace.user`` metadata; and, for span
groupings only, each span's name, type, status, duration, model, ``mlflow.chat.tokenUsage``
and ``mlflow.llm.cost``. Slower (every trace crosses the client), but it works on any store.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .. import _semconv as sc
from ._monitor_figures import SPAN_GROUPINGS, Aggregate, Figures, Unit, figures
from ._store import Store

MAX_TRACES = 10_000_000


def _tokens(usage: Any) -> int:
    if not isinstance(usage, dict):
        return 0
    if usage.get("total_tokens") is not None:
        return int(usage["total_tokens"])
    return int(usage.get("input_tokens") or 0) + int(usage.get("output_tokens") or 0)


def _cost(cost: Any) -> float:
    if isinstance(cost, dict) and cost.get("total_cost") is not None:
        return float(cost["total_cost"])
    return 0.0


def _trace_unit(info: Any) -> Unit:
    state = str(getattr(info.state, "value", info.state))
    return (info.execution_duration, state == "ERROR", _tokens(info.token_usage), _cost(info.cost))


def _span_group(span: Any, by: str) -> str | None:
    if by == "span":
        return str(span.name)
    if by == "model":
        model = span.model_name
        return model if isinstance(model, str) else None
    return str(span.name) if span.span_type == "TOOL" else None


def _span_unit(span: Any) -> Unit:
    end = span.end_time_ns
    latency = None if end is None else (end - span.start_time_ns) / 1e6
    failed = str(getattr(span.status.status_code, "value", span.status.status_code)) == "ERROR"
    usage = span.get_attribute(sc.MLFLOW_CHAT_USAGE)
    return (latency, failed, _tokens(usage), _cost(span.llm_cost))


def aggregate(
    store: Store,
    *,
    since_ms: int,
    until_ms: int,
    every_ms: int,
    by: str,
) -> Aggregate:
    """Total, buckets, groups and each group's buckets of the window, from `Store.search`."""
    spans_needed = by in SPAN_GROUPINGS
    traces = store.search(
        f"timestamp_ms >= {since_ms} AND timestamp_ms < {until_ms}",
        max_results=MAX_TRACES,
        include_spans=spans_needed,
    )
    everything: list[Unit] = []
    per_bucket: dict[int, list[Unit]] = defaultdict(list)
    per_group: dict[str, list[Unit]] = defaultdict(list)
    per_group_bucket: dict[tuple[str, int], list[Unit]] = defaultdict(list)
    for trace in traces:
        info = trace.info
        bucket = info.timestamp_ms - info.timestamp_ms % every_ms
        unit = _trace_unit(info)
        everything.append(unit)
        per_bucket[bucket].append(unit)
        if spans_needed:
            pairs = [(_span_group(s, by), _span_unit(s)) for s in trace.data.spans]
        else:
            key = sc.MLFLOW_TRACE_SESSION if by == "session" else sc.MLFLOW_TRACE_USER
            pairs = [(info.trace_metadata.get(key), unit)]
        for group, group_unit in pairs:
            if group is not None:
                per_group[group].append(group_unit)
                per_group_bucket[(group, bucket)].append(group_unit)
    cells: dict[str, dict[int, Figures]] = defaultdict(dict)
    for (group, bucket), units in per_group_bucket.items():
        cells[group][bucket] = figures(group, units)
    buckets = [figures(str(b), per_bucket[b]) for b in sorted(per_bucket)]
    groups = [figures(group, units) for group, units in per_group.items()]
    return Aggregate(figures("all", everything), buckets, groups, dict(cells))
