"""llmtrace: trace and evaluate LLM applications; OpenTelemetry spans stored as MLflow traces.

Example:
    >>> import llmtrace
    >>> @llmtrace.trace
    ... def answer(question: str) -> str:
    ...     return "42"
    >>> answer("meaning of life?")
    >>> llmtrace.flush()
"""

from ._config import Config
from ._configure import configure
from ._errors import (
    AssessmentError,
    ConfigurationError,
    InvalidValueError,
    LLMTraceError,
    ModelNotFoundError,
    RunNotFoundError,
    TraceNotFoundError,
    TrackingError,
)
from ._runtime import current_config, flush, shutdown, stats, tracer_provider
from .export._processor import Stats
from .interop._instrument import instrument, instrumented, uninstrument
from .tracing._context import ContextThreadPoolExecutor, extract_traceparent, inject_traceparent
from .tracing._decorator import trace
from .tracing._exporter import MlflowSpanExporter
from .tracing._kinds import SpanKind
from .tracing._session import session
from .tracing._span import NoOpSpan, SpanHandle, current_span, span
from .tracking._artifacts import (
    download_artifacts,
    list_artifacts,
    log_artifact,
    log_artifacts,
    log_dict,
    log_figure,
    log_table,
)
from .tracking._assessments import (
    log_expectation,
    log_expectation_many,
    log_feedback,
    log_feedback_many,
)
from .tracking._models import autolog, load_model, log_model, register_model
from .tracking._read import get_trace, search_traces
from .tracking._tracking import (
    active_run,
    client,
    end_run,
    experiment_id,
    get_run,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    search_runs,
    set_experiment,
    set_tag,
    set_tags,
    set_tracking_uri,
    start_run,
)
from .views import show

__version__ = "0.1.0"

__all__ = [
    "AssessmentError",
    "Config",
    "ConfigurationError",
    "ContextThreadPoolExecutor",
    "InvalidValueError",
    "LLMTraceError",
    "MlflowSpanExporter",
    "ModelNotFoundError",
    "NoOpSpan",
    "RunNotFoundError",
    "SpanHandle",
    "SpanKind",
    "Stats",
    "TraceNotFoundError",
    "TrackingError",
    "active_run",
    "autolog",
    "client",
    "configure",
    "current_config",
    "current_span",
    "download_artifacts",
    "end_run",
    "experiment_id",
    "extract_traceparent",
    "flush",
    "get_run",
    "get_trace",
    "inject_traceparent",
    "instrument",
    "instrumented",
    "list_artifacts",
    "load_model",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_expectation",
    "log_expectation_many",
    "log_feedback",
    "log_feedback_many",
    "log_figure",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "log_table",
    "register_model",
    "search_runs",
    "search_traces",
    "session",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "show",
    "shutdown",
    "span",
    "start_run",
    "stats",
    "trace",
    "tracer_provider",
    "uninstrument",
]

_SUBPACKAGES = frozenset({"openai", "prompts", "semconv"})


def __getattr__(name: str) -> object:
    """Import optional layers (``llmtrace.openai``) on first use, keeping the import light."""
    if name in _SUBPACKAGES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
