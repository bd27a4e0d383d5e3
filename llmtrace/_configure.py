"""The public `configure()` signature (validated by `_config.resolve`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from . import _runtime
from ._config import Config

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter


def configure(
    *,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    enabled: bool | None = None,
    capture_content: bool | None = None,
    max_attribute_chars: int | None = None,
    redact: Callable[[Any], Any] | None = None,
    sample_rate: float | None = None,
    exporters: Sequence[SpanExporter] | None = None,
    tracer_provider: TracerProvider | None = None,
    set_global: bool | None = None,
    export_to_mlflow: bool | None = None,
    max_queue_size: int | None = None,
    max_queue_bytes: int | None = None,
    max_export_batch_size: int | None = None,
    schedule_delay_ms: int | None = None,
    exit_flush_timeout_s: float | None = None,
    service_name: str | None = None,
    otlp_endpoint: str | None = None,
    export_process: bool | None = None,
    spool_dir: str | None = None,
    spool_max_mb: int | None = None,
    export_retries: int | None = None,
) -> Config:
    """Set how llmtrace traces and where it stores; every argument is optional.

    An argument left as None falls back to its environment variable, then to the default:

    ======================  ==========================================  =======================
    argument                environment                                 default
    ======================  ==========================================  =======================
    tracking_uri            LLMTRACE_TRACKING_URI, MLFLOW_TRACKING_URI  sqlite:///./mlflow.db
    experiment              LLMTRACE_EXPERIMENT, MLFLOW_EXPERIMENT_NAME MLflow's "Default"
    enabled                 LLMTRACE_ENABLED, OTEL_SDK_DISABLED         True
    capture_content         LLMTRACE_CAPTURE_CONTENT                    True
    max_attribute_chars     LLMTRACE_MAX_ATTRIBUTE_CHARS                100000
    sample_rate             LLMTRACE_SAMPLE_RATE, OTEL_TRACES_SAMPLER_ARG 1.0
    export_to_mlflow        LLMTRACE_EXPORT_TO_MLFLOW                   True
    max_queue_size          LLMTRACE_MAX_QUEUE_SIZE, OTEL_BSP_MAX_QUEUE_SIZE 100000
    max_queue_bytes         LLMTRACE_MAX_QUEUE_BYTES                    268435456 (256 MB)
    ======================  ==========================================  =======================

    ``max_queue_bytes`` bounds the queue by the (estimated) size of what its spans hold, so a
    tight loop over large payloads cannot grow the process without limit; a span that does
    not fit is dropped and counted, like one over ``max_queue_size``.
    ``otlp_endpoint`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT``)
    also sends every span as OTLP/HTTP to a collector (needs ``llmtrace[otlp]``).
    ``export_process`` (``LLMTRACE_EXPORT_PROCESS``, default on) writes to a local SQL store
    from a child process, so the store's Python work does not compete with the traced program
    for the GIL; off, or when the child cannot start, spans are written from a thread.
    ``spool_dir`` (``LLMTRACE_SPOOL_DIR``; http(s) tracking servers only) keeps batches the
    server cannot take after retries in that folder, at most ``spool_max_mb``
    (``LLMTRACE_SPOOL_MAX_MB``, default 1024) megabytes, and replays them oldest first when it
    answers again, in this process or the next one started with the same folder and server.
    ``export_retries`` (``LLMTRACE_EXPORT_RETRIES``, default 3) is how often a transient
    failure (connection error, timeout, HTTP 429/5xx) is retried, with exponential backoff and
    jitter, honouring ``Retry-After`` up to 10 s; a locked SQLite file is retried 10 times.
    ``redact`` is called with each inputs/outputs/attribute value (already JSON-shaped, secrets
    already masked) and returns what to store. ``exporters`` are extra OpenTelemetry span
    exporters (e.g. OTLP to a collector) fed the same enriched spans. ``tracer_provider`` makes
    llmtrace join an existing provider instead of owning one: its processor is added at once,
    so every span the provider records from then on reaches llmtrace's store, whoever made it
    (``sample_rate`` then keeps that share of traces, by trace id). ``set_global``
    (``LLMTRACE_SET_GLOBAL_PROVIDER``) makes llmtrace's provider OpenTelemetry's global one
    (or joins the global one if the program already set an SDK provider), so instrumentors
    that call ``trace.get_tracer_provider()`` are captured too; see `tracer_provider()`.
    Invalid values raise `ConfigurationError` here, before anything changes. Calling
    `configure` again flushes and replaces the running pipeline.

    Example:
        >>> llmtrace.configure(experiment="rag-app", sample_rate=0.5,
        ...                    redact=lambda v: v if not isinstance(v, str) else v[:200])
    """
    options = {
        key: value
        for key, value in {
            "tracking_uri": tracking_uri,
            "experiment": experiment,
            "enabled": enabled,
            "capture_content": capture_content,
            "max_attribute_chars": max_attribute_chars,
            "redact": redact,
            "sample_rate": sample_rate,
            "exporters": exporters,
            "tracer_provider": tracer_provider,
            "set_global": set_global,
            "export_to_mlflow": export_to_mlflow,
            "max_queue_size": max_queue_size,
            "max_queue_bytes": max_queue_bytes,
            "max_export_batch_size": max_export_batch_size,
            "schedule_delay_ms": schedule_delay_ms,
            "exit_flush_timeout_s": exit_flush_timeout_s,
            "service_name": service_name,
            "otlp_endpoint": otlp_endpoint,
            "export_process": export_process,
            "spool_dir": spool_dir,
            "spool_max_mb": spool_max_mb,
            "export_retries": export_retries,
        }.items()
        if value is not None
    }
    return _runtime.configure(**options)
