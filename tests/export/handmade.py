"""Hand-made OTel spans for exporter tests: what reaches an exporter, poison included.

The tracing layer repairs what it can (surrogates, over-long names); these spans go to the
exporters directly, so the store side is tested on whatever would get through.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from mlflow import MlflowClient
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags

_FLAGS = TraceFlags(TraceFlags.SAMPLED)
_RESOURCE = Resource({"service.name": "handmade"})


def span(
    name: str,
    trace_id: int,
    span_id: int,
    parent_id: int | None = None,
    *,
    start: int | None = None,
    attributes: dict[str, Any] | None = None,
    events: tuple[Event, ...] = (),
) -> ReadableSpan:
    start = time.time_ns() if start is None else start
    return ReadableSpan(
        name=name,
        context=SpanContext(trace_id, span_id, False, _FLAGS),
        parent=SpanContext(trace_id, parent_id, False, _FLAGS) if parent_id else None,
        resource=_RESOURCE,
        attributes=attributes or {},
        events=list(events),
        status=Status(StatusCode.OK),
        start_time=start,
        end_time=start + 1_000,
    )


def trace(
    name: str,
    trace_id: int | None = None,
    root_id: int | None = None,
    *,
    start: int | None = None,
    root_attributes: dict[str, Any] | None = None,
    events: tuple[Event, ...] = (),
) -> list[ReadableSpan]:
    """A root span ``name`` (as llmtrace enriches one) and one child, child first."""
    trace_id = trace_id or secrets.randbits(128)
    root_id = root_id or secrets.randbits(64)
    start = time.time_ns() if start is None else start
    attributes = {
        "mlflow.spanType": "CHAIN",
        "mlflow.spanInputs": json.dumps({"q": name}),
        "mlflow.spanOutputs": json.dumps("ok"),
        "mlflow.traceTag.mlflow.traceName": name,
        **(root_attributes or {}),
    }
    child = span(f"{name}.child", trace_id, secrets.randbits(64), root_id, start=start + 10)
    root = span(name, trace_id, root_id, start=start, attributes=attributes, events=events)
    return [child, root]


POISON: dict[str, Callable[[], list[ReadableSpan]]] = {
    "surrogate in the span name": lambda: trace("bad\ud800name"),
    "surrogate in the inputs": lambda: trace(
        "bad-inputs", root_attributes={"mlflow.spanInputs": '{"q": "a\ud800b"}'}
    ),
    "surrogate in the session id": lambda: trace(
        "bad-session", root_attributes={"session.id": "s\ud800"}
    ),
    "surrogate in an event attribute": lambda: trace(
        "bad-event", events=(Event("note", {"text": "x\ud800y"}),)
    ),
    "a name over 4,096 characters": lambda: trace("n" * 5000),
}
"""Traces a store refuses for their data (MLflow 3.17, SQLite), by what is wrong."""


def stored(uri: str, experiment: str) -> dict[str, list[str]]:
    """Stored traces of ``experiment`` read back with MLflow's client: trace name -> span
    names (sorted)."""
    return {
        t.info.tags.get("mlflow.traceName", t.info.trace_id): sorted(s.name for s in t.data.spans)
        for t in _traces(uri, experiment)
    }


def stored_spans(uri: str, experiment: str) -> int:
    """How many spans of ``experiment`` MLflow's client reads back."""
    return sum(len(t.data.spans) for t in _traces(uri, experiment))


def _traces(uri: str, experiment: str) -> list[Any]:
    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    traces: list[Any] = []
    token = None
    while True:  # pages: a server answers at most 500 per request
        page = client.search_traces(
            locations=[found.experiment_id], max_results=500, page_token=token
        )
        traces += page
        token = page.token
        if not token:
            return traces
