"""`llmtrace.views.read_traces`: stored traces with their spans, read the fastest safe way.

On a SQLite store of a checked MLflow release and schema the traces come straight from MLflow's
tables (`_sqlite_read`; MLflow is not imported) as objects with the attributes of MLflow's
`Trace` that tools read (``info`` with tags, metadata and assessments; ``data.spans`` with
``inputs``, ``outputs``, ``get_attribute``); servers, PostgreSQL, other schemas and the filters
that path does not translate get MLflow's own `Trace` objects from its client.
"""

from __future__ import annotations

from typing import Any


def read_traces(
    filter_string: str | None = None,
    *,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    max_results: int = 100,
    order_by: list[str] | None = None,
    fast: bool = True,
) -> list[Any]:
    """The experiment's traces with their spans, newest first, as `llmtrace.search_traces` finds.

    Args:
        filter_string: MLflow's trace filter, e.g. ``"feedback.`helpful` = 'false'"``.
        tracking_uri: the store; default as `llmtrace.configure` resolves it.
        experiment: the experiment's name; default the configured one.
        max_results: at most this many traces.
        order_by: ``["timestamp_ms DESC"]`` (the default) or ``["timestamp_ms ASC"]`` on the
            fast path; other orderings are MLflow's.
        fast: False reads through MLflow's client only (MLflow's `Trace` objects).

    Raises:
        StoreError: no such store or experiment (one line), or MLflow refused the search.

    Example:
        >>> traces = llmtrace.views.read_traces("status = 'ERROR'", max_results=10)
        >>> [(t.info.trace_id, t.data.spans[0].inputs) for t in traces]
    """
    from ._store import Store

    store = Store(tracking_uri, experiment, fast=fast)
    return store.search(
        filter_string, max_results=max_results, order_by=order_by, include_spans=True
    )
