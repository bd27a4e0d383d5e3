"""Artifacts of a run through llmtrace: files, folders, figures, tables, dicts; list, download.

Thin wrappers over MLflow's functions, on llmtrace's store (see `_tracking`). Files go to the
run's artifact location (``./mlruns`` beside the default SQLite store, or the server's
artifact root); ``artifact_path`` / ``artifact_file`` are paths inside the run's artifacts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import TrackingError
from .._mlflow_logs import no_progress_bars
from ._tracking import _run_of, client, mlflow_errors, sync

if TYPE_CHECKING:
    from mlflow.entities import FileInfo


def log_artifact(
    local_path: str | os.PathLike[str],
    artifact_path: str | None = None,
    *,
    run_id: str | None = None,
) -> None:
    """Store a local file among the active run's artifacts (under ``artifact_path``, if given).

    Example:
        >>> joblib.dump(scaler, "scaler.joblib")
        >>> llmtrace.log_artifact("scaler.joblib", artifact_path="preprocessing")
    """
    import mlflow

    path = Path(local_path)
    if not path.exists():
        raise TrackingError(f"log_artifact: no such file {os.fspath(local_path)!r}")
    sync()
    with mlflow_errors(f"log_artifact({os.fspath(local_path)!r})"):
        mlflow.log_artifact(os.fspath(path), artifact_path, run_id=run_id)


def log_artifacts(
    local_dir: str | os.PathLike[str],
    artifact_path: str | None = None,
    *,
    run_id: str | None = None,
) -> None:
    """Store every file of a local folder among the active run's artifacts.

    Example:
        >>> llmtrace.log_artifacts("reports/", artifact_path="reports")
    """
    import mlflow

    path = Path(local_dir)
    if not path.is_dir():
        raise TrackingError(f"log_artifacts: no such folder {os.fspath(local_dir)!r}")
    sync()
    with mlflow_errors(f"log_artifacts({os.fspath(local_dir)!r})"):
        mlflow.log_artifacts(os.fspath(path), artifact_path, run_id=run_id)


def log_figure(
    figure: Any, artifact_file: str, *, save_kwargs: dict[str, Any] | None = None
) -> None:
    """Store a matplotlib (or plotly) figure as an image of the active run.

    Example:
        >>> fig, ax = plt.subplots()
        >>> ax.plot([0.9, 0.5, 0.3])
        >>> llmtrace.log_figure(fig, "plots/loss.png")
    """
    import mlflow

    sync()
    with mlflow_errors(f"log_figure({artifact_file!r})"):
        mlflow.log_figure(figure, artifact_file, save_kwargs=save_kwargs)


def log_table(data: Any, artifact_file: str, *, run_id: str | None = None) -> None:
    """Store a table (a dict of columns or a pandas DataFrame) as a JSON artifact.

    The MLflow UI shows it as a table among the run's artifacts.

    Example:
        >>> llmtrace.log_table({"question": ["q1"], "answer": ["a1"]}, "tables/answers.json")
    """
    import mlflow

    sync()
    with mlflow_errors(f"log_table({artifact_file!r})"):
        mlflow.log_table(data, artifact_file, run_id=run_id)


def log_dict(dictionary: Any, artifact_file: str, *, run_id: str | None = None) -> None:
    """Store a JSON (``.json``) or YAML (``.yaml``/``.yml``) document as an artifact.

    Example:
        >>> llmtrace.log_dict({"features": ["a", "b"]}, "config/features.json")
    """
    import mlflow

    sync()
    with mlflow_errors(f"log_dict({artifact_file!r})"):
        mlflow.log_dict(dictionary, artifact_file, run_id=run_id)


def list_artifacts(run_id: str | None = None, path: str | None = None) -> list[FileInfo]:
    """The artifacts of a run (default: the active one) at ``path``: `FileInfo` objects.

    Example:
        >>> [f.path for f in llmtrace.list_artifacts(run_id, "preprocessing")]
        ['preprocessing/scaler.joblib']
    """
    run = _run_of(run_id, "list_artifacts")
    with mlflow_errors(f"list_artifacts(run_id={run!r})"):
        return list(client().list_artifacts(run, path))


def download_artifacts(
    run_id: str | None = None,
    path: str = "",
    dst_path: str | os.PathLike[str] | None = None,
) -> str:
    """Download a run's artifact file or folder (default: all); return the local path.

    Example:
        >>> local = llmtrace.download_artifacts(run_id, "preprocessing/scaler.joblib")
        >>> scaler = joblib.load(local)
    """
    run = _run_of(run_id, "download_artifacts")
    if dst_path is not None:
        Path(dst_path).mkdir(parents=True, exist_ok=True)
    with mlflow_errors(f"download_artifacts(run_id={run!r}, path={path!r})"), no_progress_bars():
        return str(
            client().download_artifacts(
                run, path, None if dst_path is None else os.fspath(dst_path)
            )
        )
