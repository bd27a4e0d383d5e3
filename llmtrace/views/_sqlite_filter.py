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
  run ids, which MLflow treats specially, are not supported here);
- ``feedback.`name``` / ``expectation.`name``` with ``=``/``!=`` and a quoted value (matched
  against the stored JSON value, so ``'false'`` finds ``False``), ``< <= > >=`` and a number
  (numeric values only), or ``IS NULL`` / ``IS NOT NULL``; valid assessments only, and an
  assessment logged on a session covers the session's traces, as in MLflow.
"""

from __future__ import annotations

import json
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
    "feedback": "feedback",
    "expectation": "expectation",
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
_SESSION_SCOPED = f'%"{_SESSION}":%'  # MLflow: assessment_metadata.contains('"<key>":')


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


def _assessment(
    kind: str, key: str, op: str, value: Any, experiment_id: int | None, params: list[Any]
) -> str:
    """MLflow's assessment clause: the trace's own valid assessment, or its session's."""
    match = "a.assessment_type = ? AND a.name = ? AND a.valid = 1"
    match_params: list[Any] = [kind, key]
    numeric = isinstance(value, (int, float))
    if op in ("<", "<=", ">", ">="):
        if not numeric:
            raise Unsupported(f"{kind}.{key} {op} {value!r}")  # MLflow explains
        match += f" AND a.is_numeric_value = 1 AND a.aggregate_value {op} ?"
        match_params.append(value)
    elif op in ("=", "!="):
        if numeric:
            raise Unsupported(f"{kind}.{key} {op} {value!r}")  # MLflow wants a quoted value
        negate = "NOT " if op == "!=" else ""
        match += f" AND {negate}(a.value = ? OR a.value = ?)"
        match_params += [value, json.dumps(value)]
    elif op not in ("IS NULL", "IS NOT NULL"):
        raise Unsupported(f"{kind}.{key} {op}")
    # The experiment as a parameter keeps the session subquery uncorrelated (run once).
    scope, scope_params = (
        ("?", [experiment_id]) if experiment_id is not None else ("t.experiment_id", [])
    )
    siblings = (
        f"SELECT s.request_id FROM trace_info AS s WHERE s.experiment_id = {scope} "
        "AND s.session_id IN (SELECT st.session_id FROM trace_info AS st JOIN assessments AS a "
        f"ON a.trace_id = st.request_id WHERE st.experiment_id = {scope} "
        f"AND st.session_id IS NOT NULL AND {match} "
        "AND a.assessment_metadata IS NOT NULL AND a.assessment_metadata LIKE ?)"
    )
    sibling_params = [*scope_params, *scope_params, *match_params, _SESSION_SCOPED]
    params += [*match_params, *sibling_params]
    if op == "IS NULL":
        return (
            "NOT EXISTS (SELECT 1 FROM assessments AS a WHERE a.trace_id = t.request_id "
            f"AND {match}) AND t.request_id NOT IN ({siblings})"
        )
    return (
        f"t.request_id IN (SELECT a.trace_id FROM assessments AS a WHERE {match} UNION {siblings})"
    )


def to_sql(
    filter_string: str | None, experiment_id: int | None = None
) -> tuple[list[str], list[Any]]:
    """SQL conditions on ``trace_info AS t`` (to join with AND) and their parameters.

    ``experiment_id`` (the one searched) lets assessment clauses name it instead of
    correlating with ``t``, which SQLite would evaluate once per trace.

    Example:
        >>> to_sql("status = 'ERROR' AND timestamp_ms >= 5")
        (['t.status = ?', 't.timestamp_ms >= ?'], ['ERROR', 5])
    """
    conditions: list[str] = []
    params: list[Any] = []
    if not filter_string or not filter_string.strip():
        return conditions, params
    for kind, key, op, value in _clauses(filter_string):
        if kind in ("feedback", "expectation"):
            conditions.append(_assessment(kind, key, op, value, experiment_id, params))
            continue
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
