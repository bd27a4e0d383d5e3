"""Classic MLflow tracking through llmtrace: store, experiment, runs, params, metrics, tags.

Thin wrappers over MLflow's own functions. They all use llmtrace's tracking URI and experiment
(`llmtrace.current_config()`), so traces and runs land in one store: before each call the
settings are pushed into MLflow (``mlflow.set_tracking_uri`` / ``mlflow.set_experiment``), and
`set_tracking_uri` / `set_experiment` change llmtrace's tracing settings too. MLflow's refusals
become one-line `TrackingError` subclasses, with the MLflow exception chained.
"""

from __future__ import annotations

import numbers
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from .. import _config, _runtime
from .._errors import InvalidValueError, LLMTraceError, RunNotFoundError, TrackingError

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.entities import Experiment, Run


_lock = threading.Lock()
#: (tracking URI, experiment name, experiment id) last pushed into MLflow's fluent state.
_synced: tuple[str, str | None, str] | None = None


# -- errors ---------------------------------------------------------------------------------
def _one_line(text: str, limit: int = 300) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


@contextmanager
def mlflow_errors(
    action: str, *, not_found: type[TrackingError] = RunNotFoundError
) -> Iterator[None]:
    """Turn an `MlflowException` raised inside the block into a one-line `TrackingError`.

    ``RESOURCE_DOES_NOT_EXIST`` becomes ``not_found``, ``INVALID_PARAMETER_VALUE``
    `InvalidValueError`, anything else `TrackingError`; the message starts with ``action``.
    """
    try:
        yield
    except LLMTraceError:
        raise
    except Exception as exc:
        from mlflow.exceptions import MlflowException

        if not isinstance(exc, MlflowException):
            raise
        code = getattr(exc, "error_code", "")
        cls: type[TrackingError] = TrackingError
        if code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
            cls = not_found
        elif code == "INVALID_PARAMETER_VALUE":
            cls = InvalidValueError
        raise cls(f"{action}: {_one_line(exc.message)}") from exc


# -- one store for traces and runs ------------------------------------------------------------
def sync() -> str:
    """Point MLflow's fluent API at llmtrace's store and experiment; return the experiment id."""
    global _synced
    import mlflow
    from mlflow.tracking import fluent

    from ..export._store_setup import resolve_experiment_id, sqlite_setup_lock

    config = _runtime.current_config()
    uri = config.tracking_uri
    with _lock:
        if mlflow.get_tracking_uri() != uri:
            mlflow.set_tracking_uri(uri)
        synced = _synced
        if (
            synced is not None
            and synced[:2] == (uri, config.experiment)
            and getattr(fluent, "_active_experiment_id", synced[2]) == synced[2]
        ):
            return synced[2]
        name = config.experiment or "Default"
        # MLflow creates the schema of a new SQLite file on this first open: the export
        # process may be doing the same at this moment, so one first open at a time.
        with (
            mlflow_errors(f"experiment {name!r} in {uri}", not_found=TrackingError),
            sqlite_setup_lock(uri),
        ):
            experiment_id = resolve_experiment_id(uri, config.experiment)
            mlflow.set_experiment(experiment_id=experiment_id)
        _synced = (uri, config.experiment, experiment_id)
        return experiment_id


def _reconfigure(**changes: Any) -> None:
    """`llmtrace.configure` again with ``changes``, keeping every other option as it was."""
    options = dict(getattr(_runtime, "_pending", None) or {})
    options.update(changes)
    new = _config.resolve(**options)  # raises ConfigurationError before anything changes
    old = _runtime.current_config()
    if (new.tracking_uri, new.experiment) != (old.tracking_uri, old.experiment):
        _runtime.configure(**options)


def set_tracking_uri(uri: str | os.PathLike[str]) -> None:
    """Use this store for traces and runs alike (llmtrace's tracing config and MLflow's).

    Same values as ``configure(tracking_uri=...)``: ``sqlite:///path.db``, ``postgresql://...``
    or the ``http(s)://host:port`` of an ``mlflow server``. Other `configure` options are kept.

    Example:
        >>> llmtrace.set_tracking_uri("sqlite:///mlflow.db")
        >>> llmtrace.set_tracking_uri("http://127.0.0.1:5000")
    """
    import mlflow

    _reconfigure(tracking_uri=os.fspath(uri))
    mlflow.set_tracking_uri(_runtime.current_config().tracking_uri)


def set_experiment(name: str) -> Experiment:
    """Use (creating if needed) this experiment for traces and runs; return MLflow's Experiment.

    Example:
        >>> exp = llmtrace.set_experiment("iris-classifier")
        >>> exp.experiment_id
        '1'
    """
    _reconfigure(experiment=name)
    experiment_id = sync()
    with mlflow_errors(f"set_experiment({name!r})", not_found=TrackingError):
        return client().get_experiment(experiment_id)


