"""`llmtrace.MlflowSpanExporter`: the MLflow exporter for a program's own OTel pipeline.

llmtrace's own pipeline prepares each span (`_payload.enrich`: masking, limits, MLflow and
OpenInference keys, the trace name) before its exporters see it. A program that puts the
exporter in a processor of its own skips that step, so this exporter does it itself: spans
reach the store masked and named whichever processor hands them over.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from .._config import Config, resolve
from ..export._exporter_mlflow import MlflowSpanExporter as _StoreExporter
from ..export._processor import bare_span
from ._payload import enrich


class MlflowSpanExporter(_StoreExporter):
    """OpenTelemetry span exporter that stores spans as MLflow traces (SQLite, SQL or HTTP).

    Spans get llmtrace's preparation first (secrets masked, ``max_attribute_chars`` applied,
    MLflow and OpenInference keys, the trace name), whoever made them.

    Example:
        >>> from opentelemetry.sdk.trace import TracerProvider
        >>> from opentelemetry.sdk.trace.export import BatchSpanProcessor
        >>> provider = TracerProvider()
        >>> provider.add_span_processor(
        ...     BatchSpanProcessor(MlflowSpanExporter("sqlite:///mlflow.db", "my-app")))
    """

    def __init__(
        self,
        tracking_uri: str,
        experiment: str | None = None,
        *,
        config: Config | None = None,
        **options: Any,
    ) -> None:
        super().__init__(tracking_uri, experiment, **options)
        if config is None:
            try:
                config = resolve(tracking_uri=tracking_uri)
            except Exception:  # a bad environment variable: the defaults still mask
                config = Config(tracking_uri=tracking_uri)
        self._config = config

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        prepared = []
        for span in spans:
            try:
                prepared.append(enrich(span, self._config)[0])
            except BaseException as exc:  # user objects may raise anything
                prepared.append(bare_span(span, exc))
        return super().export(prepared)
