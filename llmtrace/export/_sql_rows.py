"""The rows MLflow's SQL store writes for whole new traces, computed from the export wire.

`SqlAlchemyStore.log_spans` (MLflow 3.17) turns each span into `mlflow.entities.Span`, translates
its attributes (`_translate`), dumps it to JSON and derives the trace's row (status, times,
previews, session, token and cost totals), tags and metadata. `trace_rows` computes the same
rows straight from `_wire.encode_spans` tuples: no OpenTelemetry or MLflow objects, and no
MLflow import. A trace it cannot vouch for (a span `_translate.covered` does not cover, links,
tag keys or values MLflow would reject or truncate, a preview it does not know) raises
`Uncovered` and goes to the caller's `log_spans` path instead. `tests/export/test_sql_rows.py`
compares every stored row with what `log_spans` writes.
"""

from __future__ import annotations

import binascii
import json
import math
import posixpath
import re
from collections import defaultdict
from decimal import Decimal, InvalidOperation
from json.encoder import encode_basestring_ascii as _encode_str  # what json.dumps uses for str
from typing import Any

from .. import _semconv as sc
from .._ids import mlflow_trace_id
from . import _translate as tr

_STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}
_TAG_PREFIX = "mlflow.traceTag."
_TRACE_NAME = "mlflow.traceName"
_TOKEN_COLUMNS = {
    "input_tokens": "input_tokens", "output_tokens": "output_tokens",
    "total_tokens": "total_tokens", "cache_read_input_tokens": "cache_read_input_tokens",
    "cache_creation_input_tokens": "cache_creation_input_tokens",
    "cache_creation_input_tokens_above_1hr": "cache_creation_input_tokens_above_1hr",
}  # fmt: skip
_CACHE_KEYS = (
    "cache_read_input_tokens", "cache_creation_input_tokens",
    "cache_creation_input_tokens_above_1hr",
)  # fmt: skip
_COST_KEYS = ("input_cost", "output_cost", "total_cost")
_TAG_NAME = re.compile(r"^[/\w.\- :]*$")
_PREVIEW_MAX = 1000  # MLflow's preview length outside Databricks
_BIGINT = 2**63
_LINKED = frozenset({sc.LLMTRACE_RUN_ID, sc.MLFLOW_LINKED_PROMPTS})
_OPENERS = ("{", "[")  # JSON text that may hold containers (or raise RecursionError)
_ENCODER = json.JSONEncoder(ensure_ascii=False)  # json.dumps(..., ensure_ascii=False), reused


class Uncovered(Exception):
    """This trace is left to MLflow's own `log_spans` (it is outside what was checked)."""


_PLAIN_ROOTS: set[str] = set()
_TAG_KEYS: dict[str, bool] = {}  # tag key -> valid for MLflow, memoized
_MIRROR: dict[str, bool] = {}  # key -> sc.is_mirror_key(key), memoized (keys repeat)


