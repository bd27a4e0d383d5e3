"""Monitor aggregates computed by SQLite itself, on a read-only connection, without MLflow.

`llmtrace monitor` and `llmtrace report` on a ``sqlite:///`` store open the file with
``file:...?mode=ro`` (nothing can be written, not even a migration) and let SQLite count,
sum and rank: a 100,000-trace store summarises in about a second instead of loading every
trace through MLflow's client. Where the figures live in MLflow 3.17's schema (its
``dbmodels/models.py``): ``trace_info`` holds each trace's start (``timestamp_ms``), duration
(``execution_time_ms``), ``status``, ``session_id``, ``total_tokens`` and ``total_cost``; the
user is the ``mlflow.trace.user`` row of ``trace_request_metadata``; ``spans`` holds each span's
name, type, status, start/end, ``model_name`` and ``total_cost``, and its token usage inside the
``content`` JSON (attribute ``mlflow.chat.tokenUsage``). This is read only when the installed
MLflow is a release whose schema was checked (`llmtrace.export._sql_bulk.CHECKED_MLFLOW`) and
the file has those columns; otherwise `available` says no and the caller uses MLflow's client
(`_monitor_client`), which `tests/views/test_monitor.py` checks gives the same figures.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from urllib.parse import quote

from ..export._sql_bulk import CHECKED_MLFLOW
from ._monitor_figures import SPAN_GROUPINGS, Aggregate, Figures
from ._store import StoreError

_NEEDED = {
    "experiments": {"experiment_id", "name", "lifecycle_stage"},
    "trace_info": {
        "request_id", "experiment_id", "timestamp_ms", "execution_time_ms", "status",
        "session_id", "total_tokens", "total_cost",
    },
    "trace_request_metadata": {"key", "value", "request_id"},
    "spans": {
        "trace_id", "name", "type", "status", "start_time_unix_nano", "end_time_unix_nano",
        "content", "total_cost", "model_name",
    },
}  # fmt: skip

_TOKENS = (
    "CASE WHEN instr(s.content, 'mlflow.chat.tokenUsage') > 0 THEN COALESCE("
    "json_extract(json_extract(s.content, '$.attributes.\"mlflow.chat.tokenUsage\"'),"
    " '$.total_tokens'),"
    "COALESCE(json_extract(json_extract(s.content, '$.attributes.\"mlflow.chat.tokenUsage\"'),"
    " '$.input_tokens'), 0) + "
    "COALESCE(json_extract(json_extract(s.content, '$.attributes.\"mlflow.chat.tokenUsage\"'),"
    " '$.output_tokens'), 0)) ELSE 0 END"
)
"""A span's total tokens: ``total_tokens`` of its usage, else input + output (as the client)."""

_GROUP = {
    "span": "s.name",
    "model": "s.model_name",
    "tool": "CASE WHEN s.type IN ('TOOL', '\"TOOL\"') THEN s.name END",
    "session": "t.session_id",
    "user": "m.value",
}

_TRACE_UNITS = """
SELECT t.timestamp_ms - t.timestamp_ms % :every AS b, t.execution_time_ms AS ms,
       t.status = 'ERROR' AS err, COALESCE(t.total_tokens, 0) AS tokens,
       COALESCE(t.total_cost, 0.0) AS cost, {group} AS grp
FROM trace_info t
LEFT JOIN trace_request_metadata m ON m.request_id = t.request_id AND m.key = 'mlflow.trace.user'
WHERE t.experiment_id = :exp AND t.timestamp_ms >= :since AND t.timestamp_ms < :until
"""

_SPAN_UNITS = f"""
SELECT t.timestamp_ms - t.timestamp_ms % :every AS b,
       (s.end_time_unix_nano - s.start_time_unix_nano) / 1e6 AS ms,
       s.status = 'ERROR' AS err, {_TOKENS} AS tokens,
       COALESCE(s.total_cost, 0.0) AS cost, {{group}} AS grp
FROM trace_info t JOIN spans s ON s.trace_id = t.request_id
WHERE t.experiment_id = :exp AND t.timestamp_ms >= :since AND t.timestamp_ms < :until
"""

