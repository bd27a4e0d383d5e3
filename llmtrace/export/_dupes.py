"""A trace id the store already holds for another trace is refused, never merged into it.

MLflow's ``log_spans`` upserts: spans of an incoming trace whose id is already stored are
added to (or overwrite) the stored trace. That is right for one trace arriving in several
batches (children first and the root later, a long session), and wrong when the id repeats for
a different trace (a tracer whose ids follow a ``random.seed()`` the program set): the second
trace silently merges into, or overwrites, the first. Ids repeat from such a tracer with the
same span ids too, so "another trace" is told by the root: the incoming trace has a root span
and the stored one has a root with another span id or another start time, or an incoming span
has the id of a stored span with another start time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

_CHUNK = 500  # ids per IN (...) list
MARK = "is already stored for another trace"
"""In the reason of every refusal made here (`is_duplicate`)."""
HINT = "trace ids repeat when a tracer's id generator follows random.seed()"


def is_duplicate(reason: str) -> bool:
    """Whether a refusal reason comes from `conflicts`."""
    return MARK in reason


def conflicts(
    session: Any, by_trace: Mapping[str, list[Any]], stored: Iterable[str]
) -> dict[str, str]:
    """``{trace_id: reason}`` for the traces of ``by_trace`` (MLflow spans by trace id) that
    the store holds for another trace. ``stored``: the ids among them already in the store;
    ``session`` a SQLAlchemy session on MLflow's tracking tables."""
    from mlflow.store.tracking.dbmodels.models import SqlSpan
    from sqlalchemy import or_, select

    stored = [t for t in stored if t in by_trace]
    found: dict[str, str] = {}
    for i in range(0, len(stored), _CHUNK):
        ids = stored[i : i + _CHUNK]
        span_ids = sorted({s.span_id for t in ids for s in by_trace[t]})
        rows = session.execute(
            select(
                SqlSpan.trace_id,
                SqlSpan.span_id,
                SqlSpan.parent_span_id,
                SqlSpan.start_time_unix_nano,
            ).where(
                SqlSpan.trace_id.in_(ids),
                or_(SqlSpan.parent_span_id.is_(None), SqlSpan.span_id.in_(span_ids)),
            )
        )
        for trace_id, span_id, parent_id, start in rows:
            if trace_id in found:
                continue
            reason = _conflict(by_trace[trace_id], span_id, parent_id, start)
            if reason is not None:
                found[trace_id] = f"trace id {trace_id} {MARK} ({reason})"
    return found


def _conflict(spans: list[Any], span_id: str, parent_id: str | None, start: int) -> str | None:
    for span in spans:
        if span.span_id == span_id and span.start_time_ns != start:
            return f"span {span_id} started at another time"
    if parent_id is None:
        roots = [s for s in spans if s.parent_id is None]
        if roots and all((s.span_id, s.start_time_ns) != (span_id, start) for s in roots):
            return f"its root is not span {roots[0].span_id}"
    return None


def find(store: Any, by_trace: Mapping[str, list[Any]]) -> dict[str, str]:
    """`conflicts` for a SQL tracking store, in a read session of its own; ``{}`` for other
    stores (they are not checked)."""
    try:
        from mlflow.store.tracking.dbmodels.models import SqlTraceInfo
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
        from sqlalchemy import select
    except ImportError:
        return {}
    if not isinstance(store, SqlAlchemyStore) or not by_trace:
        return {}
    ids = list(by_trace)
    with store.ManagedSessionMaker() as session:
        stored: list[str] = []
        for i in range(0, len(ids), _CHUNK):
            stored.extend(
                session.scalars(
                    select(SqlTraceInfo.request_id).where(
                        SqlTraceInfo.request_id.in_(ids[i : i + _CHUNK])
                    )
                )
            )
        return conflicts(session, by_trace, stored) if stored else {}