def _dumps(value: Any) -> str:
    """``json.dumps(value)``, without its call overhead for the common scalar types."""
    kind = type(value)
    if kind is str:
        return _encode_str(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    return json.dumps(list(value) if kind is tuple else value)


def mlflow_attributes(source: Any, trace_id: int) -> dict[str, str]:
    """The attributes of the MLflow span `to_mlflow_span` makes: JSON text values."""
    attrs: dict[str, str] = {}
    mirrored = bool(source.get(sc.LLMTRACE_MIRRORED))  # OpenInference copies: not stored twice
    for key, value in source.items():
        if mirrored:
            skip = _MIRROR.get(key)
            if skip is None:
                skip = _MIRROR[key] = sc.is_mirror_key(key)
            if skip:
                continue
        if key in sc.JSON_VALUED and isinstance(value, str):
            attrs[key] = value
        else:
            attrs[key] = _dumps(value)
    attrs[sc.MLFLOW_TRACE_REQUEST_ID] = _encode_str(mlflow_trace_id(trace_id))
    return attrs


def _loads_or_same(value: Any) -> Any:
    if isinstance(value, str) and (text := tr.json_string(value)) is not None:
        return text
    try:
        return json.loads(value)
    except Exception:
        return value


def parse_json_string(value: Any) -> Any:
    """MLflow's `_parse_json_string`: the string a JSON text holds, else ``value``."""
    if value is None:
        return None  # json.loads raises TypeError
    if isinstance(value, str) and (text := tr.json_string(value)) is not None:
        return text
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return value
    return parsed if isinstance(parsed, str) else value


def _node_data(attributes: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = attributes.get(key)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (json.JSONDecodeError, TypeError):
            pass
    return value if isinstance(value, dict) else None


def _aggregate(
    nodes: list[tuple[str, str | None, dict[str, Any] | None]],
    keys: tuple[str, ...],
    default: float,
    optional: tuple[str, ...] = (),
) -> dict[str, Any] | None:
    """MLflow's `_aggregate_from_nodes`: a span's data counts unless an ancestor has some."""
    if all(node[2] is None for node in nodes):
        return None  # no span has data (the common case: spans without usage or cost)
    totals: dict[str, Any] = dict.fromkeys(keys, default)
    has_data = False
    ids = {span_id for span_id, _, _ in nodes}
    children: defaultdict[str, list[Any]] = defaultdict(list)
    stack: list[tuple[Any, bool]] = []
    for node in nodes:
        if node[1] and node[1] in ids:
            children[node[1]].append(node)
        else:
            stack.append((node, False))
    while stack:
        (span_id, _, data), above = stack.pop()
        if data is not None and not above:
            for k in keys:
                totals[k] += data.get(k, default)
            for k in optional:
                if k in data:
                    totals[k] = totals.get(k, default) + data[k]
            has_data = True
        stack.extend((child, above or data is not None) for child in children.get(span_id, []))
    return totals if has_data else None


def _finite_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        value = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def _token_count(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        value = Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        return None
    if not value.is_finite() or value != value.to_integral_value():
        return None
    if not -_BIGINT <= value <= _BIGINT - 1:
        return None
    return int(value)


def _bounded(value: Any) -> str | None:
    return value[:500] if isinstance(value, str) else None


def _tag(key: str, value: str) -> tuple[str, str] | None:
    """MLflow's `_validate_trace_tag`: None where it raises (MLflow skips the tag)."""
    valid = _TAG_KEYS.get(key)
    if valid is None:
        norm = posixpath.normpath(key)
        valid = bool(_TAG_NAME.match(key)) and len(key) <= 250
        valid = valid and norm == key and norm != "." and not norm.startswith(("..", "/"))
        if len(_TAG_KEYS) < 10_000:
            _TAG_KEYS[key] = valid
    if not valid:
        return None
    if len(value) > 8000:
        raise Uncovered("a tag MLflow would truncate")
    return key, value


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                return part
            if isinstance(part, dict) and part.get("type") in ["text", "output_text"]:
                return part.get("text")  # type: ignore[return-value]
    elif isinstance(content, str):
        return content
    return ""


def _is_message(item: Any) -> bool:
    return isinstance(item, dict) and "role" in item and "content" in item


def _messages(obj: Any) -> list[dict[str, Any]] | None:
    if not isinstance(obj, dict):
        return None
    if (messages := obj.get("messages")) and isinstance(messages, list):
        return [item for item in messages if _is_message(item)]
    if (
        (choices := obj.get("choices"))
        and isinstance(choices, list)
        and len(choices) > 0
        and isinstance(choices[0], dict)
        and (msg := choices[0].get("message"))
        and _is_message(msg)
    ):
        return [msg]
    if (given := obj.get("input")) and isinstance(given, list):
        return [item for item in given if _is_message(item)]
    if (output := obj.get("output")) and isinstance(output, list):
        return [item for item in output if _is_message(item)]
    if "request" in obj:
        return _messages(obj["request"])
    return None


def preview(value: Any, role: str) -> str | None:
    """MLflow's `_get_truncated_preview` (OSS length)."""
    if value is None:
        return None
    content = None
    obj = None
    if isinstance(value, dict):
        obj, value = value, json.dumps(value)
    elif isinstance(value, str) and not (
        len(value) < 4000 and value[:1] not in _OPENERS and not value[:1].isspace()
    ):  # JSON text of a scalar (or not JSON) holds no messages: it is its own preview
        try:
            obj = json.loads(value)
        except json.JSONDecodeError:
            pass
    if obj is not None and (messages := _messages(obj)):
        message = next((m for m in reversed(messages) if m.get("role") == role), messages[-1])
        content = _text_of(message)
    content = content or value
    if len(content) <= _PREVIEW_MAX:
        return content
    return content[: _PREVIEW_MAX - 3] + "..."


def _b64(number: int, size: int) -> str:
    """``base64.b64encode`` of the big-endian bytes (which is ``b2a_base64`` without newline)."""
    return binascii.b2a_base64(number.to_bytes(size, "big"), newline=False).decode("ascii")


def artifact_location(root: str, trace_id: str) -> str:
    """MLflow's trace artifact location under an experiment's artifact root (plain roots)."""
    if root not in _PLAIN_ROOTS:
        if not re.fullmatch(r"(file://)?/[^?#;%\\]*[^/?#;%\\]", root) or "//" in root[8:]:
            raise Uncovered("an artifact root this module does not join")
        _PLAIN_ROOTS.add(root)
    return f"{root}/traces/{trace_id}/artifacts"


class Rows:
    """The rows of one batch of new traces, as `log_spans` would store them."""

    def __init__(self, artifact_root: str, experiment_id: str) -> None:
        self.artifact_root = artifact_root
        self.experiment_id = int(experiment_id)
        self.trace_infos: list[tuple[Any, ...]] = []
        self.tags: list[tuple[str, str, str]] = []
        self.metadata: list[tuple[str, str, str]] = []
        self.spans: list[tuple[Any, ...]] = []
        self.priced = 0  # spans MLflow's own cost function priced (imports MLflow)
        self._resource: tuple[dict[str, Any], dict[str, str]] | None = None

    def _resource_tags(self, resource: dict[str, Any]) -> dict[str, str]:
        """The tags MLflow makes of the resource's attributes (one resource per wire batch)."""
        if self._resource is not None and self._resource[0] is resource:
            return self._resource[1]
        tags: dict[str, str] = {}
        for key, value in resource.items():
            if key.startswith(("telemetry.sdk.", "mlflow.")):
                continue
            found_tag = _tag(key, value if isinstance(value, str) else json.dumps(value))
            if found_tag is not None:
                tags[found_tag[0]] = found_tag[1]
        self._resource = (resource, tags)
        return tags

    def add_trace(self, rows: list[tuple[Any, ...]], resource: dict[str, Any]) -> str:
        """Add one whole trace's rows (wire tuples); returns its MLflow id. Nothing is added
        when it raises (`Uncovered`, or an error MLflow's own path would meet too)."""
        spans: list[tuple[Any, ...]] = []
        usage_nodes, cost_nodes = [], []
        session_id = user_id = root_attributes = root_status = None
        root_tags: dict[str, str] = {}
        trace_id = mlflow_trace_id(rows[0][1])
        trace_b64 = _b64(rows[0][1], 16)  # the rows of one trace share its OTel trace id
        experiment = self.experiment_id
        for row in rows:
            name, otel_trace, span_int, parent, start, end, code, why, raw, events, links, _ = row
            if links:
                raise Uncovered("span links")
            if _LINKED.intersection(raw):
                raise Uncovered("run or prompt links (made by the log_spans path)")
            source = mlflow_attributes(raw, otel_trace)
            event_dicts = [
                {"name": n, "time_unix_nano": ts, "attributes": a} for n, a, ts in events
            ]
            if not tr.covered(source, [e[0] for e in events]):
                raise Uncovered("attributes outside the checked key sets")
            span_type = source.get(tr.SPAN_TYPE)
            span_type = _loads_or_same(span_type) if span_type else None
            attributes = tr.translate(source, event_dicts)
            if tr.needs_pricing(attributes) and tr.price(attributes):
                self.priced += 1
            status = _STATUS[code]
            span_id = format(span_int, "016x")
            parent_id = format(parent[0], "016x") if parent is not None else None
            span_dict = {
                "trace_id": trace_b64 if otel_trace == rows[0][1] else _b64(otel_trace, 16),
                "span_id": _b64(span_int, 8),
                "parent_span_id": _b64(parent[0], 8) if parent is not None else None,
                "name": name,
                "start_time_unix_nano": start,
                "end_time_unix_nano": end,
                "events": event_dicts,
                "status": {"code": f"STATUS_CODE_{status}", "message": why or ""},
                "attributes": attributes,
                "links": [],
            }
            usage_nodes.append((span_id, parent_id, _node_data(attributes, tr.CHAT_USAGE)))
            cost_nodes.append((span_id, parent_id, _node_data(attributes, tr.LLM_COST)))
            span_cost = None
            if attributes:
                if session_id is None and (
                    found := attributes.get("session.id")
                    or attributes.get("gen_ai.conversation.id")
                ):
                    session_id = parse_json_string(found)
                    if session_id is not None and len(session_id) > 250:
                        raise Uncovered("a session id MLflow refuses")
                if user_id is None and (found := attributes.get("user.id")):
                    user_id = parse_json_string(found)
                span_cost = attributes.get(tr.LLM_COST)
            costs: Any = {}
            if span_cost:
                try:
                    costs = json.loads(span_cost)
                except (TypeError, ValueError):
                    costs = {}
            spans.append(
                (
                    trace_id, experiment, span_id, parent_id, name,
                    span_type, status, start, end,
                    _ENCODER.encode(span_dict),
                    _finite_float(costs.get("input_cost")),
                    _finite_float(costs.get("output_cost")),
                    _finite_float(costs.get("total_cost")),
                    _bounded(parse_json_string(attributes.get(tr.MODEL))),
                    _bounded(parse_json_string(attributes.get(tr.MODEL_PROVIDER))),
                )
            )  # fmt: skip
            if parent is None:
                root_status, root_attributes = status, attributes
                for key, value in attributes.items():
                    if not key.startswith(_TAG_PREFIX):
                        continue
                    found_tag = _tag(key[len(_TAG_PREFIX) :], str(parse_json_string(value)))
                    if found_tag is None:
                        continue
                    if found_tag[0] == _TRACE_NAME and len(found_tag[1]) > 4096:
                        raise Uncovered("a trace name MLflow refuses")
                    root_tags[found_tag[0]] = found_tag[1]
        if root_attributes is None:
            raise Uncovered("no root span")

        start_ms = min(r[4] for r in rows) // 1_000_000
        ends = [r[5] for r in rows if r[5] is not None]
        end_ms = max(ends) // 1_000_000 if ends else None
        tokens: dict[str, Any] = dict.fromkeys(_TOKEN_COLUMNS.values())
        if usage := _aggregate(
            usage_nodes, ("input_tokens", "output_tokens", "total_tokens"), 0, _CACHE_KEYS
        ):
            for key, column in _TOKEN_COLUMNS.items():
                tokens[column] = _token_count(usage.get(key))
        costs_total: dict[str, Any] = dict.fromkeys(_COST_KEYS)
        if cost := _aggregate(cost_nodes, _COST_KEYS, 0.0):
            for key in _COST_KEYS:
                costs_total[key] = _finite_float(cost.get(key))
        request_preview = response_preview = None
        try:
            if inputs := root_attributes.get(tr.INPUTS):
                request_preview = preview(inputs, role="user")
            if outputs := root_attributes.get(tr.OUTPUTS):
                response_preview = preview(outputs, role="assistant")
        except Exception as exc:
            raise Uncovered("a preview MLflow may not make") from exc
        tags = {
            "mlflow.artifactLocation": artifact_location(self.artifact_root, trace_id),
            "mlflow.trace.spansLocation": "TRACKING_STORE",
        }
        tags.update(self._resource_tags(resource))
        tags.update((k, v) for k, v in root_tags.items() if k != _TRACE_NAME)

        self.trace_infos.append(
            (
                trace_id, experiment, start_ms,
                (end_ms - start_ms) if end_ms else None,
                "ERROR" if root_status == "ERROR" else "OK",
                request_preview, response_preview, root_tags.get(_TRACE_NAME),
                session_id or None,
                *tokens.values(),
                costs_total["input_cost"], costs_total["output_cost"], costs_total["total_cost"],
                1,
            )
        )  # fmt: skip
        self.tags.extend((trace_id, k, v) for k, v in tags.items())
        if user_id:
            self.metadata.append((trace_id, "mlflow.trace.user", user_id))
        self.spans.extend(spans)
        return trace_id

    def drop(self, trace_ids: set[str]) -> None:
        """Forget the rows of ``trace_ids``."""
        self.trace_infos = [r for r in self.trace_infos if r[0] not in trace_ids]
        self.tags = [r for r in self.tags if r[0] not in trace_ids]
        self.metadata = [r for r in self.metadata if r[0] not in trace_ids]
        self.spans = [r for r in self.spans if r[0] not in trace_ids]


TRACE_INFO_COLUMNS = (
    "request_id", "experiment_id", "timestamp_ms", "execution_time_ms", "status",
    "request_preview", "response_preview", "trace_name", "session_id",
    *_TOKEN_COLUMNS.values(), "input_cost", "output_cost", "total_cost",
    "db_payload_generation",
)  # fmt: skip
"""The trace_info columns `Rows.trace_infos` fills, in order (db_payload_generation is 1)."""
SPAN_COLUMNS = (
    "trace_id", "experiment_id", "span_id", "parent_span_id", "name", "type", "status",
    "start_time_unix_nano", "end_time_unix_nano", "content", "input_cost", "output_cost",
    "total_cost", "model_name", "model_provider",
)  # fmt: skip