_AGGREGATE = """
WITH u AS MATERIALIZED ({units}),
k AS ({keys}),
r AS (
  SELECT kind, g, b, ms, ROW_NUMBER() OVER (PARTITION BY kind, g, b ORDER BY ms) AS rn,
         COUNT(*) OVER (PARTITION BY kind, g, b) AS n
  FROM k WHERE ms IS NOT NULL
),
p AS (
  SELECT kind, g, b,
         MAX(CASE WHEN rn = (50 * n + 99) / 100 THEN ms END) AS p50,
         MAX(CASE WHEN rn = (95 * n + 99) / 100 THEN ms END) AS p95,
         MAX(CASE WHEN rn = (99 * n + 99) / 100 THEN ms END) AS p99
  FROM r GROUP BY kind, g, b
),
a AS (
  SELECT kind, g, b, COUNT(*) AS c, SUM(err) AS e, SUM(tokens) AS tk, SUM(cost) AS cost
  FROM k GROUP BY kind, g, b
)
SELECT a.kind, a.g, a.b, a.c, a.e, p.p50, p.p95, p.p99, a.tk, a.cost
FROM a LEFT JOIN p ON p.kind = a.kind AND p.g IS a.g AND p.b IS a.b
"""

_TOTAL_KEYS = (
    "SELECT 'total' AS kind, NULL AS g, NULL AS b, ms, err, tokens, cost FROM u "
    "UNION ALL SELECT 'bucket', NULL, b, ms, err, tokens, cost FROM u"
)
_GROUP_KEYS = (
    "SELECT 'group' AS kind, grp AS g, NULL AS b, ms, err, tokens, cost FROM u "
    "WHERE grp IS NOT NULL "
    "UNION ALL SELECT 'gbucket', grp, b, ms, err, tokens, cost FROM u WHERE grp IS NOT NULL"
)


def sqlite_path(tracking_uri: str) -> Path | None:
    """The file of a ``sqlite:///`` tracking URI (None for any other store)."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    path = tracking_uri[len("sqlite:///") :].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the SQLite file (``mode=ro``: it cannot write or migrate)."""
    if not path.exists():
        raise StoreError(
            f"no trace store at {path}: nothing has been traced here yet "
            "(run your app first, or pass --tracking-uri)"
        )
    conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
    try:
        yield conn
    finally:
        conn.close()


def available(conn: sqlite3.Connection) -> bool:
    """True when the installed MLflow is a checked release and the file has the columns read."""
    try:
        if not metadata.version("mlflow").startswith(CHECKED_MLFLOW):
            return False
        for table, columns in _NEEDED.items():
            found = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            if not columns <= found:
                return False
    except (metadata.PackageNotFoundError, sqlite3.Error):
        return False
    return True


def experiment_id(conn: sqlite3.Connection, name: str, where: str) -> int:
    """The id of the active experiment ``name``; a one-line `StoreError` naming the others."""
    row = conn.execute(
        "SELECT experiment_id FROM experiments WHERE name = ? AND lifecycle_stage = 'active'",
        (name,),
    ).fetchone()
    if row is None:
        names = [r[0] for r in conn.execute("SELECT name FROM experiments ORDER BY name")]
        known = ", ".join(repr(n) for n in names) or "none"
        raise StoreError(
            f"no experiment {name!r} in {where} (experiments: {known}); pass --experiment"
        )
    return int(row[0])


def _rows(conn: sqlite3.Connection, units: str, keys: str, params: dict[str, int]) -> list[tuple]:
    return conn.execute(_AGGREGATE.format(units=units, keys=keys), params).fetchall()


def aggregate(
    conn: sqlite3.Connection,
    exp_id: int,
    *,
    since_ms: int,
    until_ms: int,
    every_ms: int,
    by: str,
) -> Aggregate:
    """Total, buckets, groups and each group's buckets of the window, all computed by SQLite."""
    params = {"exp": exp_id, "since": since_ms, "until": until_ms, "every": every_ms}
    trace_units = _TRACE_UNITS.format(group="NULL" if by in SPAN_GROUPINGS else _GROUP[by])
    rows = _rows(conn, trace_units, _TOTAL_KEYS, params)
    group_units = _SPAN_UNITS.format(group=_GROUP[by]) if by in SPAN_GROUPINGS else trace_units
    rows += _rows(conn, group_units, _GROUP_KEYS, params)
    total = Figures("all")
    buckets: list[Figures] = []
    groups: list[Figures] = []
    cells: dict[str, dict[int, Figures]] = {}
    for kind, g, b, c, e, *ranked, tk, cost in rows:
        p50, p95, p99 = (None if v is None else float(v) for v in ranked)
        key = "all" if kind == "total" else str(b) if kind == "bucket" else str(g)
        found = Figures(key, int(c), int(e or 0), p50, p95, p99, int(tk or 0), float(cost or 0))
        if kind == "total":
            total = found
        elif kind == "bucket":
            buckets.append(found)
        elif kind == "group":
            groups.append(found)
        else:
            cells.setdefault(key, {})[int(b)] = found
    buckets.sort(key=lambda f: int(f.key))
    return Aggregate(total, buckets, groups, cells)
