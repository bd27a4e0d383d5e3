"""What the hot path records on a span, and how the export thread turns it into attributes.

The caller's thread only stores references (plus shallow copies of top-level lists and dicts,
so a list the caller appends to later is stored as it was at call time). Binding arguments,
serialization, masking and truncation happen in `enrich`, on the export thread.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Status, StatusCode

from .. import _semconv as sc
from .._config import Config
from ._binding import CallShape
from ._conventions import mirror, read_foreign, read_foreign_events
from ._kinds import SpanKind
from ._serialize import (
    REDACTED,
    Notes,
    clean_text,
    dump_json,
    has_content,
    is_opaque,
    is_secret_key,
    short_hash,
)

_MISSING: Any = object()
_OK = Status(StatusCode.OK)


class _Excluded:
    """Stands in for an argument ``@trace(exclude_inputs=...)`` leaves out (never stored)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<excluded>"


EXCLUDED = _Excluded()


COPIED = frozenset({list, dict, set})
"""Types `snapshot` copies (the hot path inlines the test: ``v.copy() if type(v) in COPIED``)."""


def snapshot(value: Any) -> Any:
    """Shallow copy of a top-level list/dict/set so later mutation by the caller is not stored."""
    return value.copy() if type(value) in COPIED else value


#: Payloads of live llmtrace spans by OTel span id; the export thread takes them out. (The SDK
#: hands processors a copy of the span, so nothing can ride on the span object itself.)
_live: dict[int, SpanPayload] = {}


def register(span_id: int, payload: SpanPayload) -> None:
    """Remember ``payload`` for the span with this id until it is exported."""
    _live[span_id] = payload


