"""Feedback and expectations on traces, stored as MLflow assessments (the MLflow UI shows them).

``log_feedback`` says how good a trace was (a person's thumbs-up, a code check, a judge's
score); ``log_expectation`` says what it should have produced (ground truth for datasets).
Values are a bool, a finite number or a text (a category is a text); an expectation may also be
a list or dict of those. Everything is checked before anything is written: a bad record, an
unknown trace or span is one `AssessmentError` / `TraceNotFoundError` line and nothing is
stored. The ``_many`` forms write many assessments at once: in one transaction on a SQLite
store of a checked MLflow release (`_assessment_sql`), else one MLflow call per assessment.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from .. import _runtime
from .._errors import AssessmentError, TraceNotFoundError
from . import _assessment_sql

Source = Literal["human", "code", "llm_judge"]
SOURCES: dict[str, str] = {"human": "HUMAN", "code": "CODE", "llm_judge": "LLM_JUDGE"}
"""llmtrace's source names and MLflow's `AssessmentSourceType` values."""

_MAX_NAME = 250  # MLflow's assessments.name and source_id columns: String(250)
_FIELDS = frozenset({"trace_id", "name", "value", "rationale", "source", "source_id", "span_id"})


@dataclass(frozen=True)
class _Record:
    kind: str  # "feedback" | "expectation"
    trace_id: str
    name: str
    value: Any
    rationale: str | None
    source: str
    source_id: str | None
    span_id: str | None

    def entity(self) -> Any:
        from mlflow.entities import AssessmentSource, Expectation, Feedback

        source = AssessmentSource(
            source_type=SOURCES[self.source],
            source_id=self.source_id if self.source_id is not None else "default",
        )
        if self.kind == "feedback":
            made: Any = Feedback(
                name=self.name,
                value=self.value,
                rationale=self.rationale,
                source=source,
                span_id=self.span_id,
            )
        else:
            made = Expectation(
                name=self.name, value=self.value, source=source, span_id=self.span_id
            )
        made.trace_id = self.trace_id
        return made


def _fail(where: str, message: str) -> AssessmentError:
    return AssessmentError(f"{where}: {message}")


def _scalar_ok(value: Any) -> bool:
    if isinstance(value, bool | str):
        return True
    if isinstance(value, int | float):
        return math.isfinite(value)
    return False


def _check_value(kind: str, value: Any, where: str) -> Any:
    if _scalar_ok(value):
        return value
    if isinstance(value, float):
        raise _fail(where, f"value {value!r} is not a finite number; give a number, bool or text")
    if kind == "expectation" and isinstance(value, list | tuple | Mapping):
        try:
            text = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise _fail(
                where, f"expectation value is not JSON of finite numbers, bools and texts: {exc}"
            ) from None
        return json.loads(text)
    allowed = (
        "a bool, a finite number or a text"
        if kind == "feedback"
        else "a bool, a finite number, a text, or a list/dict of those"
    )
    kind_of = type(value).__name__
    raise _fail(where, f"{kind} value of type {kind_of} cannot be stored; give {allowed}")


def _check_text(value: Any, what: str, where: str, *, optional: bool) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, f"{what} must be a non-empty text, got {value!r}")
    if what != "rationale" and len(value) > _MAX_NAME:
        raise _fail(where, f"{what} is {len(value)} characters; MLflow keeps at most {_MAX_NAME}")
    return value


def record(kind: str, where: str, fields: Mapping[str, Any]) -> _Record:
    unknown = set(fields) - _FIELDS
    if kind == "expectation" and fields.get("rationale") is not None:
        unknown.add("rationale")
    if unknown:
        raise _fail(where, f"unknown field(s) {sorted(unknown)}; use {sorted(_FIELDS)}")
    for required in ("trace_id", "name", "value"):
        if required not in fields:
            raise _fail(where, f"{required!r} is missing")
    trace_id = _check_text(fields["trace_id"], "trace_id", where, optional=False)
    source = fields.get("source", "human")
    if not isinstance(source, str) or source.lower() not in SOURCES:
        raise _fail(where, f"source {source!r} is not one of {', '.join(map(repr, SOURCES))}")
    return _Record(
        kind=kind,
        trace_id=str(trace_id),
        name=str(_check_text(fields["name"], "name", where, optional=False)),
        value=_check_value(kind, fields["value"], where),
        rationale=_check_text(fields.get("rationale"), "rationale", where, optional=True),
        source=source.lower(),
        source_id=_check_text(fields.get("source_id"), "source_id", where, optional=True),
        span_id=_check_text(fields.get("span_id"), "span_id", where, optional=True),
    )


def _not_found(trace_id: str, uri: str) -> TraceNotFoundError:
    return TraceNotFoundError(
        f"no trace {trace_id!r} in {uri}; "
        "list ids with `llmtrace traces list` or llmtrace.search_traces()"
    )


def _no_span(trace_id: str, span_id: str) -> TraceNotFoundError:
    return TraceNotFoundError(
        f"trace {trace_id!r} has no span {span_id!r}; see its spans with `llmtrace traces show`"
    )


def _write_one_by_one(uri: str, records: list[_Record]) -> list[Any]:
    """Any store: check every trace (and span) first, then one MLflow call per assessment."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracing.client import TracingClient

    client = TracingClient(uri)
    spans_of: dict[str, set[str] | None] = {}
    for item in records:
        wants_spans = item.span_id is not None
        known = spans_of.get(item.trace_id, ...)
        if known is ... or (wants_spans and known is None):
            try:
                if wants_spans:
                    trace = client.get_trace(item.trace_id)
                    spans_of[item.trace_id] = {s.span_id for s in trace.data.spans}
                else:
                    client.get_trace_info(item.trace_id)
                    spans_of[item.trace_id] = None
            except MlflowException as exc:
                if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                    raise _not_found(item.trace_id, uri) from None
                raise
        found = spans_of[item.trace_id]
        if item.span_id is not None and found is not None and item.span_id not in found:
            raise _no_span(item.trace_id, item.span_id)
    workers = 8 if uri.startswith(("http://", "https://")) and len(records) > 1 else 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda r: client.log_assessment(r.trace_id, r.entity()), records))


