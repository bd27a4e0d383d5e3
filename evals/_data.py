"""Turn the user's data into `Row`s: a DataFrame, a list of dicts, a JSONL/CSV file, or traces.

Columns (first name is the field, the others are accepted aliases):

================================  ===========================================================
``question``                      ``inputs``, ``input``, ``query``, ``user_input``, ``request``
``answer``                        ``outputs``, ``output``, ``response``, ``prediction``
``expected``                      ``ground_truth``, ``reference``, ``expected_response``,
                                  ``expected_answer`` (a string, or a list of acceptable ones)
``contexts``                      ``context``, ``retrieved_contexts`` (strings or documents)
``context_ids``                   ``retrieved_context_ids``
``reference_contexts``            (strings or documents)
``reference_context_ids``
``tool_calls``                    ``[{"name": ..., "arguments": {...}}]`` or tool names
``expected_tool_calls``           ``reference_tool_calls``
``trace_id``                      the MLflow trace (``tr-...``) the row belongs to
``trace``                         an MLflow ``Trace`` (or its JSON)
================================  ===========================================================

Other columns go to ``Row.extra``. In a CSV file, list-valued cells are JSON text
(``["doc a", "doc b"]``). ``inputs`` may be a dict (what ``predict`` is called with); its
question is read as from a trace's root span. ``expectations`` (``mlflow.genai`` style) gives
``expected_response``. Rows made from traces read question, answer, contexts and tool calls
from the trace (see `evals._traces`); columns given beside the trace win.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from llmtrace.semconv import LLMTRACE_EVALUATION

from . import _traces
from ._types import Row

logger = logging.getLogger("evals")

#: Trace tag of the traces judge calls make (see evals.judge._tracing): not rows to evaluate.
JUDGE_TRACE_TAG = LLMTRACE_EVALUATION

ALIASES: dict[str, tuple[str, ...]] = {
    "question": ("question", "inputs", "input", "query", "user_input", "request"),
    "answer": ("answer", "outputs", "output", "response", "prediction"),
    "expected": ("expected", "ground_truth", "reference", "expected_response", "expected_answer"),
    "contexts": ("contexts", "context", "retrieved_contexts"),
    "context_ids": ("context_ids", "retrieved_context_ids"),
    "reference_contexts": ("reference_contexts",),
    "reference_context_ids": ("reference_context_ids",),
    "tool_calls": ("tool_calls",),
    "expected_tool_calls": ("expected_tool_calls", "reference_tool_calls"),
    "trace_id": ("trace_id",),
    "trace": ("trace",),
}
_COLUMN_TO_FIELD = {alias: name for name, aliases in ALIASES.items() for alias in aliases}
#: Columns of ``mlflow.search_traces`` DataFrames that are not row fields (the trace has them).
_TRACE_FRAME_COLUMNS = frozenset(
    {
        "client_request_id",
        "state",
        "request_time",
        "execution_duration",
        "request",
        "response",
        "trace_metadata",
        "tags",
        "spans",
        "assessments",
        "request_preview",
        "response_preview",
    }
)
_FIELD_NAMES = frozenset(Row.__dataclass_fields__) - {"index", "extra"}


def columns_for(field: str) -> str:
    """The accepted column names of a field, for error messages: ``'expected' (or ...)``."""
    names = ALIASES.get(field, (field,))
    if len(names) == 1:
        return repr(names[0])
    return f"{names[0]!r} (or {', '.join(repr(n) for n in names[1:])})"


# -- entry point ------------------------------------------------------------------------------
def load_rows(data: Any) -> list[Row]:
    """Read ``data`` into rows, raising a one-line `ValueError` for bad input.

    ``data``: a pandas DataFrame (including one from ``mlflow.search_traces`` /
    ``llmtrace.search_traces(return_type="pandas")``), a list of dicts, a list of MLflow
    ``Trace`` objects, or the path of a ``.jsonl``/``.json``/``.csv`` file. Traces of judge
    calls (tag ``llmtrace.evaluation = 'true'``) are left out, with a warning.

    Example:
        >>> rows = evals.load_rows([{"question": "2+2?", "answer": "4", "expected": "4"}])
        >>> rows[0].expected
        '4'
    """
    records = _records(data)
    if not records:
        raise ValueError("no rows to evaluate: the data is empty; pass at least one row")
    rows = [_row(i, record) for i, record in enumerate(records)]
    kept = [r for r in rows if r.trace is None or not is_judge_trace(r.trace)]
    if len(kept) < len(rows):
        logger.warning(
            "evals left out %d judge traces (tag %s = 'true'): they score the app, they are "
            "not the app; filter them out of the search to silence this",
            len(rows) - len(kept),
            JUDGE_TRACE_TAG,
        )
        if not kept:
            raise ValueError(
                "every trace given is a judge trace (tag llmtrace.evaluation = 'true'); "
                "evaluate the app's traces instead"
            )
        for i, row in enumerate(kept):
            row.index = i
    return kept


def is_judge_trace(trace: Any) -> bool:
    """Whether a trace records a judge call (evals' own EVALUATOR traces), not the app."""
    tags = getattr(trace.info, "tags", None) or {}
    return str(tags.get(JUDGE_TRACE_TAG, "")).lower() == "true"


def _records(data: Any) -> list[Mapping[str, Any]]:
    if data is None:
        raise ValueError(
            "no data: pass a DataFrame, a list of dicts, traces, or a .jsonl/.csv path"
        )
    if isinstance(data, (str, os.PathLike)):
        return _read_file(Path(data))
    if _is_trace(data):
        return [{"trace": data}]
    if _is_frame(data):
        return _frame_records(data)
    if isinstance(data, Mapping):
        raise ValueError("data is one dict; pass a list of dicts (one per row) or a DataFrame")
    if isinstance(data, Iterable):
        items = list(data)
        for i, item in enumerate(items):
            if _is_trace(item):
                items[i] = {"trace": item}
            elif not isinstance(item, Mapping):
                raise ValueError(
                    f"data[{i}] is a {type(item).__name__}; each row must be a dict of "
                    "column -> value (or an MLflow Trace)"
                )
        return items
    raise ValueError(
        f"cannot read data of type {type(data).__name__}; pass a DataFrame, a list of dicts, "
        "traces, or a .jsonl/.csv path"
    )


def _is_trace(value: Any) -> bool:
    return hasattr(value, "info") and hasattr(value, "data") and hasattr(value.data, "spans")


def _is_frame(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and hasattr(value, "to_dict")


def _frame_records(frame: Any) -> list[Mapping[str, Any]]:
    records = frame.to_dict(orient="records")
    if "trace" in frame.columns:  # mlflow.search_traces: drop what the trace itself holds
        records = [{k: v for k, v in r.items() if k not in _TRACE_FRAME_COLUMNS} for r in records]
    return records


def _read_file(path: Path) -> list[Mapping[str, Any]]:
    if not path.exists():
        raise ValueError(f"no such file: {str(path)!r}; check the path")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            import pandas as pd

            return _frame_records(pd.read_csv(path))
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {str(path)!r}: {exc}") from exc
    except Exception as exc:  # pandas' parser errors
        raise ValueError(f"cannot read {str(path)!r} as CSV: {exc}") from exc
    if suffix == ".jsonl" or (suffix == ".json" and not text.lstrip().startswith("[")):
        return _jsonl(path, text)
    if suffix == ".json":
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"{str(path)!r} is not valid JSON ({exc}); fix the file") from exc
        if not all(isinstance(item, Mapping) for item in loaded):
            raise ValueError(f"{str(path)!r} must hold a JSON list of objects, one per row")
        return list(loaded)
    raise ValueError(
        f"cannot read {str(path)!r}: unknown file type {suffix or '(none)'!r}; "
        "use .jsonl, .json or .csv"
    )


def _jsonl(path: Path, text: str) -> list[Mapping[str, Any]]:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise ValueError(
                f"{str(path)!r} line {number} is not valid JSON ({exc}); fix or remove the line"
            ) from exc
        if not isinstance(record, Mapping):
            raise ValueError(
                f"{str(path)!r} line {number} is a JSON {type(record).__name__}, "
                'not an object; each line must be one row {"column": value, ...}'
            )
        records.append(record)
    return records


# -- one record -> one Row ---------------------------------------------------------------------
def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return type(value).__name__ in ("NAType", "NaTType")


def _row(index: int, record: Mapping[str, Any]) -> Row:
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for column, value in record.items():
        column = str(column)
        field = _COLUMN_TO_FIELD.get(column)
        if column == "expectations" and isinstance(value, Mapping):
            _expectations(index, value, values, sources, extra)
            continue
        if field is None:
            extra[column] = None if _missing(value) else value
            continue
        if _missing(value):
            continue
        if field in sources:
            raise ValueError(
                f"row {index}: columns {sources[field]!r} and {column!r} both give "
                f"{field!r}; keep one of them"
            )
        sources[field] = column
        if field == "question" and not isinstance(value, str):
            value = _parse_json_text(value)
            extra["inputs"] = value
            value = _traces.question_of(value)
        values[field] = value
    if "question" in values and "inputs" not in extra:
        extra["inputs"] = {"question": values["question"]}

    trace = values.pop("trace", None)
    if trace is not None:
        trace = _as_trace(index, trace)
        found = _traces.fields(trace)
        for name in ("question", "answer", "contexts", "context_ids", "tool_calls", "trace_id"):
            if name not in values and found.get(name) is not None:
                values[name] = found[name]
        if found.get("inputs") is not None and sources.get("question") is None:
            extra["inputs"] = found["inputs"]
        values["trace"] = trace

    row = Row(index=index, extra=extra)
    for name, value in values.items():
        setattr(row, name, _clean(index, name, value, sources.get(name, name)))
    for texts, ids in (
        ("contexts", "context_ids"),
        ("reference_contexts", "reference_context_ids"),
    ):
        if getattr(row, texts) is not None:
            docs, found_ids = _traces.split_documents(getattr(row, texts))
            setattr(row, texts, docs)
            if getattr(row, ids) is None:
                setattr(row, ids, found_ids)
    return row


def _expectations(
    index: int,
    value: Mapping[str, Any],
    values: dict[str, Any],
    sources: dict[str, str],
    extra: dict[str, Any],
) -> None:
    for key, item in value.items():
        field = {
            "expected_response": "expected",
            "expected_tool_calls": "expected_tool_calls",
            "reference_contexts": "reference_contexts",
        }.get(key)
        if field is None:
            extra[key] = item
        elif field not in values:
            values[field] = item
            sources[field] = f"expectations.{key}"


def _as_trace(index: int, value: Any) -> Any:
    if _is_trace(value):
        return value
    if isinstance(value, str):
        from mlflow.entities import Trace

        try:
            return Trace.from_json(value)
        except Exception as exc:
            raise ValueError(
                f"row {index}: column 'trace' is not an MLflow trace JSON ({exc})"
            ) from exc
    raise ValueError(
        f"row {index}: column 'trace' holds a {type(value).__name__}, not an MLflow Trace"
    )


def _parse_json_text(value: Any) -> Any:
    """A CSV cell holding a JSON list/object becomes that list/object."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _clean(index: int, field: str, value: Any, column: str) -> Any:
    if field in ("question", "trace_id"):
        return value if isinstance(value, str) else str(value)
    if field in ("contexts", "reference_contexts"):
        value = _parse_json_text(value)
        if isinstance(value, str):
            return [value]
        return _list(index, column, value, "a list of strings or documents")
    if field in ("context_ids", "reference_context_ids"):
        value = _parse_json_text(value)
        if isinstance(value, (str, int)):
            return [str(value)]
        return [str(v) for v in _list(index, column, value, "a list of ids")]
    if field in ("tool_calls", "expected_tool_calls"):
        return normalize_tool_calls(index, column, _parse_json_text(value))
    if field == "expected":
        return _parse_json_text(value) if isinstance(value, str) and value[:1] == "[" else value
    return value


def _list(index: int, column: str, value: Any, what: str) -> list[Any]:
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return list(value)
    if hasattr(value, "tolist"):  # numpy arrays from parquet / pandas
        return list(value.tolist())
    raise ValueError(f"row {index}, column {column!r}: expected {what}, got {type(value).__name__}")


def normalize_tool_calls(index: int, column: str, value: Any) -> list[dict[str, Any]]:
    """Tool calls as ``[{"name": str, "arguments": dict}]`` from the shapes people log.

    Accepts names alone, ``{"name", "arguments"|"args"|"inputs"|"input"}`` and OpenAI's
    ``{"function": {"name", "arguments": "<json>"}}``; JSON text arguments are decoded.
    """
    calls = []
    for i, item in enumerate(_list(index, column, value, "a list of tool calls")):
        if isinstance(item, str):
            calls.append({"name": item, "arguments": {}})
            continue
        if not isinstance(item, Mapping):
            raise ValueError(
                f"row {index}, column {column!r}[{i}]: a tool call must be a name or a dict "
                f"with 'name' and 'arguments', got {type(item).__name__}"
            )
        if isinstance(item.get("function"), Mapping):
            item = item["function"]
        name = item.get("name")
        if not isinstance(name, str):
            raise ValueError(f"row {index}, column {column!r}[{i}]: a tool call has no 'name'")
        arguments: Any = {}
        for key in ("arguments", "args", "inputs", "input"):
            if key in item:
                arguments = item[key]
                break
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except ValueError:
                arguments = {"input": arguments}
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, Mapping):
            arguments = {"input": arguments}
        calls.append({"name": name, "arguments": dict(arguments)})
    return calls


# -- rows that name a trace by id ---------------------------------------------------------------
TRACE_FIELDS = ("question", "answer", "contexts", "context_ids", "tool_calls", "trace")


def attach_traces(rows: list[Row], wanted: Iterable[str], tracking_uri: str) -> None:
    """Fetch the trace of rows with a ``trace_id`` but no trace when ``wanted`` fields need it.

    Only fields the row lacks are filled in; a trace that cannot be read leaves the row as is
    (its metrics then report the missing field).
    """
    needed = set(wanted) & set(TRACE_FIELDS)
    todo = [
        r
        for r in rows
        if r.trace is None and r.trace_id and any(getattr(r, name) is None for name in needed)
    ]
    if not todo:
        return
    from mlflow import MlflowClient

    import llmtrace

    llmtrace.flush()  # a trace made just before evaluate() is stored first
    client = MlflowClient(tracking_uri=tracking_uri)
    for row in todo:
        try:
            trace = client.get_trace(row.trace_id)
        except Exception:  # unknown id or unreachable store: the cells say what is missing
            continue
        if trace is None:
            continue
        fill_from_trace(row, trace)


def fill_from_trace(row: Row, trace: Any) -> None:
    """Set the row's trace and the trace-derived fields it does not have yet."""
    found = _traces.fields(trace)
    for name in ("question", "answer", "contexts", "context_ids", "tool_calls", "trace_id"):
        if getattr(row, name) is None and found.get(name) is not None:
            setattr(row, name, found[name])
    row.trace = trace


def present(rows: list[Row], field: str) -> bool:
    """Whether any row has ``field`` (a Row attribute or an extra column)."""
    return any(value_of(row, field) is not None for row in rows)


def value_of(row: Row, field: str) -> Any:
    """A Row attribute, or an extra column by name; None if absent."""
    if field in _FIELD_NAMES:
        return getattr(row, field)
    return row.extra.get(field)