lookup: Callable[[int], SpanPayload | None] = _live.get
"""The payload of a live span, if it is an llmtrace span (the registry's own ``get``: no
Python frame on the caller's thread)."""


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
        "shape",
        "skip_first",
    )

    def __init__(
        self,
        kind: SpanKind,
        *,
        func_name: str | None = None,
        shape: CallShape | None = None,
        args: tuple[tuple[Any, ...], dict[str, Any]] | None = None,
        skip_first: bool = False,
        capture_inputs: bool = True,
        capture_outputs: bool = True,
    ) -> None:
        self.kind = kind
        self.func_name = func_name
        self.shape = shape
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
    shape = payload.shape
    if shape is None or shape.sig is None:
        return {"args": list(args), "kwargs": kwargs}
    arguments = shape.bind(args, kwargs)
    if payload.skip_first and arguments:
        arguments.pop(next(iter(arguments)))
    if shape.var_keyword is not None and shape.var_keyword in arguments:
        arguments.update(arguments.pop(shape.var_keyword))
    kept = {k: v for k, v in arguments.items() if v is not EXCLUDED}
    # objects with no readable form (an SDK client) after the values one wants to read
    plain = {k: v for k, v in kept.items() if not is_opaque(v)}
    return {**plain, **{k: v for k, v in kept.items() if k not in plain}}


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

    Every string the copy holds (name, attribute names and values, events, status) is repaired,
    cut to ``config.max_attribute_chars`` and masked; spans of other instrumentations too.
    Never raises for bad user data: a value that cannot be serialized is replaced by a
    placeholder and flagged with ``llmtrace.serialization_error``.
    """
    failed = False
    payload = _live.pop(span.context.span_id, None) if span.context is not None else None
    try:
        secrets = _secret_arguments(payload) if payload is not None else []
    except BaseException:  # a user Mapping argument whose items() raises
        secrets = []
    clean = _Cleaner(config.max_attribute_chars, secrets)
    attrs: dict[str, Any] = {}
    for key, value in (span.attributes or {}).items():
        name = clean.name(key)
        attrs[name] = clean.attribute(key, value, name)

    def put(key: str, value: Any) -> None:
        nonlocal failed
        name = clean.name(key)
        if is_secret_key(key) and has_content(value):
            attrs[name] = _REDACTED_JSON
            return
        notes = Notes()
        try:
            text, cut = dump_json(value, clean.limit, config.redact, secrets=secrets, notes=notes)
        except BaseException as exc:  # user code that got past the walker's guards
            notes.failed(exc)
            text, cut = json.dumps(f"<not serializable: {type(exc).__name__}>"), False
        if notes.error is not None:  # a placeholder stands for what could not be converted
            attrs[sc.LLMTRACE_SERIALIZATION_ERROR] = f"{name}: {notes.error}"
            failed = True
        attrs[name] = text
        clean.note(name, notes, cut)

    documents: Any = None  # a retriever's output as MLflow documents, for `mirror`
    if payload is not None:
        attrs[sc.MLFLOW_SPAN_TYPE] = payload.kind.value
        if payload.func_name is not None:
            attrs.setdefault(sc.MLFLOW_FUNCTION_NAME, clean.name(payload.func_name))
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
                try:
                    outputs = documents = as_documents(outputs)
                except BaseException:  # a hostile document object: stored as it is
                    outputs = payload.outputs
            put(sc.MLFLOW_SPAN_OUTPUTS, outputs)
        for key, value in (payload.extra or {}).items():
            put(key, value)
        _add_conventions(attrs, payload.kind.value, documents)
    else:
        _read_foreign(attrs)  # another instrumentation's span: MLflow's keys from its own
        attrs.setdefault(sc.MLFLOW_SPAN_TYPE, SpanKind.UNKNOWN.value)
    name = clean.name(span.name, "span.name")
    if span.parent is None:
        attrs.setdefault(sc.MLFLOW_TRACE_TAG_PREFIX + "mlflow.traceName", name)
    events = [clean.event(event) for event in span.events]
    if payload is None and events:
        try:
            read_foreign_events(attrs, events)
        except Exception as exc:
            attrs[sc.LLMTRACE_SERIALIZATION_ERROR] = f"foreign events: {type(exc).__name__}"
    status = span.status
    if payload is not None and status.status_code is StatusCode.UNSET:
        status = _OK
    elif status.description:
        status = Status(status.status_code, clean.text(status.description, "status"))
    if clean.truncated:
        attrs[sc.LLMTRACE_TRUNCATED] = ",".join(dict.fromkeys(clean.truncated))
    if clean.repaired:
        attrs[sc.LLMTRACE_REPAIRED_TEXT] = ",".join(dict.fromkeys(clean.repaired))
    copy = ReadableSpan(
        name=name,
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
    if args and payload.shape is not None and payload.shape.sig is not None:
        try:
            named.update(payload.shape.bind(args, {}))
        except TypeError:
            pass
    found = set()
    for key, value in named.items():
        values = value.items() if isinstance(value, Mapping) else [(key, value)]
        for inner_key, inner in values:
            if isinstance(inner, str) and len(inner) >= 6 and is_secret_key(str(inner_key)):
                found.add(inner)
    return sorted(found, key=len, reverse=True)


class _Cleaner:
    """The strings of one span, repaired, cut and masked; remembers where it cut or repaired."""

    __slots__ = ("limit", "repaired", "secrets", "truncated")

    def __init__(self, limit: int, secrets: list[str]) -> None:
        self.limit = limit
        self.secrets = secrets
        self.truncated: list[str] = []
        self.repaired: list[str] = []

    def note(self, place: str, notes: Notes, cut: bool = False) -> None:
        """Remember that the value at ``place`` was cut or repaired."""
        if cut or notes.truncated:
            self.truncated.append(place)
        if notes.repaired:
            self.repaired.append(place)

    def text(self, value: str, place: str, cap: int | None = None, hashed: bool = False) -> str:
        limit = self.limit if cap is None else min(cap, self.limit)
        notes = Notes()
        out = clean_text(value, limit, secrets=self.secrets, hashed=hashed, notes=notes)
        self.note(place, notes)
        return out

    def name(self, value: str, label: str | None = None) -> str:
        """A span, event or attribute name (masked with a hash, so two names stay two).

        Where it was cut or repaired is remembered as ``label``, or as the cleaned name.
        """
        out, cut, fixed = _clean_name(value, self.limit)
        if cut:
            self.truncated.append(label or out[:_MAX_LABEL_CHARS])
        if fixed:
            self.repaired.append(label or out[:_MAX_LABEL_CHARS])
        return out

    def attribute(self, key: str, value: Any, place: str) -> Any:
        """An attribute's value; ``key`` is its raw name, ``place`` its cleaned one."""
        if isinstance(value, str):
            if not value:
                return value
            if is_secret_key(key):
                return REDACTED
            if key in _ID_KEYS:
                return self.ident(value, place)
            cap = _MAX_TAG_VALUE_CHARS if key.startswith(sc.MLFLOW_TRACE_TAG_PREFIX) else None
            return self.text(value, place, cap)
        if isinstance(value, (bool, int, float)) or value is None:
            return value
        if isinstance(value, (tuple, list)):
            if is_secret_key(key):
                return tuple(REDACTED if isinstance(v, str) and v else v for v in value)
            return tuple(self.text(v, place) if isinstance(v, str) else v for v in value)
        notes = Notes()  # not an OTel attribute type: stored as JSON
        text, _ = dump_json(value, self.limit, secrets=self.secrets, notes=notes)
        self.note(place, notes)
        return text

    def ident(self, value: str, place: str) -> str:
        """A session or user id: masked with a hash and at most MLflow's 250 characters."""
        out = self.text(value, place, cap=_MAX_ID_CHARS * 4, hashed=True)
        if len(out) > _MAX_ID_CHARS:  # cut, with a hash of the whole id: two ids stay two
            out = out[: _MAX_ID_CHARS - 9] + "~" + short_hash(value)
            self.truncated.append(place)
        return out

    def event(self, event: Event) -> Event:
        name = self.name(event.name)
        label = name[:_MAX_LABEL_CHARS]
        cleaned = {}
        for key, value in (event.attributes or {}).items():
            clean_key = self.name(key)
            cleaned[clean_key] = self.attribute(
                key, value, f"{label}.{clean_key[:_MAX_LABEL_CHARS]}"
            )
        return Event(name, cleaned, event.timestamp)


