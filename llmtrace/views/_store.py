"""Read-only access to the trace store for the views, with one-line errors for the usual mistakes.

Resolves the store as `llmtrace.configure` does (argument, then ``LLMTRACE_*``/``MLFLOW_*``
variables, then ``./mlflow.db``) and never creates anything: a missing SQLite file, a missing
experiment, an unknown trace id or a server that does not answer is a `StoreError` whose message
fits one line.

On a SQLite store of a checked MLflow release and schema, reads go straight to MLflow's tables
(`_sqlite_read`, MLflow is not imported); servers, PostgreSQL, other schemas and the requests
that path does not answer go through MLflow's client. ``fast=False`` forces MLflow's client.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from .. import _semconv as sc
from .._config import resolve
from .._errors import LLMTraceError, TraceNotFoundError

if TYPE_CHECKING:
    from ._model import TraceView
    from ._sessions import SessionSummary
    from ._sqlite_read import SqliteReader


class StoreError(LLMTraceError):
    """The store, experiment or trace asked for cannot be read (message fits one line)."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class Store:
    """The traces of one store and experiment, read through MLflow's own client.

    Example:
        >>> store = Store(tracking_uri="sqlite:///mlflow.db", experiment="chatbot")
        >>> [t.info.trace_id for t in store.search(max_results=5)]
    """

    def __init__(
        self, tracking_uri: str | None = None, experiment: str | None = None, *, fast: bool = True
    ) -> None:
        config = resolve(tracking_uri=tracking_uri, experiment=experiment)
        self.tracking_uri = config.tracking_uri
        self.experiment = config.experiment
        self._client: Any = None
        self._experiment_id: str | None = None
        self._checked = False
        self._fast = fast
        self._reader: Any = None

    def through_mlflow(self) -> Store:
        """The same store and experiment read through MLflow's client only (no direct read).

        Example:
            >>> Store("sqlite:///mlflow.db", "chatbot").through_mlflow().reader() is None
            True
        """
        return Store(self.tracking_uri, self.experiment, fast=False)

    def reader(self) -> SqliteReader | None:
        """The direct SQLite reader when it applies to this store (after `check`), else None."""
        if not self._fast:
            return None
        self.check()
        if self._reader is None:
            from ._sqlite_read import SqliteReader
            from ._sqlite_schema import open_checked

            conn = open_checked(self.tracking_uri)
            self._reader = False if conn is None else SqliteReader(conn, self.tracking_uri)
        return self._reader or None

    @property
    def is_http(self) -> bool:
        """True for an ``http(s)://`` tracking server."""
        return self.tracking_uri.lower().startswith(("http://", "https://"))

    def check(self) -> None:
        """Fail with a one-line `StoreError` when the store does not exist or does not answer."""
        if self._checked:
            return
        uri = self.tracking_uri
        if uri.startswith("sqlite:///"):
            path = uri[len("sqlite:///") :]
            if path and path != ":memory:" and not Path(path).exists():
                raise StoreError(
                    f"no trace store at {path}: nothing has been traced here yet "
                    "(run your app first, or pass --tracking-uri)"
                )
        elif self.is_http:
            import requests

            try:
                requests.get(uri.rstrip("/") + "/health", timeout=5)
            except requests.RequestException as exc:
                reason = type(exc).__name__
                raise StoreError(
                    f"cannot reach the MLflow server at {uri} ({reason}); is it running?"
                ) from None
        elif "://" not in uri and not Path(uri.removeprefix("file:")).exists():
            raise StoreError(f"no trace store at {uri}: nothing has been traced here yet")
        self._checked = True

    def client(self) -> Any:
        """An `mlflow.MlflowClient` on this store (after `check`)."""
        self.check()
        if self._client is None:
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri)
        return self._client

    def experiment_id(self) -> str:
        """The experiment's id; a `StoreError` naming the existing ones when it is missing."""
        if self._experiment_id is None:
            name = self.experiment or "Default"
            reader = self.reader()
            if reader is not None:
                from ._sqlite_read import ExperimentMissing

                try:
                    self._experiment_id = reader.experiment(name)
                except ExperimentMissing as missing:
                    self._missing(name, missing.names)
                return str(self._experiment_id)
            client = self.client()
            try:
                found = client.get_experiment_by_name(name)
            except Exception as exc:
                raise StoreError(f"cannot read {self.tracking_uri}: {_first_line(exc)}") from None
            if found is None or found.lifecycle_stage == "deleted":
                self._missing(name, [e.name for e in client.search_experiments()])
            self._experiment_id = str(found.experiment_id)
        return self._experiment_id

    def _missing(self, name: str, names: list[str]) -> NoReturn:
        known = ", ".join(repr(n) for n in sorted(names)) or "none"
        raise StoreError(
            f"no experiment {name!r} in {self.tracking_uri} (experiments: {known}); "
            "pass --experiment"
        )

    def get_trace(self, trace_id: str) -> Any:
        """The `mlflow.entities.Trace` with this id (``tr-...``), or `TraceNotFoundError`.

        From the fast read path, an object with the same attributes (`_stored.StoredTrace`).
        """
        reader = self.reader()
        if reader is not None:
            from ._sqlite_filter import Unsupported

            try:
                found = reader.get_trace(trace_id.strip())
            except (Unsupported, sqlite3.Error):  # MLflow's client answers (or explains)
                found = False
            if found is None:
                raise self._not_found(trace_id)
            if found:
                return found
        client = self.client()
        try:
            return client.get_trace(trace_id.strip(), display=False)
        except Exception as exc:
            if "not found" in str(exc).lower() or "does not exist" in str(exc).lower():
                raise self._not_found(trace_id) from None
            raise StoreError(f"cannot read trace {trace_id!r}: {_first_line(exc)}") from None

    def _not_found(self, trace_id: str) -> TraceNotFoundError:
        return TraceNotFoundError(
            f"no trace {trace_id!r} in {self.tracking_uri}; list ids with `llmtrace traces list`"
        )

    def search(
        self,
        filter_string: str | None = None,
        *,
        max_results: int = 100,
        order_by: list[str] | None = None,
        include_spans: bool = False,
        roots_only: bool = False,
    ) -> list[Any]:
        """Traces of the experiment, newest first (MLflow filter syntax; paged as needed).

        ``roots_only``: the direct reader parses only root spans (MLflow's client gives all).
        """
        experiment_id = self.experiment_id()
        reader = self.reader()
        if reader is not None:
            from ._sqlite_filter import Unsupported

            try:
                return list(
                    reader.search(
                        experiment_id,
                        filter_string,
                        max_results=max_results,
                        order_by=order_by,
                        include_spans=include_spans,
                        roots_only=roots_only,
                    )
                )
            except (Unsupported, sqlite3.Error):  # MLflow's client answers (or explains)
                pass
        client = self.client()
        out: list[Any] = []
        token = None
        try:
            while len(out) < max_results:
                page = client.search_traces(
                    locations=[experiment_id],
                    filter_string=filter_string or None,
                    max_results=min(500, max_results - len(out)),
                    order_by=order_by or ["timestamp_ms DESC"],
                    include_spans=include_spans,
                    page_token=token,
                )
                out.extend(page)
                token = page.token
                if not token or not page:
                    break
        except Exception as exc:
            raise StoreError(f"cannot search traces: {_first_line(exc)}") from None
        return out

    def summaries(
        self, filter_string: str | None = None, *, max_results: int = 100
    ) -> list[TraceView]:
        """The newest traces' summaries (`views._model.trace_summary`), as `traces list` shows them.

        A trace's duration is its spans' (first start to last end, as `traces show` gives it):
        on the fast path from the spans table, through MLflow's client from the spans when the
        search loaded them, else the store's whole milliseconds.
        """
        from ._model import span_window, trace_summary

        traces = self.search(filter_string, max_results=max_results)
        windows: dict[str, tuple[int, int]] = {}
        reader = self.reader()
        if reader is not None and traces:
            try:
                windows = reader.span_windows([t.info.trace_id for t in traces])
            except sqlite3.Error:  # the store's own durations, then
                windows = {}
        return [
            trace_summary(t.info, windows.get(t.info.trace_id) or span_window(t.data.spans))
            for t in traces
        ]

    def sessions(
        self, filter_string: str | None = None, *, scan: int = 2000, limit: int = 20
    ) -> list[SessionSummary]:
        """The sessions of the ``scan`` newest matching traces, most recently active first.

        Example:
            >>> [s.session for s in Store("sqlite:///mlflow.db").sessions(limit=2)]
            ['conv-2', 'conv-1']
        """
        experiment_id = self.experiment_id()
        reader = self.reader()
        if reader is not None:
            from ._sqlite_filter import Unsupported

            try:
                return reader.sessions(experiment_id, filter_string, scan=scan, limit=limit)
            except (Unsupported, sqlite3.Error):  # summed from the trace search instead
                pass
        from ._model import trace_summary
        from ._sessions import summarize_sessions

        views = [trace_summary(t.info) for t in self.search(filter_string, max_results=scan)]
        return summarize_sessions(views)[:limit]

    def traces_url(self, base_url: str) -> str:
        """The MLflow UI page listing this experiment's traces, on the server at ``base_url``."""
        return f"{base_url.rstrip('/')}/#/experiments/{self.experiment_id()}/traces"


