"""Span handles and the `span()` context manager.

A `SpanHandle` wraps one OpenTelemetry span and records inputs/outputs by reference (serialized
later, on the export thread). When tracing is off, sampled out or broken, `NoOpSpan` offers the
same methods and does nothing, so user code never needs an ``if``.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Status, StatusCode

from .._ids import mlflow_trace_id
from .._log import warn_once
from . import _state
from ._kinds import SpanKind, to_kind
from ._payload import SpanPayload, lookup, register, snapshot
from ._serialize import to_jsonable
from ._session import SessionInfo, reset_current_session, set_current_session

logger = logging.getLogger("llmtrace")
_PRIMITIVES = (str, bool, int, float)


def _otel_value(value: Any) -> Any:
    """A value OpenTelemetry accepts as an attribute: primitives as they are, others as JSON."""
    if isinstance(value, _PRIMITIVES):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, _PRIMITIVES) for v in value):
        if len({type(v) for v in value}) <= 1:
            return list(value)
    return json.dumps(to_jsonable(value))


class SpanHandle:
    """A live span: record inputs, outputs, attributes, events and exceptions on it.

    Example:
        >>> with llmtrace.span("rerank", kind="RERANKER") as s:
        ...     s.set_inputs({"query": q, "docs": docs})
        ...     s.set_outputs(reranked)
    """

    __slots__ = ("_ended", "_payload", "_span")

    def __init__(self, span: otel_trace.Span, payload: SpanPayload) -> None:
        self._span = span
        self._payload = payload
        self._ended = False

    @property
    def otel_span(self) -> otel_trace.Span:
        """The underlying OpenTelemetry span."""
        return self._span

    @property
    def trace_id(self) -> str:
        """The MLflow trace id (``tr-...``) this span belongs to."""
        return mlflow_trace_id(self._span.get_span_context().trace_id)

    @property
    def span_id(self) -> str:
        """The span id as 16 hex digits (as MLflow shows it)."""
        return f"{self._span.get_span_context().span_id:016x}"

    @property
    def is_recording(self) -> bool:
        """True when this span will be exported (False when sampled out)."""
        return self._span.is_recording()

    def set_inputs(self, inputs: Any) -> None:
        """Record the span's inputs (any JSON-able value; serialized off the caller's thread)."""
        self._payload.inputs = snapshot(inputs)

    def set_outputs(self, outputs: Any) -> None:
        """Record the span's outputs. RETRIEVER spans take a list of documents."""
        self._payload.outputs = snapshot(outputs)

    def set_attribute(self, key: str, value: Any) -> None:
        """Set one attribute; dicts, lists of mixed values and objects are stored as JSON."""
        try:
            if isinstance(value, _PRIMITIVES):
                self._span.set_attribute(key, value)
            else:
                extra = self._payload.extra
                if extra is None:
                    extra = self._payload.extra = {}
                extra[key] = snapshot(value)
        except Exception as exc:
            warn_once("set_attribute", "llmtrace could not set attribute %r: %r", key, exc)

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        """Set several attributes (see `set_attribute`)."""
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        """Add a timestamped event (non-primitive attribute values are stored as JSON)."""
        try:
            attrs = {k: _otel_value(v) for k, v in (attributes or {}).items()}
            self._span.add_event(name, attrs)
        except Exception as exc:
            warn_once("add_event", "llmtrace could not add event %r: %r", name, exc)

    def record_exception(self, exception: BaseException, *, set_error: bool = True) -> None:
        """Record an exception event (type, message, stacktrace) and mark the span as failed."""
        try:
            try:
                self._span.record_exception(exception)
                message = f"{type(exception).__name__}: {exception}"
            except BaseException as exc:  # its own __str__ may raise anything
                warn_once(
                    "record_exception",
                    "llmtrace could not record an exception: %s",
                    type(exc).__name__,
                )
                message = f"{type(exception).__name__}: <str() failed>"
                self._span.add_event(
                    "exception",
                    {"exception.type": type(exception).__qualname__, "exception.message": message},
                )
            if set_error:
                self._span.set_status(Status(StatusCode.ERROR, message))
        except BaseException as exc:  # the user's exception must pass unchanged
            warn_once(
                "record_exception", "llmtrace could not record an exception: %s", type(exc).__name__
            )

    def set_error(self, message: str) -> None:
        """Mark the span as failed with ``message`` (no exception needed)."""
        self._span.set_status(Status(StatusCode.ERROR, message))

    def end(self) -> None:
        """End the span now (idempotent). Context managers and decorators do this for you."""
        if self._ended:
            return
        self._ended = True
        try:
            self._span.end()  # UNSET becomes OK on the export thread
        except Exception as exc:
            warn_once("end", "llmtrace could not end a span: %r", exc)


class NoOpSpan:
    """The handle given when nothing is recorded: same methods as `SpanHandle`, no effect."""

    __slots__ = ()
    trace_id: str | None = None
    span_id: str | None = None
    is_recording = False
    otel_span = otel_trace.INVALID_SPAN

    def set_inputs(self, inputs: Any) -> None:
        """Do nothing."""

    def set_outputs(self, outputs: Any) -> None:
        """Do nothing."""

    def set_attribute(self, key: str, value: Any) -> None:
        """Do nothing."""

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        """Do nothing."""

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        """Do nothing."""

    def record_exception(self, exception: BaseException, *, set_error: bool = True) -> None:
        """Do nothing."""

    def set_error(self, message: str) -> None:
        """Do nothing."""

    def end(self) -> None:
        """Do nothing."""