#: Attributes holding MLflow trace metadata ids (session, user): at most 250 characters there.
_ID_KEYS = frozenset({sc.SESSION_ID, sc.USER_ID, sc.MLFLOW_TRACE_SESSION, sc.MLFLOW_TRACE_USER})
_MAX_ID_CHARS = 250
_MAX_NAME_CHARS = 1000  # span, event and attribute names (MLflow: trace names up to 4,096)
_MAX_TAG_KEY_CHARS = 250  # MLflow's trace tag keys ...
_MAX_TAG_VALUE_CHARS = 4000  # ... and values (4,096 with the truncation marker)
_MAX_LABEL_CHARS = 64  # a name as listed in llmtrace.truncated / llmtrace.repaired_text
#: Set when a string held invalid text (lone surrogates), repaired to U+FFFD.
_REDACTED_JSON = json.dumps(REDACTED)


@functools.lru_cache(maxsize=8192)  # names repeat on every span
def _clean_name(value: str, limit: int) -> tuple[str, bool, bool]:
    """(cleaned name, whether it was cut, whether it was repaired)."""
    cap = _MAX_NAME_CHARS
    if value.startswith(sc.MLFLOW_TRACE_TAG_PREFIX):
        cap = len(sc.MLFLOW_TRACE_TAG_PREFIX) + _MAX_TAG_KEY_CHARS
    notes = Notes()
    out = clean_text(value, min(cap, limit), hashed=True, notes=notes)
    return out, notes.truncated, notes.repaired


def _add_conventions(attrs: dict[str, Any], kind: str, documents: Any) -> None:
    """OpenInference copies of an llmtrace span's meaning, for every other backend.

    A retriever's documents are read back from the stored (masked, cut) outputs text, never
    from the raw objects, so the copies hold no more than the store does.
    """
    try:
        if documents is not None:
            stored = attrs.get(sc.MLFLOW_SPAN_OUTPUTS)
            documents = json.loads(stored) if isinstance(stored, str) else None
        mirror(attrs, kind, documents if isinstance(documents, list) else None)
    except Exception as exc:  # never a reason to lose the span
        attrs[sc.LLMTRACE_SERIALIZATION_ERROR] = f"conventions: {type(exc).__name__}"


def _read_foreign(attrs: dict[str, Any]) -> None:
    try:
        read_foreign(attrs)
    except Exception as exc:
        attrs[sc.LLMTRACE_SERIALIZATION_ERROR] = f"foreign conventions: {type(exc).__name__}"
