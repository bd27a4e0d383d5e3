"""Small helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmtrace


def finished(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    """Flush llmtrace and return the exported spans by name (names must be unique)."""
    assert llmtrace.flush(10)
    spans = exporter.get_finished_spans()
    by_name = {s.name: s for s in spans}
    assert len(by_name) == len(spans), [s.name for s in spans]
    return by_name


def attr_json(span: ReadableSpan, key: str) -> Any:
    """The decoded JSON value of an llmtrace JSON attribute (inputs, outputs...)."""
    value = (span.attributes or {})[key]
    assert isinstance(value, str)
    return json.loads(value)


def inputs(span: ReadableSpan) -> Any:
    return attr_json(span, "mlflow.spanInputs")


def outputs(span: ReadableSpan) -> Any:
    return attr_json(span, "mlflow.spanOutputs")
