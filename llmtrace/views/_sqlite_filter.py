"""MLflow trace filter strings as SQL on MLflow's SQLite tables, for the clauses the views use.

`to_sql` translates the clauses the CLI's options produce (and the common hand-written ones)
exactly as MLflow 3.17's `SqlAlchemyStore.search_traces` does on SQLite; anything else raises
`Unsupported`, and the caller then asks MLflow itself (so an odd or invalid filter gets MLflow's
own answer or error). Supported, joined with ``AND``:

- ``status``, ``request_id`` with ``=``/``!=`` and a quoted value;
- ``timestamp[_ms]``, ``execution_time[_ms]`` with ``= != < <= > >=`` and a number;
- ``name`` (the trace name) and ``tags.`k``` / ``metadata.`k``` with ``= != LIKE ILIKE``
  and a quoted value, or ``IS NULL`` / ``IS NOT NULL`` (the trace name and
  ``mlflow.trace.session`` are columns of ``trace_info``, as in MLflow; token usage, cost and
  run ids, which MLflow treats specially, are not supported here).
"""

from __future__ import annotations

import re
from typing import Any


class Unsupported(Exception):
    """This request is not one the fast read path answers; ask MLflow."""


_CLAUSE = re.compile(
    r"""\s*(?:(?P<type>[A-Za-z_]+)\.)?(?P<key>`[^`]+`|[A-Za-z_][\w.]*)\s*
    (?P<op>!=|>=|<=|=|<|>|ILIKE\b|LIKE\b|IS\s+NOT\s+NULL\b|IS\s+NULL\b)\s*
    (?P<value>'[^']*'|"[^"]*"|\d+(?:\.\d+)?(?![\w.]))?\s*""",
    re.IGNORECASE | re.VERBOSE,
)
_AND = re.compile(r"AND\b", re.IGNORECASE)

_TYPES = {
    None: "attribute",
    "attribute": "attribute",
    "attributes": "attribute",
    "trace": "attribute",
    "tag": "tag",
    "tags": "tag",
    "metadata": "metadata",
    "request_metadata": "metadata",
}
_NUMERIC = {
    "timestamp_ms": "t.timestamp_ms",
    "timestamp": "t.timestamp_ms",
    "execution_time_ms": "t.execution_time_ms",
    "execution_time": "t.execution_time_ms",
}
_STRING_ATTRIBUTES = {"status": "t.status", "request_id": "t.request_id"}
_TRACE_NAME = "mlflow.traceName"
_SESSION = "mlflow.trace.session"
_SPECIAL_METADATA = frozenset({"mlflow.trace.tokenUsage", "mlflow.trace.cost", "mlflow.sourceRun"})
_TABLES = {"tag": "trace_tags", "metadata": "trace_request_metadata"}


def _clauses(filter_string: str) -> list[tuple[str, str, str, Any]]:
    """(type, key, comparator, value) per clause, or `Unsupported`."""
    out = []
    pos = 0
    text = filter_string.strip()
    while True:
        match = _CLAUSE.match(text, pos)
        if match is None:
            raise Unsupported(filter_string)
        kind = _TYPES.get(match["type"].lower() if match["type"] else None)
        if kind is None:
            raise Unsupported(filter_string)
        key = match["key"]
        if key.startswith("`"):
            key = key[1:-1]
        op = " ".join(match["op"].upper().split())
        raw = match["value"]
        if op.startswith("IS"):
            if raw is not None:
                raise Unsupported(filter_string)
            value: Any = None
        elif raw is None:
            raise Unsupported(filter_string)
        elif raw[0] in "'\"":
            value = raw[1:-1]
        else:
            value = float(raw) if "." in raw else int(raw)
        out.append((kind, key, op, value))
        pos = match.end()
        if pos >= len(text):
            return out
        joiner = _AND.match(text, pos)
        if joiner is None:
            raise Unsupported(filter_string)
        pos = joiner.end()


def _compare(column: str, op: str, value: Any, params: list[Any]) -> str:
    if op == "IS NULL":
        return f"{column} IS NULL"
    if op == "IS NOT NULL":
        return f"{column} IS NOT NULL"
    params.append(value)
    if op == "ILIKE":  # SQLAlchemy's ilike on SQLite
        return f"lower({column}) LIKE lower(?)"
    return f"{column} {op} ?"


def to_sql(filter_string: str | None) -> tuple[list[str], list[Any]]:
    """SQL conditions on ``trace_info AS t`` (to join with AND) and their parameters.

    Example:
        >>> to_sql("status = 'ERROR' AND timestamp_ms >= 5")
        (['t.status = ?', 't.timestamp_ms >= ?'], ['ERROR', 5])
    """
    conditions: list[str] = []
    params: list[Any] = []
    if not filter_string or not filter_string.strip():
        return conditions, params
    for kind, key, op, value in _clauses(filter_string):
        numeric = isinstance(value, (int, float))
        if kind == "attribute" and key in _NUMERIC:
            if not numeric or op not in ("=", "!=", "<", "<=", ">", ">="):
                raise Unsupported(filter_string)
            conditions.append(_compare(_NUMERIC[key], op, value, params))
            continue
        if numeric or op in ("<", "<=", ">", ">="):
            raise Unsupported(filter_string)
        if kind == "attribute" and key in _STRING_ATTRIBUTES:
            if op not in ("=", "!="):
                raise Unsupported(filter_string)
            conditions.append(_compare(_STRING_ATTRIBUTES[key], op, value, params))
            continue
        if kind == "attribute" and key == "name":
            kind, key = "tag", _TRACE_NAME
        if kind == "attribute":
            raise Unsupported(filter_string)
        if kind == "tag" and key == _TRACE_NAME:
            conditions.append(_compare("t.trace_name", op, value, params))
        elif kind == "metadata" and key == _SESSION:
            conditions.append(_compare("t.session_id", op, value, params))
        elif kind == "metadata" and key in _SPECIAL_METADATA:
            raise Unsupported(filter_string)
        elif op in ("IS NULL", "IS NOT NULL"):
            params.append(key)
            negate = "NOT " if op == "IS NULL" else ""
            conditions.append(
                f"{negate}EXISTS (SELECT 1 FROM {_TABLES[kind]} AS x "
                "WHERE x.request_id = t.request_id AND x.key = ?)"
            )
        else:
            params.append(key)
            match = _compare("x.value", op, value, params)
            conditions.append(
                f"t.request_id IN (SELECT x.request_id FROM {_TABLES[kind]} AS x "
                f"WHERE x.key = ? AND {match})"
            )
    return conditions, params