def write(records: list[_Record], tracking_uri: str | None = None) -> list[Any]:
    """Store checked records in ``tracking_uri`` (default: the configured store, flushed first)."""
    if tracking_uri is None:
        _runtime.flush()  # a trace made a moment ago is in the store before we look for it
    uri = tracking_uri or _runtime.current_config().tracking_uri
    store = _assessment_sql.store_for(uri)
    if store is not None and _assessment_sql.supported(store):
        written, missing = _assessment_sql.write(store, [r.entity() for r in records])
        if missing is not None:
            trace_id, span_id = missing
            raise _no_span(trace_id, span_id) if span_id else _not_found(trace_id, uri)
        return written
    return _write_one_by_one(uri, records)


def log_feedback(
    trace_id: str,
    name: str,
    value: bool | int | float | str,
    *,
    rationale: str | None = None,
    source: Source = "human",
    source_id: str | None = None,
    span_id: str | None = None,
) -> Any:
    """Attach feedback (how good the trace was) to a stored trace; return MLflow's `Feedback`.

    Args:
        trace_id: the trace (``tr-...``), e.g. ``handle.trace_id`` or from ``traces list``.
        name: what is judged, e.g. ``"helpful"`` or ``"correctness"``.
        value: a bool (thumbs up/down), a finite number (a rating) or a text (a category).
        rationale: why, in words.
        source: ``"human"``, ``"code"`` or ``"llm_judge"``.
        source_id: who or what gave it (an e-mail, a script, a model); MLflow's ``"default"``
            when not given.
        span_id: the span it is about, when not the whole trace.

    Raises:
        AssessmentError: empty name, unknown source, a value that is not bool/number/text.
        TraceNotFoundError: no such trace (or span) in the store.

    Example:
        >>> llmtrace.log_feedback(trace_id, "helpful", False, rationale="wrong city")
    """
    fields = {"trace_id": trace_id, "name": name, "value": value, "rationale": rationale}
    fields |= {"source": source, "source_id": source_id, "span_id": span_id}
    return write([record("feedback", "log_feedback", fields)])[0]


def log_expectation(
    trace_id: str,
    name: str,
    value: Any,
    *,
    source: Source = "human",
    source_id: str | None = None,
    span_id: str | None = None,
) -> Any:
    """Attach an expectation (what the trace should have produced); return MLflow's `Expectation`.

    Expectations become the ``expectations`` of datasets built with
    ``evals.datasets.from_traces``; ``expected_response`` is the expected answer.

    Args:
        trace_id: the trace (``tr-...``).
        name: e.g. ``"expected_response"`` or ``"expected_facts"``.
        value: a bool, a finite number, a text, or a list/dict of those.
        source, source_id, span_id: as for `log_feedback`.

    Example:
        >>> llmtrace.log_expectation(trace_id, "expected_response", "Paris")
    """
    fields = {"trace_id": trace_id, "name": name, "value": value}
    fields |= {"source": source, "source_id": source_id, "span_id": span_id}
    return write([record("expectation", "log_expectation", fields)])[0]


def _many(kind: str, records: Iterable[Mapping[str, Any]]) -> list[Any]:
    checked = []
    for i, fields in enumerate(records):
        where = f"log_{kind}_many: record {i}"
        if not isinstance(fields, Mapping):
            raise _fail(where, f"is a {type(fields).__name__}; give a dict of {sorted(_FIELDS)}")
        checked.append(record(kind, where, fields))
    return write(checked) if checked else []


def log_feedback_many(records: Iterable[Mapping[str, Any]]) -> list[Any]:
    """Attach many feedbacks at once (one transaction on SQLite); all are stored or none.

    Each record is a dict of `log_feedback`'s arguments: ``trace_id``, ``name``, ``value``, and
    optionally ``rationale``, ``source``, ``source_id``, ``span_id``.

    Example:
        >>> llmtrace.log_feedback_many(
        ...     [{"trace_id": t, "name": "helpful", "value": True} for t in trace_ids]
        ... )
    """
    return _many("feedback", records)


def log_expectation_many(records: Iterable[Mapping[str, Any]]) -> list[Any]:
    """Attach many expectations at once; all are stored or none (see `log_feedback_many`).

    Example:
        >>> llmtrace.log_expectation_many(
        ...     [{"trace_id": t, "name": "expected_response", "value": "Paris"}]
        ... )
    """
    return _many("expectation", records)
