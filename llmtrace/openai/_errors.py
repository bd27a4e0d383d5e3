"""Record a failed OpenAI call on its span, with the client's credentials scrubbed out.

llmtrace masks secret-looking text everywhere (``sk-...``, bearer tokens); this module also
removes the exact API key, organization and project ids of the client, whatever their format
(Azure keys, for example, are plain hex).
"""

from __future__ import annotations

import traceback

from opentelemetry.trace import Status, StatusCode

from .. import _semconv as sc
from .._log import warn_once
from ..tracing._serialize import REDACTED
from ..tracing._span import SpanHandle


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every occurrence of each secret replaced by ``[REDACTED]``."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def record_error(handle: SpanHandle, exc: BaseException, secrets: tuple[str, ...]) -> None:
    """Mark the span failed: an ``exception`` event, ERROR status, ``error.type``, HTTP status."""
    try:
        span = handle.otel_span
        message = scrub(str(exc), secrets)
        stack = scrub("".join(traceback.format_exception(exc)), secrets)
        span.record_exception(
            exc,
            attributes={"exception.message": message, "exception.stacktrace": stack},
        )
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {message}"))
        span.set_attribute(sc.ERROR_TYPE, type(exc).__name__)
        status_code = getattr(exc, "status_code", None)
        if isinstance(status_code, int):
            span.set_attribute(sc.HTTP_RESPONSE_STATUS_CODE, status_code)
    except Exception as err:  # e.g. the exception's own __str__ raises
        warn_once("openai-error", "llmtrace could not record an OpenAI error: %r", err)
        handle.record_exception(exc)
