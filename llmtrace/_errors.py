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
