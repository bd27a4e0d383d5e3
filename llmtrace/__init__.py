"""llmtrace: trace and evaluate LLM applications; OpenTelemetry spans stored as MLflow traces.

Example:
    >>> import llmtrace
    >>> @llmtrace.trace
    ... def answer(question: str) -> str:
    ...     return "42"
    >>> answer("meaning of life?")
    >>> llmtrace.flush()

Importing llmtrace does almost nothing: each public name is imported from its module when it
is first used (PEP 562 ``__getattr__``), so ``import llmtrace`` and the ``llmtrace`` command
stay fast; type checkers read the imports under ``TYPE_CHECKING`` as usual.
"""

import typing as _typing

from . import _log  # noqa: F401 - llmtrace's logger and its stderr fallback, from the start

if _typing.TYPE_CHECKING:
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

#: Where each public name lives (a test keeps it equal to ``__all__`` and the imports above).
_EXPORTS: dict[str, str] = {
    "AssessmentError": "._errors",
    "Config": "._config",
    "ConfigurationError": "._errors",
    "ContextThreadPoolExecutor": ".tracing._context",
    "InvalidValueError": "._errors",
    "LLMTraceError": "._errors",
    "MlflowSpanExporter": ".tracing._exporter",
    "ModelNotFoundError": "._errors",
    "NoOpSpan": ".tracing._span",
    "RunNotFoundError": "._errors",
    "SpanHandle": ".tracing._span",
    "SpanKind": ".tracing._kinds",
    "Stats": ".export._processor",
    "TraceNotFoundError": "._errors",
    "TrackingError": "._errors",
    "active_run": ".tracking._tracking",
    "autolog": ".tracking._models",
    "client": ".tracking._tracking",
    "configure": "._configure",
    "current_config": "._runtime",
    "current_span": ".tracing._span",
    "download_artifacts": ".tracking._artifacts",
    "end_run": ".tracking._tracking",
    "experiment_id": ".tracking._tracking",
    "extract_traceparent": ".tracing._context",
    "flush": "._runtime",
    "get_run": ".tracking._tracking",
    "get_trace": ".tracking._read",
    "inject_traceparent": ".tracing._context",
    "instrument": ".interop._instrument",
    "instrumented": ".interop._instrument",
    "list_artifacts": ".tracking._artifacts",
    "load_model": ".tracking._models",
    "log_artifact": ".tracking._artifacts",
    "log_artifacts": ".tracking._artifacts",
    "log_dict": ".tracking._artifacts",
    "log_expectation": ".tracking._assessments",
    "log_expectation_many": ".tracking._assessments",
    "log_feedback": ".tracking._assessments",
    "log_feedback_many": ".tracking._assessments",
    "log_figure": ".tracking._artifacts",
    "log_metric": ".tracking._tracking",
    "log_metrics": ".tracking._tracking",
    "log_model": ".tracking._models",
    "log_param": ".tracking._tracking",
    "log_params": ".tracking._tracking",
    "log_table": ".tracking._artifacts",
    "register_model": ".tracking._models",
    "search_runs": ".tracking._tracking",
    "search_traces": ".tracking._read",
    "session": ".tracing._session",
    "set_experiment": ".tracking._tracking",
    "set_tag": ".tracking._tracking",
    "set_tags": ".tracking._tracking",
    "set_tracking_uri": ".tracking._tracking",
    "show": ".views",
    "shutdown": "._runtime",
    "span": ".tracing._span",
    "start_run": ".tracking._tracking",
    "stats": "._runtime",
    "trace": ".tracing._decorator",
    "tracer_provider": "._runtime",
    "uninstrument": ".interop._instrument",
}


def __getattr__(name: str) -> object:
    """A public name, or a layer (``llmtrace.openai``), imported on first use."""
    import importlib

    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module, __name__), name)
        globals()[name] = value  # the next lookup is a plain attribute
        return value
    if name.startswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    """The module's names, the public ones included before their first use."""
    return sorted(set(globals()) | set(__all__))
