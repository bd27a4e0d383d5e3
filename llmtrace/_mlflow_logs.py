"""MLflow's housekeeping kept off the user's console: store setup lines, download bars, and
the registry's note on ``runs:/`` URIs.

A new SQLite store makes MLflow log ``INFO ... Creating initial MLflow database tables`` and
``Updating database tables`` (twice per store); `quiet_store_setup` raises those two loggers
to WARNING when llmtrace resolves its store, unless the program set their level itself.
`no_progress_bars` turns MLflow's tqdm "Downloading artifacts" bar off around llmtrace's own
downloads (unless ``MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR`` is set), and
`registry_fallback_note_dropped` drops MLflow's warning that a ``runs:/RUN/model`` URI was
registered from the run's logged model (where MLflow 3 keeps it; the registration worked).
Warnings of the user's own code, and every other MLflow warning, still reach the user.

Example:
    >>> quiet_store_setup()
    >>> with no_progress_bars():
    ...     mlflow.artifacts.download_artifacts(uri)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

#: Loggers whose INFO lines are MLflow setting up its store, not news for the user.
STORE_SETUP_LOGGERS = ("mlflow.store.db.utils", "alembic.runtime.migration")
_PROGRESS_BAR = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
_REGISTRY_LOGGER = "mlflow.tracking._model_registry.fluent"


def quiet_store_setup() -> None:
    """Keep only warnings and errors of MLflow's store setup (a level set by the program wins)."""
    for name in STORE_SETUP_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


@contextmanager
def no_progress_bars() -> Iterator[None]:
    """MLflow's artifact download bar off for the block, unless the user chose a setting."""
    if os.environ.get(_PROGRESS_BAR) is not None:
        yield
        return
    os.environ[_PROGRESS_BAR] = "false"
    try:
        yield
    finally:
        os.environ.pop(_PROGRESS_BAR, None)


def _not_the_fallback_note(record: logging.LogRecord) -> bool:
    message = record.getMessage()
    return not (message.startswith("Run with id ") and "registering model based on" in message)


@contextmanager
def registry_fallback_note_dropped() -> Iterator[None]:
    """Drop MLflow's "has no artifacts at artifact path ..., registering model based on
    models:/m-... instead" warning for the block (MLflow 3 keeps models there; it worked)."""
    logger = logging.getLogger(_REGISTRY_LOGGER)
    logger.addFilter(_not_the_fallback_note)
    try:
        yield
    finally:
        logger.removeFilter(_not_the_fallback_note)
