"""The views' fast read path: MLflow's SQLite tables read directly, without importing MLflow.

`SqliteReader` answers what `views._store.Store` asks of MLflow's client -- an experiment by
name, a trace search, one trace with its spans -- with the objects MLflow 3.17's
`SqlAlchemyStore` would build, in the shape the views read (`_stored`): trace info from
``trace_info`` (trace name, session, token usage and cost are columns there and come back as
the tag and metadata entries MLflow synthesizes), tags, request metadata, assessments, and
spans from ``spans.content`` (the JSON of `Span.to_dict`), sorted as MLflow sorts them.

Whatever it does not answer exactly as MLflow would raises `Unsupported`, and the caller asks
MLflow: filters outside `_sqlite_filter`'s set, other orderings, spans kept outside the
tracking store (artifacts, archives) or cleared, traces MLflow would still wait for, spans in
older formats, issue assessments. The guard on MLflow's version and schema is
`_sqlite_schema.open_checked`.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from ._sessions import SessionSummary
from ._sqlite_filter import Unsupported, to_sql
from ._stored import StoredAssessment, StoredSpan, StoredTrace, StoredTraceInfo

_INFO_COLUMNS = (
    "request_id", "experiment_id", "timestamp_ms", "execution_time_ms", "status",
    "client_request_id", "request_preview", "response_preview", "trace_name", "session_id",
)  # fmt: skip
_TOKEN_COLUMNS = (  # MLflow's TOKEN_COLUMN_BY_KEY: the usage key is the column's name
    "input_tokens", "output_tokens", "total_tokens", "cache_read_input_tokens",
    "cache_creation_input_tokens", "cache_creation_input_tokens_above_1hr",
)  # fmt: skip
_COST_COLUMNS = ("input_cost", "output_cost", "total_cost")
_SELECT = ", ".join(f"t.{c}" for c in (*_INFO_COLUMNS, *_TOKEN_COLUMNS, *_COST_COLUMNS))
_TRACE_NAME = "mlflow.traceName"
_PROMOTED = frozenset({"mlflow.trace.session", "mlflow.trace.tokenUsage", "mlflow.trace.cost"})
_SPANS_LOCATION = "mlflow.trace.spansLocation"
_SIZE_STATS = "mlflow.trace.sizeStats"
_STATES = frozenset({"STATE_UNSPECIFIED", "OK", "ERROR", "IN_PROGRESS"})
_ORDER = {
    None: "t.timestamp_ms DESC, t.request_id ASC",
    "timestamp_ms DESC": "t.timestamp_ms DESC, t.request_id ASC",
    "timestamp_ms ASC": "t.timestamp_ms ASC, t.request_id ASC",
}
_BATCH = 500  # MLflow's _TRACE_CHILD_QUERY_BATCH_SIZE (under SQLite's bound-parameter limit)
_USER = "mlflow.trace.user"
_NEWEST = "t.timestamp_ms DESC, t.request_id ASC"


class ExperimentMissing(Exception):
    """No experiment of that name; ``names`` are the active experiments."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(", ".join(names))
        self.names = names


def _token_count(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise Unsupported("token column of another type")  # MLflow's Decimal rules apply


def _batches(ids: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), _BATCH):
        yield ids[start : start + _BATCH]


def _marks(n: int) -> str:
    return ", ".join("?" * n)


