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
from ._context import ContextThreadPoolExecutor, extract_traceparent, inject_traceparent
from ._decorator import trace
from ._errors import ConfigurationError, LLMTraceError, TraceNotFoundError
from ._exporter_mlflow import MlflowSpanExporter
from ._kinds import SpanKind
from ._processor import Stats
from ._read import get_trace, search_traces
from ._runtime import current_config, flush, shutdown, stats
from ._session import session
from ._span import NoOpSpan, SpanHandle, current_span, span

__version__ = "0.1.0"

__all__ = [
    "Config",
    "ConfigurationError",
    "ContextThreadPoolExecutor",
    "LLMTraceError",
    "MlflowSpanExporter",
    "NoOpSpan",
    "SpanHandle",
    "SpanKind",
    "Stats",
    "TraceNotFoundError",
    "configure",
    "current_config",
    "current_span",
    "extract_traceparent",
    "flush",
    "get_trace",
    "inject_traceparent",
    "search_traces",
    "session",
    "shutdown",
    "span",
    "stats",
    "trace",
]
