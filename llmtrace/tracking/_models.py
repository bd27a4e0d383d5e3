"""Models through llmtrace: log scikit-learn models, register them, load them back; autolog.

Thin wrappers over ``mlflow.sklearn`` / ``mlflow.pyfunc`` and the model registry, on llmtrace's
store (see `_tracking`). scikit-learn is needed only when these are called
(``pip install 'llmtrace[classic]'``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from .._errors import InvalidValueError, ModelNotFoundError, TrackingError
from .._mlflow_logs import no_progress_bars, registry_fallback_note_dropped
from ._tracking import client, mlflow_errors, sync

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.models.model import ModelInfo


def _sklearn() -> Any:
    try:
        import mlflow.sklearn
        import sklearn  # noqa: F401
    except ImportError as exc:
        raise TrackingError(
            f"scikit-learn is needed for this call ({exc}); pip install 'llmtrace[classic]'"
        ) from exc
    return mlflow.sklearn


def log_model(
    model: Any,
    name: str = "model",
    *,
    input_example: Any = None,
    signature: Any = None,
    registered_model_name: str | None = None,
    **kwargs: Any,
) -> ModelInfo:
    """Log a fitted scikit-learn model (estimator or Pipeline) with the active run.

    Returns MLflow's `ModelInfo`: ``model_uri`` (``models:/m-...``), ``model_id``, ``run_id``.
    The model loads back with `load_model` from that URI, from ``runs:/<run_id>/<name>``, or,
    once registered, from ``models:/<registered name>/<version>``. Other keyword arguments go
    to ``mlflow.sklearn.log_model``: e.g. ``pip_requirements=["scikit-learn"]`` skips MLflow's
    few seconds of requirement inference. MLflow stores the model in the safe skops format;
    tree models (RandomForest, GradientBoosting...) need the type you vouch for,
    ``skops_trusted_types=["sklearn.tree._tree.Tree"]`` (or ``serialization_format="cloudpickle"``).

    Example:
        >>> with llmtrace.start_run():
        ...     info = llmtrace.log_model(clf, name="model", input_example=X_test[:3],
        ...                               skops_trusted_types=["sklearn.tree._tree.Tree"])
        >>> info.model_uri
        'models:/m-5e1f...'
    """
    mlflow_sklearn = _sklearn()
    from sklearn.base import BaseEstimator

    if not isinstance(model, BaseEstimator):
        raise InvalidValueError(
            f"log_model logs scikit-learn models, got {type(model).__name__}; "
            "for other kinds use MLflow's flavor, e.g. mlflow.pyfunc.log_model"
        )
    if not isinstance(name, str) or not name.strip():
        raise InvalidValueError(f"log_model: name must be a non-empty string, got {name!r}")
    sync()
    with mlflow_errors(f"log_model(name={name!r})"):
        return mlflow_sklearn.log_model(
            model,
            name=name,
            input_example=input_example,
            signature=signature,
            registered_model_name=registered_model_name,
            **kwargs,
        )


def load_model(
    model_uri: str, *, flavor: Literal["sklearn", "pyfunc"] = "sklearn", dst_path: str | None = None
) -> Any:
    """Load a logged model back: the scikit-learn object, or a pyfunc model.

    ``model_uri`` is any MLflow model URI: ``runs:/<run_id>/<name>``, ``models:/m-<id>``,
    ``models:/<registered name>/latest``, ``models:/<name>/<version>`` or
    ``models:/<name>@<alias>``. A URI that points at nothing raises `ModelNotFoundError`.

    Example:
        >>> clf = llmtrace.load_model("models:/iris-rf/latest")
        >>> clf.predict(X_test[:3])
    """
    import mlflow

    if flavor not in ("sklearn", "pyfunc"):
        raise InvalidValueError(f"load_model: flavor must be 'sklearn' or 'pyfunc', got {flavor!r}")
    if not isinstance(model_uri, str) or not model_uri.strip():
        raise InvalidValueError(f"load_model: model_uri must be a model URI, got {model_uri!r}")
    sync()
    loader = _sklearn().load_model if flavor == "sklearn" else mlflow.pyfunc.load_model
    with (
        mlflow_errors(f"load_model({model_uri!r})", not_found=ModelNotFoundError),
        no_progress_bars(),
    ):
        try:
            return loader(model_uri, dst_path=dst_path)
        except OSError as exc:  # a runs:/ path whose MLmodel file is missing
            raise ModelNotFoundError(f"load_model({model_uri!r}): {exc}") from exc


def register_model(
    model_uri: str | Any,
    name: str,
    *,
    alias: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> ModelVersion:
    """Register a logged model as a new version of registered model ``name`` (made if new).

    ``model_uri`` is a model URI or the `ModelInfo` that `log_model` returned. ``alias`` also
    points that alias at the new version (load it with ``models:/<name>@<alias>``).

    Example:
        >>> version = llmtrace.register_model(info, "iris-rf", alias="champion")
        >>> version.version
        1
    """
    import mlflow

    uri = getattr(model_uri, "model_uri", model_uri)
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidValueError(
            f"register_model: model_uri must be a model URI or ModelInfo, got {model_uri!r}"
        )
    sync()
    with (
        mlflow_errors(f"register_model({uri!r}, {name!r})", not_found=ModelNotFoundError),
        registry_fallback_note_dropped(),
    ):
        version = mlflow.register_model(uri, name, tags=dict(tags) if tags else None)
        if alias is not None:
            client().set_registered_model_alias(name, alias, version.version)
    return version


def autolog(disable: bool = False, *, log_models: bool = True, **kwargs: Any) -> None:
    """Turn MLflow's scikit-learn autologging on (or off with ``disable=True``).

    Every ``fit`` then logs its params, training metrics (computed on the *training* data) and,
    with ``log_models``, the model, in a run of llmtrace's experiment (one is started if none
    is active). Other keyword arguments go to ``mlflow.sklearn.autolog``.

    Example:
        >>> llmtrace.autolog()
        >>> RandomForestClassifier().fit(X_train, y_train)   # a run with training_* metrics
        >>> llmtrace.autolog(disable=True)
    """
    mlflow_sklearn = _sklearn()
    sync()
    with mlflow_errors("autolog", not_found=TrackingError):
        mlflow_sklearn.autolog(disable=disable, log_models=log_models, **kwargs)