NOOP_SPAN = NoOpSpan()


def start_span(
    name: str,
    payload: SpanPayload,
    attributes: Mapping[str, Any] | None = None,
) -> SpanHandle | None:
    """Start a span (not made current). None when tracing is off.

    A span sampled out still gets a handle (``is_recording`` False) so that, made current, it
    carries the sampling decision to its children; its payload is never registered.
    """
    tracer = _state.tracer()
    if tracer is None:
        return None
    span = tracer.start_span(name)
    if not span.is_recording():
        return SpanHandle(span, payload)
    register(span.get_span_context().span_id, payload)
    handle = SpanHandle(span, payload)
    if attributes:
        handle.set_attributes(attributes)
    return handle


class span:
    """Trace a block of code as one span (``with`` or ``async with``).

    The block's exception is recorded on the span and passes through unchanged. Nested spans
    and `trace`-decorated calls inside the block become its children.

    Args:
        name: the span's name.
        kind: a `SpanKind` (or its name, e.g. ``"RETRIEVER"``); default ``UNKNOWN``.
        attributes: initial attributes.
        inputs: the span's inputs, if known up front.
        new_trace: start a trace of its own: the span is a root whatever span is current, and
            no `session` in force applies to it (nor to the spans begun inside the block). The
            current span and session come back when the block ends. For work done during a
            request that is not part of it: a background job, an evaluator's call. An active
            MLflow run still links the new trace.

    Example:
        >>> with llmtrace.span("retrieve", kind="RETRIEVER") as s:
        ...     docs = index.search(q)
        ...     s.set_outputs(docs)

        An evaluator's call inside a request, kept out of the request's trace and session:

        >>> with llmtrace.session("conv-42"), llmtrace.span("answer") as request:
        ...     reply = answer(q)
        ...     with llmtrace.span("grade", kind="EVALUATOR", new_trace=True) as g:
        ...         g.set_outputs(grade(q, reply))
        >>> g.trace_id != request.trace_id
        True
    """

    __slots__ = (
        "_handle",
        "_kind",
        "_name",
        "_new_trace",
        "_outer",
        "_token",
        "attributes",
        "inputs",
    )

    def __init__(
        self,
        name: str,
        kind: SpanKind | str | None = None,
        *,
        attributes: Mapping[str, Any] | None = None,
        inputs: Any = None,
        new_trace: bool = False,
    ) -> None:
        if not isinstance(name, str) or not name:
            from .._errors import LLMTraceError

            raise LLMTraceError(f"span name must be a non-empty string, got {name!r}")
        self._name = name
        self._kind = to_kind(kind)
        self.attributes = attributes
        self.inputs = inputs
        self._new_trace = bool(new_trace)
        self._handle: SpanHandle | None = None
        self._token: object | None = None
        # with ``new_trace``: the tokens that restore the caller's OTel context and session
        self._outer: tuple[object, contextvars.Token[SessionInfo | None]] | None = None

    def __enter__(self) -> SpanHandle | NoOpSpan:
        if self._new_trace:
            self._leave_outer()
        try:
            handle = start_span(self._name, SpanPayload(self._kind), self.attributes)
            if handle is None:
                return NOOP_SPAN
            if self.inputs is not None:
                handle.set_inputs(self.inputs)
            self._token = otel_context.attach(otel_trace.set_span_in_context(handle._span))
            self._handle = handle
            return handle if handle.is_recording else NOOP_SPAN
        except Exception as exc:
            warn_once("span-start", "llmtrace could not start span %r: %r", self._name, exc)
            return NOOP_SPAN

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        handle, self._handle = self._handle, None
        try:
            if handle is None:
                return
            try:
                if exc is not None:
                    handle.record_exception(exc)
                handle.end()
            finally:
                token, self._token = self._token, None
                if token is not None:
                    try:
                        otel_context.detach(token)  # type: ignore[arg-type]
                    except Exception as err:
                        logger.debug("context detach failed: %r", err)
        finally:
            self._restore_outer()

    def _leave_outer(self) -> None:
        """For ``new_trace``: an empty OTel context and no session, until `_restore_outer`."""
        try:
            otel_token = otel_context.attach(otel_context.Context())
            self._outer = (otel_token, set_current_session(None))
        except Exception as exc:
            warn_once("span-new-trace", "llmtrace could not start a new trace: %r", exc)

    def _restore_outer(self) -> None:
        outer, self._outer = self._outer, None
        if outer is None:
            return
        otel_token, session_token = outer
        try:
            reset_current_session(session_token)
        except Exception as err:  # e.g. exited in another context than entered
            logger.debug("session reset failed: %r", err)
        try:
            otel_context.detach(otel_token)  # type: ignore[arg-type]
        except Exception as err:
            logger.debug("context detach failed: %r", err)

    async def __aenter__(self) -> SpanHandle | NoOpSpan:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def current_span() -> SpanHandle | NoOpSpan:
    """The llmtrace span of the current context (a no-op handle if there is none).

    Example:
        >>> @llmtrace.trace
        ... def answer(q):
        ...     llmtrace.current_span().set_attribute("route", "faq")
    """
    otel_span = otel_trace.get_current_span()
    payload = lookup(otel_span.get_span_context().span_id)
    if payload is None or not otel_span.is_recording():
        return NOOP_SPAN
    return SpanHandle(otel_span, payload)