def experiment_id(name: str | None = None) -> str:
    """The id of experiment ``name`` in llmtrace's store, created (or restored) if needed.

    ``name`` defaults to llmtrace's configured experiment (MLflow's ``Default`` when none is
    set). Unlike `set_experiment`, nothing is reconfigured: traces keep going where they went.
    Several processes opening a new SQLite store at once are safe: the first open, which creates
    the schema, happens one process at a time (as in the exporter).

    Example:
        >>> runs = llmtrace.client()
        >>> run = runs.create_run(llmtrace.experiment_id("nightly-evals"), run_name="2024-06-01")
        >>> mlflow.search_traces(experiment_ids=[llmtrace.experiment_id()])
    """
    from ..export._store_setup import resolve_experiment_id, sqlite_setup_lock

    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise InvalidValueError(f"experiment name must be a non-empty string, got {name!r}")
    config = _runtime.current_config()
    uri = config.tracking_uri
    chosen = config.experiment if name is None else name.strip()
    action = f"experiment {chosen or 'Default'!r} in {uri}"
    with mlflow_errors(action, not_found=TrackingError), sqlite_setup_lock(uri):
        return resolve_experiment_id(uri, chosen)


def client() -> MlflowClient:
    """An `mlflow.MlflowClient` on llmtrace's store, for anything this facade leaves out.

    Example:
        >>> c = llmtrace.client()
        >>> c.get_metric_history(run_id, "loss")
    """
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=_runtime.current_config().tracking_uri)


# -- runs -------------------------------------------------------------------------------------
class ActiveRun:
    """The run `start_run` began: MLflow's run (``.info``, ``.data``) and a context manager.

    Leaving the ``with`` block flushes llmtrace (so the block's traces are stored and linked to
    the run) and ends the run: ``FINISHED``, or ``FAILED`` if the block raised.
    """

    def __init__(self, run: Any) -> None:
        self._run = run

    @property
    def info(self) -> Any:
        """MLflow's `RunInfo`: ``run_id``, ``run_name``, ``experiment_id``, ``artifact_uri``..."""
        return self._run.info

    @property
    def data(self) -> Any:
        """MLflow's `RunData` as it was when the run started."""
        return self._run.data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._run, name)

    def __repr__(self) -> str:
        return f"<ActiveRun run_id={self.info.run_id!r} name={self.info.run_name!r}>"

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _runtime.flush()
        self._run.__exit__(exc_type, exc, tb)


def start_run(
    run_name: str | None = None,
    *,
    nested: bool = False,
    run_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
) -> ActiveRun:
    """Start a run (or resume ``run_id``) in llmtrace's experiment; use it with ``with``.

    Traces begun while the run is active are linked to it (MLflow's run page, Traces tab;
    ``mlflow.search_traces(run_id=...)``). A second run while one is active needs
    ``nested=True``.

    Example:
        >>> with llmtrace.start_run(run_name="rf-baseline") as run:
        ...     llmtrace.log_param("n_estimators", 100)
        ...     with llmtrace.start_run(run_name="fold-1", nested=True):
        ...         llmtrace.log_metric("f1", 0.91)
        >>> run.info.run_id
    """
    import mlflow

    experiment_id = sync()
    what = f"start_run(run_id={run_id!r})" if run_id else "start_run"
    current = mlflow.active_run()
    if current is not None and not nested:
        raise TrackingError(
            f"{what}: run {current.info.run_id} is already active; end it first "
            "(leave its with block, or end_run()) or pass nested=True"
        )
    with mlflow_errors(what):
        active = mlflow.start_run(
            run_id=run_id,
            experiment_id=None if run_id else experiment_id,
            run_name=run_name,
            nested=nested,
            tags=dict(tags) if tags else None,
            description=description,
        )
    return ActiveRun(active)


def end_run(status: Literal["FINISHED", "FAILED", "KILLED"] = "FINISHED") -> None:
    """End the active run (after flushing llmtrace so its traces are linked). No-op if none.

    Example:
        >>> run = llmtrace.start_run()
        >>> llmtrace.log_metric("loss", 0.1)
        >>> llmtrace.end_run()
    """
    import mlflow

    _runtime.flush()
    with mlflow_errors("end_run"):
        mlflow.end_run(status)


def active_run() -> Run | None:
    """The active run of this thread (MLflow's `ActiveRun`), or None.

    Example:
        >>> with llmtrace.start_run() as run:
        ...     assert llmtrace.active_run().info.run_id == run.info.run_id
    """
    import mlflow

    return mlflow.active_run()


def get_run(run_id: str) -> Run:
    """The stored run with its params, metrics and tags; `RunNotFoundError` if there is none.

    Example:
        >>> llmtrace.get_run(run.info.run_id).data.metrics["f1"]
        0.93
    """
    with mlflow_errors(f"get_run({run_id!r})"):
        return client().get_run(run_id)


