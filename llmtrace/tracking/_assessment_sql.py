"""Many assessments into MLflow's SQLite store in one transaction, through MLflow's own models.

`SqlAlchemyStore.create_assessment` opens a transaction, locks and reads the trace, inserts one
row and commits, per assessment: ~10 ms each on SQLite. `write` does the same work for a whole
list: one read of the traces (and the spans named), one insert of rows built by MLflow's own
`SqlAssessments.from_mlflow_entity`, one commit. It is used only where it was checked
(`supported`): a plain SQLite `SqlAlchemyStore` of an MLflow release in `CHECKED_MLFLOW`, with
the ``assessments`` columns of that release and trace rollups off (they queue work per
assessment). `tests/tracking/test_assessment_sql.py` compares every stored column with what
`create_assessment` writes. Elsewhere the caller logs one assessment at a time through MLflow.
"""

from __future__ import annotations

from typing import Any

CHECKED_MLFLOW = ("3.17.",)
"""MLflow releases whose `create_assessment` this module was compared with, row by row."""

_ASSESSMENT_COLUMNS = frozenset(
    {
        "assessment_id", "trace_id", "name", "assessment_type", "value", "error",
        "created_timestamp", "last_updated_timestamp", "experiment_id", "trace_timestamp_ms",
        "aggregate_value", "is_numeric_value", "source_type", "source_id", "run_id", "span_id",
        "rationale", "overrides", "valid", "assessment_metadata",
    }
)  # fmt: skip
_CHUNK = 500  # ids per IN (...) query, well under SQLite's variable limit


def store_for(uri: str) -> Any | None:
    """MLflow's tracking store for ``uri``, or None for remote (HTTP) stores."""
    if uri.startswith(("http://", "https://", "databricks")):
        return None
    try:
        from mlflow.tracking._tracking_service.utils import _get_store

        return _get_store(uri)
    except Exception:
        return None


def supported(store: Any) -> bool:
    """True when ``store`` is a plain SQLite `SqlAlchemyStore` of a checked MLflow release."""
    try:
        import mlflow
        from mlflow.store.tracking.dbmodels.models import SqlAssessments
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
        from mlflow.store.tracking.utils.sql_trace_rollups import rollups_enabled
    except ImportError:
        return False
    if not mlflow.__version__.startswith(CHECKED_MLFLOW):
        return False
    if type(store) is not SqlAlchemyStore or store.db_type != "sqlite" or rollups_enabled():
        return False
    return {c.name for c in SqlAssessments.__table__.columns} == _ASSESSMENT_COLUMNS


def write(store: Any, assessments: list[Any]) -> tuple[list[Any], tuple[str, str | None] | None]:
    """Store ``assessments`` (MLflow entities with ``trace_id`` set) in one transaction.

    Returns ``(stored entities, None)``, or ``([], (trace_id, span_id or None))`` naming the first
    trace or span the store does not hold, in which case nothing was written.
    """
    from mlflow.store.tracking.dbmodels.models import SqlAssessments, SqlSpan, SqlTraceInfo

    trace_ids = sorted({a.trace_id for a in assessments})
    wanted_spans = sorted({(a.trace_id, a.span_id) for a in assessments if a.span_id})
    with store.ManagedSessionMaker(read_only=False) as session:
        traces: dict[str, tuple[Any, Any]] = {}
        for i in range(0, len(trace_ids), _CHUNK):
            chunk = trace_ids[i : i + _CHUNK]
            query = session.query(
                SqlTraceInfo.request_id, SqlTraceInfo.experiment_id, SqlTraceInfo.timestamp_ms
            ).filter(SqlTraceInfo.request_id.in_(chunk))
            traces.update({rid: (exp, ts) for rid, exp, ts in query})
        for a in assessments:
            if a.trace_id not in traces:
                return [], (a.trace_id, None)
        if wanted_spans:
            span_traces = sorted({t for t, _ in wanted_spans})
            found: set[tuple[str, str]] = set()
            for i in range(0, len(span_traces), _CHUNK):
                chunk = span_traces[i : i + _CHUNK]
                query = session.query(SqlSpan.trace_id, SqlSpan.span_id).filter(
                    SqlSpan.trace_id.in_(chunk)
                )
                found.update((t, s) for t, s in query)
            for trace_id, span_id in wanted_spans:
                if (trace_id, span_id) not in found:
                    return [], (trace_id, span_id)
        rows = []
        for a in assessments:
            row = SqlAssessments.from_mlflow_entity(a)
            row.experiment_id, row.trace_timestamp_ms = traces[a.trace_id]
            rows.append(row)
        session.add_all(rows)
        session.flush()
        return [row.to_mlflow_entity() for row in rows], None
