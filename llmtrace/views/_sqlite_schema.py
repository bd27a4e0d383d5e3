"""When the views may read an MLflow SQLite store directly: the installed MLflow and the schema.

The fast read path (`_sqlite_read`) reads MLflow's tables with the standard library only, so it
must be sure that the tables mean what it expects. It is used only when all of these hold, and
the views go through MLflow's client otherwise:

- the tracking URI is a plain ``sqlite:///path`` to an existing file (no URI parameters);
- the installed MLflow (its ``dist-info`` folder's name; MLflow is not imported) is a release
  whose store code was read for this module (`CHECKED_MLFLOW`);
- the store's ``alembic_version`` is a revision checked here (`CHECKED_REVISIONS`) and every
  column the reader uses is present;
- MLflow's workspaces are off (``MLFLOW_ENABLE_WORKSPACES``), which scope every query.

The connection is read-only (``mode=ro``), waits for writers as MLflow's does
(``busy_timeout``), and compares ``LIKE`` case-sensitively as MLflow's SQLite sessions do.
"""

from __future__ import annotations

import os
import re
import sqlite3
import sys
from pathlib import Path

CHECKED_MLFLOW = ("3.17.",)
"""MLflow releases whose SQL store read code (`search_traces`, `get_trace`, entity building)
the fast read path follows; tests/views/test_sqlite_read.py compares both on varied stores."""

CHECKED_REVISIONS = frozenset({"dc11669786a5"})
"""Alembic revisions of MLflow's schema the reader was checked on (3.17's head)."""

NEEDED_COLUMNS: dict[str, frozenset[str]] = {
    "experiments": frozenset({"experiment_id", "name", "lifecycle_stage"}),
    "trace_info": frozenset(
        {
            "request_id", "experiment_id", "timestamp_ms", "execution_time_ms", "status",
            "client_request_id", "request_preview", "response_preview", "trace_name",
            "session_id", "input_tokens", "output_tokens", "total_tokens",
            "cache_read_input_tokens", "cache_creation_input_tokens",
            "cache_creation_input_tokens_above_1hr", "input_cost", "output_cost", "total_cost",
        }
    ),
    "trace_tags": frozenset({"request_id", "key", "value"}),
    "trace_request_metadata": frozenset({"request_id", "key", "value"}),
    "spans": frozenset(
        {"trace_id", "parent_span_id", "start_time_unix_nano", "end_time_unix_nano", "content"}
    ),
    "assessments": frozenset(
        {
            "assessment_id", "trace_id", "name", "assessment_type", "value", "error",
            "created_timestamp", "last_updated_timestamp", "source_type", "source_id",
            "run_id", "span_id", "rationale", "overrides", "valid", "assessment_metadata",
            "aggregate_value", "is_numeric_value",
        }
    ),
}  # fmt: skip
"""The columns the reader selects, per table (a store lacking one is read through MLflow)."""

BUSY_TIMEOUT_S = 20.0
"""How long a read waits for a writer's lock (MLflow's SQLite sessions use 20 s)."""


def sqlite_path(tracking_uri: str) -> Path | None:
    """The file of a plain ``sqlite:///`` URI, or None for any other store.

    Example:
        >>> sqlite_path("sqlite:///mlflow.db")
        PosixPath('mlflow.db')
    """
    if not tracking_uri.startswith("sqlite:///"):
        return None
    path = tracking_uri[len("sqlite:///") :]
    if not path or path == ":memory:" or "?" in path:
        return None
    return Path(path)


_DIST_INFO = re.compile(r"mlflow-([^-]+)\.dist-info", re.IGNORECASE)


def _mlflow_version() -> str | None:
    """The installed MLflow's version: the first ``mlflow-X.dist-info`` on ``sys.path`` (where
    `importlib.metadata` looks first, without its ~10 ms import), else `importlib.metadata`."""
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if match := _DIST_INFO.fullmatch(name):
                return match.group(1)
    from importlib import metadata

    try:
        return metadata.version("mlflow")
    except metadata.PackageNotFoundError:
        return None


def mlflow_checked() -> bool:
    """True when the installed MLflow is a checked release (without importing it)."""
    version = _mlflow_version()
    return version is not None and version.startswith(CHECKED_MLFLOW)


def _workspaces_on() -> bool:
    value = os.environ.get("MLFLOW_ENABLE_WORKSPACES", "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def schema_checked(conn: sqlite3.Connection) -> bool:
    """True when the store's alembic revision is checked and every needed column is there."""
    try:
        revisions = {row[0] for row in conn.execute("SELECT version_num FROM alembic_version")}
        if len(revisions) != 1 or not revisions <= CHECKED_REVISIONS:
            return False
        for table, needed in NEEDED_COLUMNS.items():
            present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            if not needed <= present:
                return False
    except sqlite3.Error:
        return False
    return True


def open_checked(tracking_uri: str) -> sqlite3.Connection | None:
    """A read-only connection to the store when the fast read path applies, else None.

    Example:
        >>> conn = open_checked("sqlite:///mlflow.db")
        >>> conn is None  # True for a server, PostgreSQL, another MLflow or schema
        False
    """
    path = sqlite_path(tracking_uri)
    if path is None or not path.is_file() or _workspaces_on() or not mlflow_checked():
        return None
    try:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S
        )
    except sqlite3.Error:
        return None
    try:
        conn.execute("PRAGMA case_sensitive_like = true")
        if schema_checked(conn):
            return conn
    except sqlite3.Error:
        pass
    conn.close()
    return None