def _run_of(run_id: str | None, action: str) -> str:
    """``run_id``, or the active run's id; a `TrackingError` if neither."""
    if run_id is not None:
        return run_id
    run = active_run()
    if run is None:
        raise TrackingError(f"{action}: no active run; pass run_id= or call inside start_run()")
    return str(run.info.run_id)


# -- params, metrics, tags --------------------------------------------------------------------
def log_param(key: str, value: Any) -> Any:
    """Log one parameter of the active run (a run is started if none is); returns ``value``.

    Example:
        >>> llmtrace.log_param("max_depth", 8)
    """
    import mlflow

    sync()
    with mlflow_errors(f"log_param({key!r})", not_found=TrackingError):
        return mlflow.log_param(key, value)


def log_params(params: Mapping[str, Any]) -> None:
    """Log several parameters of the active run.

    Example:
        >>> llmtrace.log_params({"n_estimators": 200, "max_depth": 8})
    """
    import mlflow

    sync()
    with mlflow_errors("log_params", not_found=TrackingError):
        mlflow.log_params(dict(params))


def _check_number(key: str, value: Any) -> float:
    if isinstance(value, numbers.Real):
        return float(value)
    raise InvalidValueError(
        f"metric {key!r} must be a number, got {type(value).__name__} {_one_line(repr(value), 60)}"
    )


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Log a metric value of the active run, at ``step`` (for curves: loss per epoch...).

    Example:
        >>> for epoch, loss in enumerate([0.9, 0.5, 0.3]):
        ...     llmtrace.log_metric("loss", loss, step=epoch)
    """
    import mlflow

    number = _check_number(key, value)
    sync()
    with mlflow_errors(f"log_metric({key!r})", not_found=TrackingError):
        mlflow.log_metric(key, number, step=step)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log several metrics of the active run at once (all at ``step``).

    Example:
        >>> llmtrace.log_metrics({"accuracy": 0.95, "f1": 0.93})
    """
    import mlflow

    numbers_ = {key: _check_number(key, value) for key, value in metrics.items()}
    sync()
    with mlflow_errors("log_metrics", not_found=TrackingError):
        mlflow.log_metrics(numbers_, step=step)


def set_tag(key: str, value: Any) -> None:
    """Set a tag on the active run (e.g. the team, the dataset, ``mlflow.note.content``).

    Example:
        >>> llmtrace.set_tag("team", "search")
    """
    import mlflow

    sync()
    with mlflow_errors(f"set_tag({key!r})", not_found=TrackingError):
        mlflow.set_tag(key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    """Set several tags on the active run.

    Example:
        >>> llmtrace.set_tags({"team": "search", "stage": "baseline"})
    """
    import mlflow

    sync()
    with mlflow_errors("set_tags", not_found=TrackingError):
        mlflow.set_tags(dict(tags))


# -- search -----------------------------------------------------------------------------------
def search_runs(
    filter_string: str | None = None,
    *,
    experiment: str | list[str] | None = None,
    order_by: list[str] | None = None,
    max_results: int = 100,
    return_type: Literal["list", "pandas"] = "list",
) -> list[Run] | pd.DataFrame:
    """Search the runs of llmtrace's experiment (or the named ones).

    Args:
        filter_string: MLflow's run filter, e.g. ``"metrics.f1 > 0.9 and params.model = 'rf'"``.
        experiment: an experiment name or a list of names; default the configured one.
        order_by: e.g. ``["metrics.f1 DESC"]``.
        max_results: at most this many runs.
        return_type: ``"list"`` of `mlflow.entities.Run`, or ``"pandas"`` for a DataFrame
            (columns ``run_id``, ``params.*``, ``metrics.*``, ``tags.*``...).

    Example:
        >>> best = llmtrace.search_runs(order_by=["metrics.f1 DESC"], max_results=3)
        >>> [(r.info.run_name, r.data.metrics["f1"]) for r in best]
    """
    import mlflow

    if return_type not in ("list", "pandas"):
        raise InvalidValueError(f"return_type must be 'list' or 'pandas', got {return_type!r}")
    default_id = sync()
    if experiment is None:
        experiment_ids = [default_id]
    else:
        names = [experiment] if isinstance(experiment, str) else list(experiment)
        experiment_ids = []
        store = client()
        for name in names:
            found = store.get_experiment_by_name(name)
            if found is None:
                raise TrackingError(f"search_runs: no experiment named {name!r}")
            experiment_ids.append(found.experiment_id)
    with mlflow_errors("search_runs", not_found=TrackingError):
        return mlflow.search_runs(
            experiment_ids=experiment_ids,
            filter_string=filter_string or "",
            order_by=order_by,
            max_results=max_results,
            output_format=return_type,
        )
