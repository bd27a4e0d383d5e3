"""Carry the trace context across threads and services."""

from __future__ import annotations

import concurrent.futures
import contextvars
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

T = TypeVar("T")
_propagator = TraceContextTextMapPropagator()


class ContextThreadPoolExecutor(concurrent.futures.ThreadPoolExecutor):
    """A `ThreadPoolExecutor` whose tasks run in the submitter's context.

    Spans started by a task become children of the span that submitted it, and the
    `session` in force at submit time applies inside the task.

    Example:
        >>> with llmtrace.ContextThreadPoolExecutor(max_workers=4) as pool:
        ...     answers = list(pool.map(answer, questions))
    """

    def submit(  # type: ignore[override]
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        ctx = contextvars.copy_context()
        return super().submit(ctx.run, fn, *args, **kwargs)


def inject_traceparent(carrier: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Write the current span's W3C ``traceparent`` (and ``tracestate``) into ``carrier``.

    Returns the carrier (a new dict when none is given), e.g. HTTP headers to send.

    Example:
        >>> headers = llmtrace.inject_traceparent({"Content-Type": "application/json"})
        >>> requests.post(url, headers=headers, json=payload)
    """
    target: dict[str, str] = {} if carrier is None else carrier  # type: ignore[assignment]
    _propagator.inject(target)
    return target


@contextmanager
def extract_traceparent(carrier: Mapping[str, str]) -> Iterator[None]:
    """Continue, inside the block, the trace whose ``traceparent`` is in ``carrier``.

    Spans started in the block become children of the remote caller's span.

    Example:
        >>> with llmtrace.extract_traceparent(request.headers):
        ...     handle(request)
    """
    lowered = {str(k).lower(): v for k, v in carrier.items()}
    ctx = _propagator.extract(lowered)
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)
