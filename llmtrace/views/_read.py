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
    flush: bool = True,
    roots_only: bool = False,
) -> list[Any]:
    """The experiment's traces with their spans, newest first, as `llmtrace.search_traces` finds.

    Args:
        filter_string: MLflow's trace filter, e.g. ``"feedback.`helpful` = 'false'"``.
        tracking_uri: the store; default the configured one (`llmtrace.current_config`).
        experiment: the experiment's name; default the configured one.
        max_results: at most this many traces.
        order_by: ``["timestamp_ms DESC"]`` (the default) or ``["timestamp_ms ASC"]`` on the
            fast path; other orderings are MLflow's.
        fast: False reads through MLflow's client only (MLflow's `Trace` objects).
        flush: export pending spans first (as `llmtrace.search_traces` does), so a trace just
            made is found.
        roots_only: only the root span(s) need be in ``data.spans`` (the fast path then
            parses no other span; MLflow's client still gives them all). The same traces.

    Raises:
        StoreError: no such store or experiment (one line), or MLflow refused the search.

    Example:
        >>> traces = llmtrace.views.read_traces("status = 'ERROR'", max_results=10)
        >>> [(t.info.trace_id, t.data.spans[0].inputs) for t in traces]
    """
    from .._runtime import current_config
    from .._runtime import flush as flush_pending
    from ._store import Store

    if flush:
        flush_pending()
    if tracking_uri is None or experiment is None:
        config = current_config()
        tracking_uri = tracking_uri or config.tracking_uri
        experiment = experiment or config.experiment
    store = Store(tracking_uri, experiment, fast=fast)
    return store.search(
        filter_string,
        max_results=max_results,
        order_by=order_by,
        include_spans=True,
        roots_only=roots_only,
    )