_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def since_ms(value: str, now: float | None = None) -> int:
    """``30m``, ``2h``, ``1d`` ago, or an ISO date/time (UTC if no zone), as epoch ms.

    Example:
        >>> since_ms("2026-01-02")
        1767312000000
    """
    now = time.time() if now is None else now
    match = _SINCE.match(value)
    if match:
        return int((now - float(match.group(1)) * _UNITS[match.group(2)]) * 1000)
    from datetime import datetime, timezone

    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise StoreError(
            f"--since {value!r}: use a duration such as 30m, 2h, 1d or a date such as 2026-01-02"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def _quote(value: str) -> str:
    if "'" in value:
        if '"' in value:
            raise StoreError(f"cannot filter on a value with both quote kinds: {value!r}")
        return f'"{value}"'
    return f"'{value}'"


def build_filter(
    *,
    session: str | None = None,
    user: str | None = None,
    status: str | None = None,
    since: str | None = None,
    name: str | None = None,
    extra: str | None = None,
) -> str | None:
    """One MLflow trace filter string from the CLI's filter options (joined with AND).

    Example:
        >>> build_filter(session="conv-42", status="error")
        "metadata.`mlflow.trace.session` = 'conv-42' AND status = 'ERROR'"
    """
    parts = []
    if session:
        parts.append(f"metadata.`{sc.MLFLOW_TRACE_SESSION}` = {_quote(session)}")
    if user:
        parts.append(f"metadata.`{sc.MLFLOW_TRACE_USER}` = {_quote(user)}")
    if status:
        wanted = status.strip().upper()
        if wanted not in ("OK", "ERROR", "IN_PROGRESS"):
            raise StoreError(f"--status {status!r}: use OK, ERROR or IN_PROGRESS")
        parts.append(f"status = '{wanted}'")
    if since:
        parts.append(f"timestamp_ms >= {since_ms(since)}")
    if name:
        op = "LIKE" if "%" in name else "="
        parts.append(f"name {op} {_quote(name)}")
    if extra:
        parts.append(extra.strip())
    return " AND ".join(parts) or None
