"""Opening a store safely: the experiment id, and one first open of a new SQLite file at a time."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def sqlite_setup_lock(tracking_uri: str) -> Iterator[None]:
    """Serialize the first open of a SQLite store across processes (POSIX ``flock``).

    MLflow creates or migrates the schema when a store is first opened; several processes
    doing that at once on a new file collide ("table runs already exists", half-applied
    migrations). Other stores, and platforms without ``fcntl``, need no lock.
    """
    if not tracking_uri.lower().startswith("sqlite:///"):
        yield
        return
    try:
        import fcntl
    except ImportError:
        yield
        return
    import hashlib
    import tempfile

    path = os.path.realpath(tracking_uri[len("sqlite:///") :])
    key = hashlib.sha256(path.encode()).hexdigest()[:16]
    lock_path = os.path.join(tempfile.gettempdir(), f"llmtrace-sqlite-{key}.lock")
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def resolve_experiment_id(tracking_uri: str, experiment: str | None) -> str:
    """The id of experiment ``experiment`` (MLflow's ``Default`` when None), created if missing."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    name = experiment or "Default"
    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name))
    except MlflowException:  # created meanwhile by another process
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)