class SqliteReader:
    """Read-only queries on one MLflow SQLite store (a connection from `open_checked`).

    Example:
        >>> reader = SqliteReader(open_checked("sqlite:///mlflow.db"), "sqlite:///mlflow.db")
        >>> [t.info.trace_id for t in reader.search(reader.experiment("Default"), max_results=5)]
    """

    def __init__(self, conn: sqlite3.Connection, tracking_uri: str) -> None:
        self.conn = conn
        self.tracking_uri = tracking_uri

    def experiment(self, name: str) -> str:
        """The id of the (not deleted) experiment ``name``; `ExperimentMissing` otherwise."""
        row = self.conn.execute(
            "SELECT experiment_id, lifecycle_stage FROM experiments "
            "WHERE name = ? AND lifecycle_stage IN ('active', 'deleted')",
            (name,),
        ).fetchone()
        if row is None or row[1] == "deleted":
            names = [
                r[0]
                for r in self.conn.execute(
                    "SELECT name FROM experiments WHERE lifecycle_stage = 'active'"
                )
            ]
            raise ExperimentMissing(names)
        return str(row[0])

    def _infos(self, rows: list[tuple[Any, ...]]) -> list[StoredTraceInfo]:
        """MLflow's `_build_trace_infos_from_rows`: tags, metadata, assessments per trace."""
        ids = [row[0] for row in rows]
        tags: dict[str, dict[str, str]] = defaultdict(dict)
        meta: dict[str, dict[str, str]] = defaultdict(dict)
        assessments: dict[str, list[StoredAssessment]] = defaultdict(list)
        for batch in _batches(ids):
            marks = _marks(len(batch))
            for trace_id, key, value in self.conn.execute(
                f"SELECT request_id, key, value FROM trace_tags WHERE request_id IN ({marks})",
                batch,
            ):
                if key != _TRACE_NAME:
                    tags[trace_id][key] = value
            for trace_id, key, value in self.conn.execute(
                "SELECT request_id, key, value FROM trace_request_metadata "
                f"WHERE request_id IN ({marks})",
                batch,
            ):
                if key not in _PROMOTED:
                    meta[trace_id][key] = value
            for row in self.conn.execute(
                "SELECT assessment_id, trace_id, name, assessment_type, value, error, "
                "created_timestamp, last_updated_timestamp, source_type, source_id, run_id, "
                "span_id, rationale, overrides, valid, assessment_metadata "
                f"FROM assessments WHERE trace_id IN ({marks})",
                batch,
            ):
                assessments[row[1]].append(StoredAssessment.from_row(row))
        infos = []
        n_info, n_tokens = len(_INFO_COLUMNS), len(_TOKEN_COLUMNS)
        for row in rows:
            trace_id, experiment_id, ts, duration, status, client_id, req, resp, name, sid = row[
                :n_info
            ]
            if status not in _STATES:
                raise Unsupported(f"trace state {status!r}")
            trace_tags = tags[trace_id]
            if name is not None:
                trace_tags[_TRACE_NAME] = name
            trace_meta = meta[trace_id]
            if sid is not None:
                trace_meta["mlflow.trace.session"] = sid
            usage = {}
            for column, value in zip(_TOKEN_COLUMNS, row[n_info : n_info + n_tokens], strict=True):
                count = _token_count(value)
                if count is not None:
                    usage[column] = count
            if usage:
                trace_meta["mlflow.trace.tokenUsage"] = json.dumps(usage)
            cost = {
                column: value
                for column, value in zip(_COST_COLUMNS, row[n_info + n_tokens :], strict=True)
                if value is not None
            }
            if cost:
                trace_meta["mlflow.trace.cost"] = json.dumps(cost)
            infos.append(
                StoredTraceInfo(
                    trace_id=trace_id,
                    experiment_id=str(experiment_id),
                    request_time=ts,
                    execution_duration=duration,
                    state=status,
                    tags=trace_tags,
                    trace_metadata=trace_meta,
                    client_request_id=client_id,
                    request_preview=req,
                    response_preview=resp,
                    assessments=assessments[trace_id],
                )
            )
        return infos

    def _spans(
        self, infos: list[StoredTraceInfo], roots_only: bool = False
    ) -> dict[str, list[StoredSpan] | None]:
        """Each trace's spans as MLflow's `get_trace` orders them; None where MLflow would wait.

        ``roots_only``: parse only the spans without a parent (what MLflow would return is
        still decided on every span). `Unsupported` for traces whose spans are not in the
        tracking store or were cleared.
        """
        for info in infos:
            if info.tags.get(_SPANS_LOCATION) != "TRACKING_STORE":
                raise Unsupported("spans outside the tracking store")
        rows: dict[str, list[tuple[str, str | None, int]]] = defaultdict(list)
        counts: dict[str, int] = {}
        root_clause = " AND parent_span_id IS NULL" if roots_only else ""
        for batch in _batches([info.trace_id for info in infos]):
            marks = _marks(len(batch))
            if roots_only:
                for trace_id, n, cleared in self.conn.execute(
                    "SELECT trace_id, COUNT(*), SUM(content = '') FROM spans "
                    f"WHERE trace_id IN ({marks}) GROUP BY trace_id",
                    batch,
                ):
                    if cleared:
                        raise Unsupported("span payloads cleared (archived)")
                    counts[trace_id] = n
            for trace_id, content, parent, start in self.conn.execute(
                "SELECT trace_id, content, parent_span_id, start_time_unix_nano FROM spans "
                f"WHERE trace_id IN ({marks}){root_clause}",
                batch,
            ):
                if content == "":
                    raise Unsupported("span payloads cleared (archived)")
                rows[trace_id].append((content, parent, start))
        out: dict[str, list[StoredSpan] | None] = {}
        for info in infos:
            found = sorted(rows.get(info.trace_id, []), key=lambda r: (r[1] is not None, r[2]))
            stored = counts.get(info.trace_id, 0) if roots_only else len(found)
            expected = 0
            if stats := info.trace_metadata.get(_SIZE_STATS):
                try:
                    expected = int(json.loads(stats).get("num_spans", 0))
                except (TypeError, ValueError, AttributeError):
                    raise Unsupported("unreadable size stats") from None
            if not stored or stored < expected:
                out[info.trace_id] = None  # MLflow waits for the rest (or reports it missing)
            else:
                out[info.trace_id] = [StoredSpan.from_content(row[0]) for row in found]
        return out

    def get_trace(self, trace_id: str) -> StoredTrace | None:
        """The trace with its spans, None when the store has no such trace."""
        row = self.conn.execute(
            f"SELECT {_SELECT} FROM trace_info AS t WHERE t.request_id = ?", (trace_id,)
        ).fetchone()
        if row is None:
            return None
        info = self._infos([row])[0]
        spans = self._spans([info])[trace_id]
        if spans is None:
            raise Unsupported("trace not fully stored yet")  # MLflow retries, then explains
        return StoredTrace(info, spans, self.tracking_uri)

    def search(
        self,
        experiment_id: str,
        filter_string: str | None = None,
        *,
        max_results: int = 100,
        order_by: list[str] | None = None,
        include_spans: bool = False,
        roots_only: bool = False,
    ) -> list[StoredTrace]:
        """`MlflowClient.search_traces` on one experiment, every page up to ``max_results``.

        ``roots_only`` (with ``include_spans``): each trace's ``data.spans`` holds only its root
        span(s), the same traces are returned.
        """
        if order_by is not None and len(order_by) > 1:
            raise Unsupported("several order_by keys")
        key = order_by[0].strip() if order_by else None
        if key not in _ORDER:
            raise Unsupported(f"order_by {key!r}")
        conditions, params = to_sql(filter_string, int(experiment_id))
        where = " AND ".join(["t.experiment_id = ?", *conditions])
        sql = f"SELECT {_SELECT} FROM trace_info AS t WHERE {where} ORDER BY {_ORDER[key]} "
        out: list[StoredTrace] = []
        offset = 0
        page = max_results if not include_spans else min(max_results, _BATCH)
        while len(out) < max_results:
            want = min(page, max_results - len(out)) if include_spans else max_results
            rows = self.conn.execute(
                sql + "LIMIT ? OFFSET ?", [int(experiment_id), *params, want, offset]
            ).fetchall()
            infos = self._infos(rows)
            if include_spans:
                spans = self._spans(infos, roots_only)
                out.extend(
                    StoredTrace(i, s, self.tracking_uri)
                    for i in infos
                    if (s := spans[i.trace_id]) is not None
                )
            else:
                out.extend(StoredTrace(i, [], self.tracking_uri) for i in infos)
            offset += len(rows)
            if len(rows) < want:
                break
        return out[:max_results]

    def span_windows(self, trace_ids: list[str]) -> dict[str, tuple[int, int]]:
        """Each trace's first span start and last span end (ns), as `views._model.build` reads
        them from the spans (an end missing or 0 counts as the span's start); traces without
        stored spans are left out."""
        out: dict[str, tuple[int, int]] = {}
        for batch in _batches(trace_ids):
            for trace_id, first, last in self.conn.execute(
                "SELECT trace_id, MIN(start_time_unix_nano), "
                "MAX(COALESCE(NULLIF(end_time_unix_nano, 0), start_time_unix_nano)) "
                f"FROM spans WHERE trace_id IN ({_marks(len(batch))}) GROUP BY trace_id",
                batch,
            ):
                if first is not None and last is not None:
                    out[trace_id] = (int(first), int(last))
        return out

    def sessions(
        self, experiment_id: str, filter_string: str | None, *, scan: int, limit: int
    ) -> list[SessionSummary]:
        """`views._sessions.summarize_sessions` of the ``scan`` newest matching traces, in SQL.

        Turns, first and last start, tokens and failed turns are summed by ``GROUP BY``; the
        user and cost of the ``limit`` sessions shown come from their traces in scan order,
        summed as `summarize_sessions` sums them. `Unsupported` where the trace search would be.
        """
        conditions, params = to_sql(filter_string)
        where = " AND ".join(["t.experiment_id = ?", *conditions])
        scanned = (
            "WITH scanned AS (SELECT t.request_id, t.session_id, t.timestamp_ms, t.status, "
            "t.total_tokens, t.input_tokens, t.output_tokens, t.total_cost, "
            f"ROW_NUMBER() OVER (ORDER BY {_NEWEST}) AS rn FROM trace_info AS t "
            f"WHERE {where} ORDER BY {_NEWEST} LIMIT ?) "
        )
        args = [int(experiment_id), *params, scan]
        states = ", ".join(f"'{state}'" for state in sorted(_STATES))
        integer = "('integer', 'null')"
        (odd,) = self.conn.execute(
            scanned + f"SELECT COUNT(*) FROM scanned WHERE status NOT IN ({states}) OR "
            f"typeof(total_tokens) NOT IN {integer} OR typeof(input_tokens) NOT IN {integer} "
            f"OR typeof(output_tokens) NOT IN {integer}",
            args,
        ).fetchone()
        if odd:
            raise Unsupported("trace states or token counts the trace search reads otherwise")
        groups = self.conn.execute(
            scanned + "SELECT session_id, COUNT(*), MIN(timestamp_ms), MAX(timestamp_ms), "
            "SUM(COALESCE(total_tokens, COALESCE(input_tokens, 0) + COALESCE(output_tokens, 0))), "
            "SUM(status = 'ERROR') FROM scanned WHERE session_id != '' "
            "GROUP BY session_id ORDER BY MIN(rn) LIMIT ?",
            [*args, limit],
        ).fetchall()
        found = {
            sid: SessionSummary(sid, None, turns, first, last, int(tokens), None, int(errors))
            for sid, turns, first, last, tokens, errors in groups
        }
        seen: set[str] = set()
        for batch in _batches(list(found)):
            for sid, cost, user in self.conn.execute(
                scanned + "SELECT s.session_id, s.total_cost, m.value FROM scanned AS s "
                "LEFT JOIN trace_request_metadata AS m "
                "ON m.request_id = s.request_id AND m.key = ? "
                f"WHERE s.session_id IN ({_marks(len(batch))}) ORDER BY s.rn",
                [*args, _USER, *batch],
            ):
                summary = found[sid]
                if sid not in seen:  # the session's newest trace
                    seen.add(sid)
                    summary.user, summary.cost = user, cost
                    continue
                if cost is not None:
                    summary.cost = (summary.cost or 0.0) + cost
                summary.user = summary.user or user
        return list(found.values())
