"""Whole new traces from the export wire into an MLflow SQLite store, without importing MLflow.

`DirectWriter.open` accepts a store only when it is a plain SQLite file of the checked MLflow
release and schema: `importlib.metadata` says MLflow 3.17.x, the file's Alembic revision is
`CHECKED_REVISION`, the tables have exactly the columns `_sql_rows` fills, and neither
workspaces nor trace rollups are switched on. `write` then stores, in one transaction, every
trace of a wire batch that is new to the store, whole and `_sql_rows`-covered; what it leaves
(traces begun earlier or already stored, uncovered ones) comes back to the caller for MLflow's
own `log_spans` path. MLflow is not imported here: the export process stays at the memory of
sqlite3 and OpenTelemetry (benchmarks/RESULTS.md) unless that fallback is needed.

Example:
    >>> writer = DirectWriter.open("sqlite:///mlflow.db", "my-app")
    >>> if writer is not None:
    ...     rest = writer.write(batch)  # wire rows left for log_spans
"""

from __future__ import annotations

import importlib.metadata
import os
import sqlite3
from collections import defaultdict
from typing import Any

from ._sql_rows import SPAN_COLUMNS, TRACE_INFO_COLUMNS, Rows, Uncovered
from ._translate import CHECKED_MLFLOW

CHECKED_REVISION = "dc11669786a5"
"""The Alembic head of MLflow 3.17's SQL schema (a test checks it against MLflow's own)."""
_SWITCHES = ("MLFLOW_ENABLE_WORKSPACES", "MLFLOW_SQL_TRACE_ROLLUPS_ENABLED")
_TABLES = {
    "trace_info": set(TRACE_INFO_COLUMNS) | {"client_request_id"},
    "spans": set(SPAN_COLUMNS) | {"duration_ns"},
    "trace_tags": {"key", "value", "request_id"},
    "trace_request_metadata": {"key", "value", "request_id"},
}
_KEY_VALUE = ("request_id", "key", "value")
_CHUNK = 500  # ids per "IN (...)" query (SQLite's variable limit is 32,766 here, 999 on old builds)


class StoreChanged(Exception):
    """The store file was deleted or replaced since it was checked: the direct path is off."""


def mlflow_version() -> str | None:
    try:
        return importlib.metadata.version("mlflow")
    except importlib.metadata.PackageNotFoundError:
        return None


def sqlite_path(tracking_uri: str) -> str | None:
    """The file of a ``sqlite:///path`` URI (None for other URIs, memory and query strings)."""
    if not tracking_uri.startswith("sqlite:///") or "?" in tracking_uri:
        return None
    path = tracking_uri[len("sqlite:///") :]
    return path if path and path != ":memory:" else None


class DirectWriter:
    """Bulk INSERTs of covered new traces into one experiment of a checked SQLite store."""

    def __init__(self, path: str, experiment_id: str, artifact_root: str) -> None:
        self.path = path
        self.experiment_id = experiment_id
        self.artifact_root = artifact_root
        self.written = 0  # spans this writer stored
        self.uncovered = 0  # spans of complete new traces it left to log_spans (not covered)
        self.priced = 0  # spans MLflow's own cost function priced (MLflow imported)
        self._con: sqlite3.Connection | None = None
        self._file: tuple[int, int] | None = None  # (device, inode) of the file checked

    @classmethod
    def open(cls, tracking_uri: str, experiment: str | None) -> DirectWriter | None:
        """A writer for ``experiment`` (MLflow's ``Default`` when None), or None when the store
        is not one this module was checked against or the experiment is missing or deleted."""
        path = sqlite_path(tracking_uri)
        version = mlflow_version()
        if path is None or version is None or not version.startswith(CHECKED_MLFLOW):
            return None
        if any(os.environ.get(name) for name in _SWITCHES) or not os.path.isfile(path):
            return None
        try:
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
            try:
                if con.execute("SELECT version_num FROM alembic_version").fetchall() != [
                    (CHECKED_REVISION,)
                ]:
                    return None
                for table, columns in _TABLES.items():
                    found = {row[1] for row in con.execute(f"PRAGMA table_xinfo({table})")}
                    if found != columns:
                        return None
                row = con.execute(
                    "SELECT experiment_id, artifact_location, lifecycle_stage FROM experiments"
                    " WHERE name = ? AND workspace = 'default'",
                    (experiment or "Default",),
                ).fetchone()
            finally:
                con.close()
        except sqlite3.Error:
            return None
        if row is None or row[2] != "active" or not row[1]:
            return None
        return cls(path, str(row[0]), str(row[1]))

    def _connection(self) -> sqlite3.Connection:
        try:
            found = os.stat(self.path)
            same = (found.st_dev, found.st_ino) == self._file
        except OSError:
            same = False
        if not same and self._file is not None:  # deleted or replaced while open: a sqlite3
            self.close()  # connection would go on writing into the unlinked file
            raise StoreChanged(f"{self.path} was deleted or replaced")
        if self._con is None:
            # autocommit mode: transactions are begun explicitly (BEGIN IMMEDIATE)
            self._con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self._con.execute("PRAGMA foreign_keys = ON")
            if self._file is None:
                found = os.stat(self.path)
                self._file = (found.st_dev, found.st_ino)
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def write(self, batch: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """Store the covered whole new traces of a wire batch in one transaction; return the
        wire batch of the spans left (None when nothing is left). Store errors propagate
        (nothing of the batch is stored then), so the caller's retry applies."""
        resource, rows = batch
        by_trace: dict[int, list[Any]] = defaultdict(list)
        for row in rows:
            by_trace[row[1]].append(row)
        built = Rows(self.artifact_root, self.experiment_id)
        ids: dict[str, int] = {}
        for otel_id, group in by_trace.items():
            if not any(row[3] is None for row in group):
                continue  # its root comes later (or came earlier): log_spans joins them
            try:
                ids[built.add_trace(group, resource)] = otel_id
            except Uncovered:
                self.uncovered += len(group)
            except Exception:  # MLflow's path meets the same data and says what is wrong
                self.uncovered += len(group)
        self.priced += built.priced
        if ids:
            con = self._connection()
            con.execute("BEGIN IMMEDIATE")
            try:
                names = list(ids)
                stored: set[str] = set()
                for i in range(0, len(names), _CHUNK):
                    chunk = names[i : i + _CHUNK]
                    marks = ",".join("?" * len(chunk))
                    stored.update(
                        r[0]
                        for r in con.execute(
                            f"SELECT request_id FROM trace_info WHERE request_id IN ({marks})",
                            chunk,
                        )
                    )
                if stored:  # begun earlier, or a duplicate id: log_spans' path decides
                    built.drop(stored)
                    for trace_id in stored:
                        del ids[trace_id]
                if built.trace_infos:
                    con.executemany(_insert("trace_info", TRACE_INFO_COLUMNS), built.trace_infos)
                    con.executemany(_insert("trace_tags", _KEY_VALUE), built.tags)
                    if built.metadata:
                        con.executemany(
                            _insert("trace_request_metadata", _KEY_VALUE),
                            built.metadata,
                        )
                    con.executemany(_insert("spans", SPAN_COLUMNS), built.spans)
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
            self.written += len(built.spans)
        done = set(ids.values())
        left = [row for row in rows if row[1] not in done]
        return (resource, left) if left else None


def _insert(table: str, columns: tuple[str, ...]) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    return f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"
