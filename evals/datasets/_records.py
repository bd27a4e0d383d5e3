"""Traces → evaluation records: the trace's inputs, its outputs, its expectations, its id.

A record is MLflow's GenAI dataset shape, ``{"inputs": {...}, "outputs": ..., "expectations":
{...}, "source": {"source_type": "TRACE", "source_data": {"trace_id": ...}}}``; inputs and
outputs come from the trace's root span, expectations from ``llmtrace.log_expectation``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from llmtrace.semconv import MLFLOW_TRACE_SESSION

from .. import _data, _traces

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_SPEC = re.compile(r"^\s*([^=!<>\s][^=!<>`]*?)\s*(>=|<=|!=|=|>|<)\s*(.*?)\s*$")


def _quoted(value: str) -> str:
    if "'" in value and '"' in value:
        raise ValueError(f"cannot filter on a value with both quote kinds: {value!r}")
    return f'"{value}"' if "'" in value else f"'{value}'"


def _clause(name: str, op: str, value: Any) -> str:
    key = f"feedback.`{name}`"
    if isinstance(value, bool):
        return f"{key} {op} '{str(value).lower()}'"
    if isinstance(value, int | float):
        literal = repr(int(value)) if float(value).is_integer() else repr(float(value))
        if op == "=":
            return f"{key} >= {literal} AND {key} <= {literal}"
        return f"{key} {op} {literal}" if op != "!=" else f"{key} != {_quoted(literal)}"
    if op in ("<", "<=", ">", ">="):
        raise ValueError(f"feedback {name}{op}{value!r}: {op} needs a number")
    return f"{key} {op} {_quoted(str(value))}"


def feedback_clauses(feedback: str | Mapping[str, Any] | Sequence[str] | None) -> list[str]:
    """MLflow filter clauses for ``feedback``: ``{"helpful": False}``, ``"rating>=4"``, a list.

    Example:
        >>> feedback_clauses({"helpful": False})
        ["feedback.`helpful` = 'false'"]
    """
    if feedback is None:
        return []
    if isinstance(feedback, Mapping):
        return [_clause(str(k), "=", v) for k, v in feedback.items()]
    specs = [feedback] if isinstance(feedback, str) else list(feedback)
    clauses = []
    for spec in specs:
        match = _SPEC.match(str(spec))
        if match is None:
            if not str(spec).strip() or re.search(r"[=!<>`]", str(spec)):
                raise ValueError(f"feedback {spec!r}: write NAME=VALUE, e.g. 'helpful=false'")
            clauses.append(f"feedback.`{str(spec).strip()}` IS NOT NULL")
            continue
        name, op, raw = match.groups()
        value: Any = raw
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        elif _NUMBER.match(raw):
            value = float(raw)
        clauses.append(_clause(name, op, value))
    return clauses


def trace_filter(
    filter_string: str | None,
    session: str | None,
    feedback: str | Mapping[str, Any] | Sequence[str] | None,
) -> str | None:
    """One MLflow trace filter from ``from_traces``' arguments (joined with AND)."""
    parts = [filter_string.strip()] if filter_string and filter_string.strip() else []
    if session:
        parts.append(f"metadata.`{MLFLOW_TRACE_SESSION}` = {_quoted(session)}")
    parts += feedback_clauses(feedback)
    return " AND ".join(parts) or None


def record_of(trace: Any) -> dict[str, Any]:
    """The dataset record of one MLflow trace (see the module docstring)."""
    root = _traces.root_span(trace)
    inputs = root.inputs if root is not None else None
    if inputs is None:
        inputs = {}
    elif not isinstance(inputs, Mapping):
        inputs = {"inputs": inputs}  # MLflow's datasets take a dict of inputs
    expectations = {}
    for a in getattr(trace.info, "assessments", None) or []:
        if a.expectation is not None and a.valid is not False:
            expectations[a.name] = a.expectation.value
    source_data = {"trace_id": trace.info.trace_id}
    session = (trace.info.trace_metadata or {}).get(MLFLOW_TRACE_SESSION)
    if session:
        source_data["session_id"] = session
    return {
        "inputs": dict(inputs),
        "outputs": root.outputs if root is not None else None,
        "expectations": expectations,
        "source": {"source_type": "TRACE", "source_data": source_data},
    }


def records_of(traces: Iterable[Any]) -> list[dict[str, Any]]:
    """Records of the app's traces (judge traces left out), oldest first."""
    kept = [t for t in traces if not _data.is_judge_trace(t)]
    kept.sort(key=lambda t: (t.info.request_time or 0, t.info.trace_id))
    return [record_of(t) for t in kept]


def trace_id_of(record: Mapping[str, Any]) -> str | None:
    """The trace a record came from, if any."""
    source = record.get("source") or {}
    data = source.get("source_data") if isinstance(source, Mapping) else None
    return data.get("trace_id") if isinstance(data, Mapping) else None


def input_key(record: Mapping[str, Any]) -> str:
    """What makes two records the same test case: their inputs (as MLflow's datasets say)."""
    return json.dumps(record.get("inputs", {}), sort_keys=True, default=str)


def _canonical(record: Mapping[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False, default=str)


def canonical_order(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The records in one fixed order (by their canonical JSON), as stored and read back."""
    return [dict(r) for r in sorted(records, key=_canonical)]


def digest(records: Iterable[Mapping[str, Any]]) -> str:
    """sha256 of the records' canonical JSON, in any order: the same records, the same digest.

    Example:
        >>> digest([{"inputs": {"q": "2+2?"}, "outputs": "4"}])[:12]
    """
    text = "\n".join(sorted(_canonical(r) for r in records))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def as_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record as an `evals.load_rows` row: inputs, outputs, expectations, trace_id."""
    row: dict[str, Any] = {"inputs": record.get("inputs") or {}}
    if record.get("outputs") is not None:
        row["outputs"] = record["outputs"]
    if record.get("expectations"):
        row["expectations"] = dict(record["expectations"])
    trace_id = trace_id_of(record)
    if trace_id:
        row["trace_id"] = trace_id
    return row
