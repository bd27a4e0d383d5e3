"""Plain stand-ins for MLflow's trace entities, built from MLflow's stored rows without MLflow.

They carry the attributes `views._model` reads from `mlflow.entities` (`Trace`, `TraceInfo`,
`Span`, `SpanStatus`, `SpanEvent`, `Feedback`/`Expectation`), with the same values MLflow 3.17
gives when it loads the same rows: span ids as 16 hex digits, attribute values JSON-decoded
(as `Span.get_attribute` does), a status description only on errors, assessment source types
standardized. Anything MLflow would load differently (older span formats, unknown codes)
raises `Unsupported`, so the caller asks MLflow instead.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from ._sqlite_filter import Unsupported

_REQUEST_ID = "mlflow.traceRequestId"
_SPAN_TYPE = "mlflow.spanType"
_INPUTS = "mlflow.spanInputs"
_OUTPUTS = "mlflow.spanOutputs"
_INERT_PREFIXES = ("mlflow.", "llmtrace.")
_INERT_KEYS = frozenset({"session.id", "user.id"})
_STATUS_CODES = {
    "STATUS_CODE_UNSET": "UNSET",
    "STATUS_CODE_OK": "OK",
    "STATUS_CODE_ERROR": "ERROR",
    "UNSET": "UNSET",
    "OK": "OK",
    "ERROR": "ERROR",
}
_SOURCE_TYPES = frozenset({"SOURCE_TYPE_UNSPECIFIED", "LLM_JUDGE", "HUMAN", "CODE"})


def _decode_attribute(value: Any) -> Any:
    """`Span.get_attribute`: a falsy value is None, JSON text is decoded, the rest as is."""
    if not value:
        return None
    try:
        return json.loads(value)
    except Exception:
        return value


def _id_from_base64(text: str) -> int:
    return int.from_bytes(base64.b64decode(text), byteorder="big", signed=False)


def _loaded_type_translation(data: dict[str, Any]) -> None:
    """MLflow's load-time span-type translation, run by MLflow itself when it could apply.

    MLflow gives a span stored without a type (or ``UNKNOWN``) the type its OpenTelemetry
    translators read from foreign attributes; a span with only MLflow's and llmtrace's keys
    has none to read, so MLflow is imported only for the others.
    """
    attributes = data.get("attributes")
    if not isinstance(attributes, dict):
        return
    current = _decode_attribute(attributes.get(_SPAN_TYPE))
    if current not in (None, "UNKNOWN"):
        return
    if all(k.startswith(_INERT_PREFIXES) or k in _INERT_KEYS for k in attributes):
        return
    from mlflow.tracing.otel.translation import translate_loaded_span_with_status

    translate_loaded_span_with_status(data)


@dataclass
class StoredStatus:
    """`mlflow.entities.SpanStatus`: ``status_code`` is ``OK``, ``ERROR`` or ``UNSET``."""

    status_code: str
    description: str = ""


@dataclass
class StoredEvent:
    """`mlflow.entities.SpanEvent`."""

    name: str
    timestamp: int
    attributes: dict[str, Any]


class StoredSpan:
    """A span as `mlflow.entities.Span` shows it, from a ``spans.content`` JSON document."""

    __slots__ = (
        "_cache", "_data", "end_time_ns", "events", "name", "parent_id", "span_id",
        "start_time_ns", "status",
    )  # fmt: skip

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data
        self._cache: dict[str, Any] = {}
        try:
            if "context" in data or not data.get("attributes", {}).get(_REQUEST_ID):
                raise Unsupported("span in an older format")
            base64.b64decode(data["trace_id"], validate=True)
            self.span_id = format(_id_from_base64(data["span_id"]), "016x")
            parent = data["parent_span_id"]
            self.parent_id = format(_id_from_base64(parent), "016x") if parent else None
            self.name: str = data["name"]
            self.start_time_ns = int(data["start_time_unix_nano"])
            end = data.get("end_time_unix_nano")
            self.end_time_ns = int(end) if end else None
            code = _STATUS_CODES[data["status"]["code"]]
            message = data["status"].get("message", "")
            # OpenTelemetry keeps a description only on errors (and only a string)
            keep = code == "ERROR" and isinstance(message, str)
            self.status = StoredStatus(code, (message or "") if keep else "")
            self.events = [
                StoredEvent(e["name"], int(e["time_unix_nano"]), dict(e.get("attributes", {})))
                for e in data.get("events", [])
            ]
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise Unsupported(f"unreadable span: {exc}") from None

    @classmethod
    def from_content(cls, content: str) -> StoredSpan:
        """The span stored as ``content`` (MLflow's `LazySpan.from_stored_content`)."""
        data = json.loads(content)
        _loaded_type_translation(data)
        return cls(data)

    def get_attribute(self, key: str) -> Any:
        """The attribute's value, JSON-decoded (None when absent)."""
        if key not in self._cache:
            self._cache[key] = _decode_attribute(self._data["attributes"].get(key))
        return self._cache[key]

    @property
    def inputs(self) -> Any:
        """The span's inputs (`Span.inputs`)."""
        return self.get_attribute(_INPUTS)

    @property
    def outputs(self) -> Any:
        """The span's outputs (`Span.outputs`)."""
        return self.get_attribute(_OUTPUTS)

    @property
    def attributes(self) -> dict[str, Any]:
        """Every attribute, decoded."""
        return {key: self.get_attribute(key) for key in self._data["attributes"]}

    @property
    def trace_id(self) -> Any:
        """The trace id (``tr-...``), as MLflow reads it from the span's attributes."""
        return self.get_attribute(_REQUEST_ID)

    def to_dict(self) -> dict[str, Any]:
        """The stored span document (after MLflow's load-time translation)."""
        return self._data


@dataclass
class StoredError:
    """`mlflow.entities.AssessmentError`."""

    error_code: str
    error_message: str | None = None
    stack_trace: str | None = None


@dataclass
class StoredValue:
    """The ``feedback``/``expectation`` part of an MLflow assessment."""

    value: Any
    error: StoredError | None = None


@dataclass
class StoredSource:
    """`mlflow.entities.AssessmentSource`."""

    source_type: str
    source_id: str | None = None


@dataclass
class StoredAssessment:
    """An MLflow ``Feedback`` or ``Expectation`` as `SqlAssessments.to_mlflow_entity` builds it."""

    assessment_id: str
    name: str
    trace_id: str
    source: StoredSource
    feedback: StoredValue | None = None
    expectation: StoredValue | None = None
    rationale: str | None = None
    metadata: dict[str, Any] | None = None
    span_id: str | None = None
    create_time_ms: int | None = None
    last_update_time_ms: int | None = None
    overrides: str | None = None
    valid: bool | None = None
    run_id: str | None = None

    @property
    def value(self) -> Any:
        """The feedback's or expectation's value."""
        part = self.feedback or self.expectation
        return None if part is None else part.value

    @property
    def error(self) -> StoredError | None:
        """The feedback's error, if any."""
        return None if self.feedback is None else self.feedback.error

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> StoredAssessment:
        """From an ``assessments`` row (columns in `SqliteReader`'s order)."""
        (
            assessment_id, trace_id, name, kind, value, error, created, updated, source_type,
            source_id, run_id, span_id, rationale, overrides, valid, metadata,
        ) = row  # fmt: skip
        standard = str(source_type).upper()
        if standard == "AI_JUDGE":
            standard = "LLM_JUDGE"
        if standard not in _SOURCE_TYPES or kind not in ("feedback", "expectation"):
            raise Unsupported(f"assessment {assessment_id}: {kind} from {source_type}")
        parsed = json.loads(value)
        common: dict[str, Any] = {
            "assessment_id": assessment_id,
            "name": name,
            "trace_id": trace_id,
            "source": StoredSource(standard, source_id),
            "metadata": None if metadata is None else json.loads(metadata),
            "span_id": span_id,
            "create_time_ms": created,
            "last_update_time_ms": updated,
            "overrides": overrides,
            "valid": None if valid is None else bool(valid),
            "run_id": run_id,
        }
        if kind == "feedback":
            err = None if error is None else StoredError(**json.loads(error))
            return cls(feedback=StoredValue(parsed, err), rationale=rationale, **common)
        return cls(expectation=StoredValue(parsed), **common)


@dataclass
class StoredTraceInfo:
    """`mlflow.entities.TraceInfo` (``state`` is the state's name, e.g. ``OK``)."""

    trace_id: str
    experiment_id: str
    request_time: int
    execution_duration: int | None
    state: str
    tags: dict[str, str] = field(default_factory=dict)
    trace_metadata: dict[str, str] = field(default_factory=dict)
    client_request_id: str | None = None
    request_preview: str | None = None
    response_preview: str | None = None
    assessments: list[StoredAssessment] = field(default_factory=list)

    @property
    def request_metadata(self) -> dict[str, str]:
        """Alias of ``trace_metadata``, as on MLflow's entity."""
        return self.trace_metadata

    @property
    def token_usage(self) -> dict[str, int] | None:
        """The aggregated token usage (`TraceInfo.token_usage`)."""
        if usage := self.trace_metadata.get("mlflow.trace.tokenUsage"):
            return dict(json.loads(usage))
        return None

    @property
    def cost(self) -> dict[str, float] | None:
        """The aggregated cost in USD (`TraceInfo.cost`)."""
        if cost := self.trace_metadata.get("mlflow.trace.cost"):
            return dict(json.loads(cost))
        return None


@dataclass
class StoredData:
    """`mlflow.entities.TraceData`."""

    spans: list[StoredSpan]


class StoredTrace:
    """`mlflow.entities.Trace`: ``info`` and ``data.spans``.

    ``to_json`` is MLflow's own (MLflow is imported and asked for the trace then): the JSON
    export is MLflow's format, byte for byte.
    """

    def __init__(self, info: StoredTraceInfo, spans: list[StoredSpan], tracking_uri: str):
        self.info = info
        self.data = StoredData(spans)
        self._tracking_uri = tracking_uri

    def to_json(self, pretty: bool = False) -> str:
        """The trace as MLflow's JSON (``Trace.to_json``)."""
        from mlflow.tracking import MlflowClient

        trace = MlflowClient(self._tracking_uri).get_trace(self.info.trace_id, display=False)
        return str(trace.to_json(pretty=pretty))
