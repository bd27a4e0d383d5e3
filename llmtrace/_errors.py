"""The exceptions llmtrace raises: only for mistakes the developer can fix."""

from __future__ import annotations


class LLMTraceError(Exception):
    """Base class of every error llmtrace raises on purpose.

    Example:
        >>> try:
        ...     llmtrace.configure(sample_rate=2)
        ... except llmtrace.LLMTraceError as exc:
        ...     print(exc)
    """


class ConfigurationError(LLMTraceError, ValueError):
    """An argument to `configure()` (or an ``LLMTRACE_*`` variable) is invalid."""


class TraceNotFoundError(LLMTraceError, LookupError):
    """`get_trace()` was given an id that the store does not hold."""


class AssessmentError(LLMTraceError, ValueError):
    """Feedback or an expectation that cannot be stored: empty name, a value of the wrong type.

    Example:
        >>> try:
        ...     llmtrace.log_feedback(trace_id, "helpful", {"a": 1})
        ... except llmtrace.AssessmentError as exc:
        ...     print(exc)
    """


class TrackingError(LLMTraceError):
    """A tracking call (run, param, metric, artifact, model, registry) was refused by MLflow.

    The message says what was refused and why, in one line; the MLflow exception is chained.

    Example:
        >>> try:
        ...     llmtrace.get_run("no-such-run")
        ... except llmtrace.TrackingError as exc:
        ...     print(exc)
        get_run('no-such-run'): Run with id=no-such-run not found
    """


class RunNotFoundError(TrackingError, LookupError):
    """No run with that id in the store (``get_run``, ``start_run(run_id=...)``, artifacts...)."""


class ModelNotFoundError(TrackingError, LookupError):
    """A model URI (``runs:/...``, ``models:/...``) that does not resolve to a stored model."""


class InvalidValueError(TrackingError, ValueError):
    """A value MLflow cannot store: a metric that is not a number, an invalid key, filter..."""
