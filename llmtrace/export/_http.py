"""The HTTP side of talking to an MLflow server: OTLP bodies, auth headers, error statuses.

Example:
    >>> body = otlp_body(mlflow_spans)
    >>> response = session.post(uri + OTLP_PATH, data=body, headers=...)
    >>> raise_for_status(response)  # HttpStatusError with the server's Retry-After
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

OTLP_PATH = "/v1/traces"
EXPERIMENT_HEADER = "x-mlflow-experiment-id"


class HttpStatusError(RuntimeError):
    """An MLflow server answered with an HTTP error status (``retry_after`` in seconds)."""

    def __init__(self, status: int, text: str, retry_after: float | None = None) -> None:
        kind = " (temporarily unavailable)" if status == 429 or status >= 500 else ""
        super().__init__(f"MLflow server answered HTTP {status}{kind}: {text[:200]}")
        self.status = status
        self.retry_after = retry_after


def raise_for_status(response: Any) -> None:
    if response.status_code < 400:
        return
    raise HttpStatusError(
        response.status_code, response.text, retry_after(response.headers.get("Retry-After"))
    )


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def otlp_body(spans: list[Any]) -> bytes:
    """The OTLP/protobuf ``ExportTraceServiceRequest`` body for MLflow spans."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    scope_spans.spans.extend(span.to_otel_proto() for span in spans)
    return bytes(request.SerializeToString())


@dataclass(frozen=True)
class ProtoSpan:
    """One span of a parsed OTLP request, with the resource and scope it came under."""

    trace_id: bytes
    span: Any
    resource_spans: Any
    scope_spans: Any
    where: tuple[int, int]  # (resource, scope) index in the request it came from


def traces_of_body(body: bytes) -> list[list[ProtoSpan]]:
    """The spans of an OTLP request body, grouped by trace (for splitting a refused batch)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest.FromString(body)
    groups: dict[bytes, list[ProtoSpan]] = {}
    for r, resource_spans in enumerate(request.resource_spans):
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            for span in scope_spans.spans:
                unit = ProtoSpan(span.trace_id, span, resource_spans, scope_spans, (r, s))
                groups.setdefault(span.trace_id, []).append(unit)
    return list(groups.values())


def body_of(spans: list[ProtoSpan]) -> bytes:
    """An OTLP request body holding just ``spans`` (under their own resource and scope)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    scopes: dict[tuple[int, int], Any] = {}
    for unit in spans:
        scope = scopes.get(unit.where)
        if scope is None:
            resource = request.resource_spans.add()
            resource.resource.CopyFrom(unit.resource_spans.resource)
            resource.schema_url = unit.resource_spans.schema_url
            scope = scopes[unit.where] = resource.scope_spans.add()
            scope.scope.CopyFrom(unit.scope_spans.scope)
            scope.schema_url = unit.scope_spans.schema_url
        scope.spans.append(unit.span)
    return bytes(request.SerializeToString())


def spans_from_body(body: bytes, experiment_id: str) -> list[Any]:
    """MLflow spans back from an `otlp_body` (a spooled batch), for run and prompt links."""
    from mlflow.entities import Span
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest.FromString(body)
    return [
        Span.from_otel_proto(span, experiment_id)
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]


def auth_headers() -> dict[str, str]:
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user, password = (
        os.environ.get("MLFLOW_TRACKING_USERNAME"),
        os.environ.get("MLFLOW_TRACKING_PASSWORD"),
    )
    if user and password:
        import base64

        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {basic}"}
    return {}
