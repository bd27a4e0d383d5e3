"""Read traces back through MLflow (thin wrappers; MLflow's own objects come back)."""

from __future__ import annotations

from typing import Any

from .. import _runtime
from .._errors import TraceNotFoundError

_PAGE = 500  # the most traces an MLflow server returns per search request


def _client() -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=_runtime.current_config().tracking_uri)


def _experiment_ids(experiment: str | None) -> list[str]:
    """The experiment's id, read-only: reading never creates an experiment."""
    from .._errors import LLMTraceError

    config = _runtime.current_config()
    name = experiment or config.experiment or "Default"
    found = _client().get_experiment_by_name(name)
    if found is None:
        raise LLMTraceError(
            f"no experiment {name!r} in {config.tracking_uri}; check the name or the store"
        )
    return [str(found.experiment_id)]


def get_trace(trace_id: str, *, flush: bool = True) -> Any:
    """Return the stored `mlflow.entities.Trace` with this id (``tr-...``).

    Flushes pending spans first (unless ``flush=False``) so a trace just made is found.

    Example:
        >>> trace = llmtrace.get_trace(handle.trace_id)
        >>> [s.name for s in trace.data.spans]
    """
    if flush:
        _runtime.flush()
    trace = None
    if _is_trace_id(trace_id):
        from mlflow.exceptions import MlflowException

        try:
            trace = _client().get_trace(trace_id)
        except MlflowException as exc:
            if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise
    if trace is None:
        raise TraceNotFoundError(
            f"no trace {trace_id!r} in {_runtime.current_config().tracking_uri}; "
            "list ids with llmtrace.search_traces()"
        )
    return trace


def _is_trace_id(trace_id: Any) -> bool:
    return isinstance(trace_id, str) and bool(trace_id.strip())


def search_traces(
    filter_string: str | None = None,
    *,
    experiment: str | None = None,
    max_results: int = 100,
    order_by: list[str] | None = None,
    return_type: str = "list",
    flush: bool = True,
) -> Any:
    """Search stored traces of the configured (or given) experiment, newest first.

    Args:
        filter_string: MLflow's trace filter syntax, e.g.
            ``"metadata.`mlflow.trace.session` = 'conv-42'"`` or ``"status = 'ERROR'"``.
        experiment: experiment name; default the configured one.
        max_results: at most this many traces.
        order_by: e.g. ``["timestamp_ms DESC"]`` (the default).
        return_type: ``"list"`` for `mlflow.entities.Trace` objects, ``"pandas"`` for a
            DataFrame.

    Example:
        >>> for t in llmtrace.search_traces("status = 'ERROR'"):
        ...     print(t.info.trace_id)
    """
    if return_type not in ("list", "pandas"):
        from .._errors import LLMTraceError

        raise LLMTraceError(f"return_type must be 'list' or 'pandas', got {return_type!r}")
    if flush:
        _runtime.flush()
    client, locations = _client(), _experiment_ids(experiment)
    traces: list[Any] = []
    token = None
    while len(traces) < max_results:  # an MLflow server answers at most 500 traces a page
        page = client.search_traces(  # our store, without touching MLflow's global tracking URI
            locations=locations,
            filter_string=filter_string,
            max_results=min(_PAGE, max_results - len(traces)),
            order_by=order_by or ["timestamp_ms DESC"],
            page_token=token,
        )
        traces.extend(page)
        token = getattr(page, "token", None)
        if not token or not page:
            break
    if return_type == "list":
        return traces
    from mlflow.tracing.utils.search import traces_to_df

    return traces_to_df(traces)
