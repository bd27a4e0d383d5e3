"""What the hot path records on a span, and how the export thread turns it into attributes.

The caller's thread only stores references (plus shallow copies of top-level lists and dicts,
so a list the caller appends to later is stored as it was at call time). Binding arguments,
serialization, masking and truncation happen in `enrich`, on the export thread.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Status, StatusCode

from .. import _semconv as sc
from .._config import Config
from ._kinds import SpanKind
from ._serialize import REDACTED, dump_json, is_secret_key, mask_text, to_jsonable

_MISSING: Any = object()
_OK = Status(StatusCode.OK)


def snapshot(value: Any) -> Any:
    """Shallow copy of a top-level list/dict/set so later mutation by the caller is not stored."""
    cls = type(value)
    if cls is list or cls is dict or cls is set:
        return value.copy()
    return value


#: Payloads of live llmtrace spans by OTel span id; the export thread takes them out. (The SDK
#: hands processors a copy of the span, so nothing can ride on the span object itself.)
_live: dict[int, SpanPayload] = {}


def register(span_id: int, payload: SpanPayload) -> None:
    """Remember ``payload`` for the span with this id until it is exported."""
    _live[span_id] = payload


def lookup(span_id: int) -> SpanPayload | None:
    """The payload of a live span, if it is an llmtrace span."""
    return _live.get(span_id)


def discard(span_id: int) -> None:
    """Forget the payload of a span that will not be exported (dropped)."""
    _live.pop(span_id, None)


class SpanPayload:
    """Python-side data of one span, kept in the registry above until export."""

    __slots__ = (
        "args",
        "capture_inputs",
        "capture_outputs",
        "extra",
        "func_name",
        "inputs",
        "kind",
        "outputs",
        "sig",
        "skip_first",
    )

    def __init__(
        self,
        kind: SpanKind,
        *,
        func_name: str | None = None,
        sig: inspect.Signature | None = None,
        args: tuple[tuple[Any, ...], dict[str, Any]] | None = None,
        skip_first: bool = False,
        capture_inputs: bool = True,
        capture_outputs: bool = True,
    ) -> None:
        self.kind = kind
        self.func_name = func_name
        self.sig = sig
        self.args = args
        self.skip_first = skip_first
        self.capture_inputs = capture_inputs
        self.capture_outputs = capture_outputs
        self.inputs: Any = _MISSING
        self.outputs: Any = _MISSING
        self.extra: dict[str, Any] | None = None


def _bound_inputs(payload: SpanPayload) -> Any:
    assert payload.args is not None
    args, kwargs = payload.args
    sig = payload.sig
    if sig is None:
        return {"args": list(args), "kwargs": kwargs}
    bound = sig.bind_partial(*args, **kwargs)
    arguments = dict(bound.arguments)
    if payload.skip_first and arguments:
        arguments.pop(next(iter(arguments)))
    for name, param in sig.parameters.items():
        if param.kind is inspect.Parameter.VAR_KEYWORD and name in arguments:
            arguments.update(arguments.pop(name))
    return arguments


def as_documents(value: Any) -> Any:
    """Shape RETRIEVER outputs as MLflow documents: ``{page_content, metadata, id}``.

    Accepts strings, dicts with ``page_content``/``content``/``text`` (and ``score``,
    ``metadata``, ``id``), objects with those attributes, or a sequence of any of these.
    Anything else is returned unchanged.
    """
    if not isinstance(value, (list, tuple)):
        return value
    docs = []
    for item in value:
        if isinstance(item, str):
            docs.append({"page_content": item, "metadata": {}, "id": None})
            continue
        data = item if isinstance(item, Mapping) else getattr(item, "__dict__", None)
        if not isinstance(data, Mapping):
            return value
        content = _MISSING
        for key in ("page_content", "content", "text"):
            if key in data:
                content = data[key]
                break
        if content is _MISSING:
            return value
        metadata = dict(data.get("metadata") or {})
        if data.get("score") is not None:
            metadata["score"] = data["score"]
        doc_id = data.get("id", data.get("doc_id"))
        docs.append(
            {
                "page_content": content,
                "metadata": metadata,
                "id": None if doc_id is None else str(doc_id),
            }
        )
    return docs


def enrich(span: ReadableSpan, config: Config) -> tuple[ReadableSpan, bool]:
    """Return (a copy of ``span`` with llmtrace's attributes added, whether anything failed).

    Never raises for bad user data: a value that cannot be serialized is replaced by a
    placeholder and flagged with ``llmtrace.serialization_error``.
    """
    failed = False
    attrs: dict[str, Any] = {}
    for key, value in (span.attributes or {}).items():
        attrs[key] = mask_text(value) if isinstance(value, str) else value
    payload = _live.pop(span.context.span_id, None) if span.context is not None else None
    limit = config.max_attribute_chars
    truncated: list[str] = []

    def put(key: str, value: Any) -> None:
        nonlocal failed
        try:
            text, cut = dump_json(value, limit, config.redact)
        except Exception as exc:  # e.g. a float('inf') key or a broken __str__
            text, cut = json.dumps(f"<not serializable: {type(exc).__name__}>"), False
            attrs[sc.LLMTRACE_SERIALIZATION_ERROR] = f"{key}: {type(exc).__name__}: {exc}"
            failed = True
        attrs[key] = text
        if cut:
            truncated.append(key)

    if payload is not None:
        attrs[sc.MLFLOW_SPAN_TYPE] = payload.kind.value
        if payload.func_name is not None:
            attrs.setdefault(sc.MLFLOW_FUNCTION_NAME, payload.func_name)
        if payload.capture_inputs and config.capture_content:
            inputs = payload.inputs
            if inputs is _MISSING and payload.args is not None:
                try:
                    inputs = _bound_inputs(payload)
                except Exception as exc:
                    inputs = f"<inputs not recorded: {type(exc).__name__}>"
                    failed = True
            if inputs is not _MISSING:
                put(sc.MLFLOW_SPAN_INPUTS, inputs)
        if payload.capture_outputs and config.capture_content and payload.outputs is not _MISSING:
            outputs = payload.outputs
            if payload.kind is SpanKind.RETRIEVER:
                outputs = as_documents(outputs)
            put(sc.MLFLOW_SPAN_OUTPUTS, outputs)
        for key, value in (payload.extra or {}).items():
            put(key, value)
    else:
        attrs.setdefault(sc.MLFLOW_SPAN_TYPE, SpanKind.UNKNOWN.value)
    if span.parent is None:
        attrs.setdefault(sc.MLFLOW_TRACE_TAG_PREFIX + "mlflow.traceName", span.name)
    if truncated:
        attrs[sc.LLMTRACE_TRUNCATED] = ",".join(truncated)

    secrets = _secret_arguments(payload) if payload is not None else []
    if secrets:  # the value of an `api_key=` argument, echoed in an error message
        for key, value in attrs.items():
            if isinstance(value, str):
                attrs[key] = _scrub(value, secrets)
    events = [_clean_event(event, secrets) for event in span.events]
    status = span.status
    if payload is not None and status.status_code is StatusCode.UNSET:
        status = _OK
    elif status.description:
        status = Status(status.status_code, _scrub(mask_text(status.description), secrets))
    copy = ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attrs,
        events=events,
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
    return copy, failed


def _secret_arguments(payload: SpanPayload) -> list[str]:
    """String values the call passed under secret-looking names (``api_key=...``), longest first.

    Masked by value everywhere in the span, so one echoed in an exception message is caught
    even when it matches no known key pattern.
    """
    if payload.args is None:
        return []
    args, kwargs = payload.args
    named: dict[str, Any] = dict(kwargs)
    if args and payload.sig is not None:
        try:
            named.update(payload.sig.bind_partial(*args).arguments)
        except TypeError:
            pass
    found = set()
    for key, value in named.items():
        values = value.items() if isinstance(value, Mapping) else [(key, value)]
        for inner_key, inner in values:
            if isinstance(inner, str) and len(inner) >= 6 and is_secret_key(str(inner_key)):
                found.add(inner)
    return sorted(found, key=len, reverse=True)


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _clean_event(event: Event, secrets: list[str] | None = None) -> Event:
    attrs = event.attributes or {}
    if not any(isinstance(v, str) for v in attrs.values()):
        return event
    cleaned = {}
    for key, value in attrs.items():
        if isinstance(value, str):
            cleaned[key] = _scrub(mask_text(value), secrets or [])
        elif isinstance(value, (bool, int, float, tuple, list)) or value is None:
            cleaned[key] = value
        else:
            cleaned[key] = json.dumps(to_jsonable(value))
    return Event(event.name, cleaned, event.timestamp)
