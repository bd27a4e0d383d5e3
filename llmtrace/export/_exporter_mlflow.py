"""`MlflowSpanExporter`: OpenTelemetry spans in, MLflow traces out.

Local store URIs (``sqlite:///``, ``postgresql://``, a folder) are written with the store's own
``log_spans`` (many traces per call), or, for whole new traces in a SQLite store, with the
row-for-row equivalent bulk INSERTs of `_sql_bulk`; ``http(s)://`` tracking servers get
OTLP/protobuf at ``{uri}/v1/traces``. MLflow is imported on first export, on the export thread.

Transient failures (a locked SQLite file, a refused connection, a timeout, HTTP 429 and 5xx) are
retried by `MlflowSpanExporter._with_retries` with exponential backoff and jitter, honouring
``Retry-After``. With a spool (`_spool.Spool`, HTTP only), a batch the server still cannot take
is written to disk instead of being lost, and replayed oldest first once the server answers.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .. import _semconv as sc
from .._ids import mlflow_trace_id
from . import _sql_bulk
from ._http import (
    EXPERIMENT_HEADER,
    OTLP_PATH,
    HttpStatusError,
    auth_headers,
    otlp_body,
    raise_for_status,
    spans_from_body,
)
from ._promptlink import link_stored
from ._runlink import http_linker, link_to_runs
from ._spool import Spool, SpoolFullError
from ._store_setup import resolve_experiment_id, sqlite_setup_lock

logger = logging.getLogger("llmtrace")

BACKOFF_BASE_S = 0.1  # attempt n waits BACKOFF_BASE_S * 2**n, capped, times a 0.5-1.5 jitter
BACKOFF_MAX_S = 5.0
MAX_RETRY_AFTER_S = 10.0  # a longer Retry-After is not slept through: the batch spools or fails
LOCKED_RETRIES = 10  # SQLite "database is locked": several writer processes take turns
PROBE_MIN_S, PROBE_MAX_S = 0.5, 5.0  # while spooling: wait before asking the server again
REPLAY_BUDGET_S = 2.0  # spooled batches replayed per export or idle tick, at most this long


def to_mlflow_span(span: ReadableSpan) -> Any:
    """Convert an (enriched) OTel span into an `mlflow.entities.Span`.

    MLflow stores every attribute value as JSON text; llmtrace's structured attributes
    (inputs, outputs, token usage...) already are, the others are encoded here.
    """
    from mlflow.entities import Span

    attrs: dict[str, Any] = {}
    for key, value in (span.attributes or {}).items():
        if key in sc.JSON_VALUED and isinstance(value, str):
            attrs[key] = value
        else:
            attrs[key] = json.dumps(list(value) if isinstance(value, tuple) else value)
    attrs[sc.MLFLOW_TRACE_REQUEST_ID] = json.dumps(mlflow_trace_id(span.context.trace_id))
    return Span(
        ReadableSpan(
            name=span.name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=attrs,
            events=span.events,
            links=span.links,
            kind=span.kind,
            status=span.status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )
    )


def _retryable(exc: BaseException) -> bool:
    """Transient: a locked SQLite file, a deadlock, a connection error, 429/5xx, a timeout."""
    if isinstance(exc, HttpStatusError):
        return exc.status == 429 or exc.status >= 500
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    text = f"{type(exc).__name__} {exc}".lower()
    return any(
        needle in text
        for needle in (
            "database is locked",
            "deadlock",
            "timeout",
            "timed out",
            "temporarily",
            "connection",
        )
    )


class MlflowSpanExporter(SpanExporter):
    """Export OpenTelemetry spans as MLflow traces into a store or tracking server.

    Example:
        >>> from opentelemetry.sdk.trace import TracerProvider
        >>> from opentelemetry.sdk.trace.export import BatchSpanProcessor
        >>> provider = TracerProvider()
        >>> provider.add_span_processor(
        ...     BatchSpanProcessor(MlflowSpanExporter("sqlite:///mlflow.db", "my-app")))
    """

    def __init__(
        self,
        tracking_uri: str,
        experiment: str | None = None,
        *,
        retries: int = 3,
        timeout_s: float = 10.0,
        spool: Spool | None = None,
        on_store_opened: Callable[[], None] | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self._on_store_opened = on_store_opened
        self.experiment = experiment
        self.retries = retries
        self.timeout_s = timeout_s
        self.last_error: str | None = None
        self.retried = 0  # counters() reads these; only the export thread writes them
        self.spooled = 0
        self.replayed = 0
        self.rejected = 0
        self._is_http = tracking_uri.lower().startswith(("http://", "https://"))
        self._spool = spool if self._is_http else None
        self._spool_lock = threading.Lock()  # export thread vs flush() on the caller's thread
        self._paused_until = 0.0  # monotonic; while spooling, the server is not asked before
        self._failures = 0  # consecutive: the pause doubles each time
        self._experiment_ids: dict[str | None, str] = {}
        self._experiment_id: str | None = None
        self._store: Any = None
        self._http: Any = None
        self._bulk: bool | None = None  # whether _sql_bulk applies to this store (decided once)

    # -- setup -----------------------------------------------------------------------------
    def experiment_id(self) -> str:
        """Resolve (creating if needed) the experiment's id; cached."""
        if self._experiment_id is None:
            if self._is_http:  # our own short-timeout calls, not MLflow's minutes of retries
                self._experiment_id = self._with_retries(self._http_experiment_id)
            else:  # one process at a time creates a new SQLite file's schema
                with sqlite_setup_lock(self.tracking_uri):
                    self._experiment_id = self._with_retries(
                        resolve_experiment_id, self.tracking_uri, self.experiment
                    )
                if self._on_store_opened is not None:  # e.g. the runtime re-registers its
                    self._on_store_opened()  # exit hook to run before the ones MLflow just added
        return self._experiment_id

    def _session(self) -> Any:
        if self._http is None:
            import requests

            self._http = requests.Session()
            self._http.headers.update(auth_headers())
        return self._http

    def _http_experiment_id(self) -> str:
        return self._http_experiment_id_of(self.experiment)

    def _http_experiment_id_of(self, experiment: str | None) -> str:
        if experiment in self._experiment_ids:
            return self._experiment_ids[experiment]
        found = self._http_lookup(experiment)
        self._experiment_ids[experiment] = found
        return found

    def _http_lookup(self, experiment: str | None) -> str:
        base = self.tracking_uri.rstrip("/") + "/api/2.0/mlflow/experiments"
        name = experiment or "Default"
        http = self._session()
        got = http.get(
            f"{base}/get-by-name", params={"experiment_name": name}, timeout=self.timeout_s
        )
        if got.status_code == 200:
            return str(got.json()["experiment"]["experiment_id"])
        if got.status_code != 404:
            raise_for_status(got)
        made = http.post(f"{base}/create", json={"name": name}, timeout=self.timeout_s)
        if made.status_code == 200:
            return str(made.json()["experiment_id"])
        again = http.get(  # created meanwhile by another process
            f"{base}/get-by-name", params={"experiment_name": name}, timeout=self.timeout_s
        )
        raise_for_status(again)
        return str(again.json()["experiment"]["experiment_id"])

    def _local_store(self) -> Any:
        if self._store is None:
            from mlflow.tracking import MlflowClient

            self._store = MlflowClient(tracking_uri=self.tracking_uri)._tracking_client.store
        return self._store

    # -- SpanExporter contract -------------------------------------------------------------
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        if self._spool is not None:
            return self._export_or_spool(spans)
        try:
            experiment_id = self.experiment_id()
            mlflow_spans = [to_mlflow_span(span) for span in spans]
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            return SpanExportResult.FAILURE
        write = self._post if self._is_http else self._log_local
        try:
            self._with_retries(write, experiment_id, mlflow_spans)
            return SpanExportResult.SUCCESS
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            if _retryable(exc):  # the store or server is the problem, not one trace
                return SpanExportResult.FAILURE
        return self._by_trace(write, experiment_id, mlflow_spans)

    def _by_trace(
        self, write: Any, experiment_id: str, mlflow_spans: list[Any]
    ) -> SpanExportResult:
        """One bad trace must not sink the others: after a failed batch, write trace by trace."""
        if len({s.trace_id for s in mlflow_spans}) == 1:
            return SpanExportResult.FAILURE
        by_trace: dict[str, list[Any]] = defaultdict(list)
        for span in mlflow_spans:
            by_trace[span.trace_id].append(span)
        ok = True
        for group in by_trace.values():
            try:
                self._with_retries(write, experiment_id, group)
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                ok = False
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def _with_retries(self, call: Any, *args: Any) -> Any:
        """``call(*args)``, retried on transient errors (`_retryable`) with exponential backoff
        and jitter; a ``Retry-After`` up to `MAX_RETRY_AFTER_S` is waited out, a longer one
        ends the retries. SQLite lock errors get `LOCKED_RETRIES` attempts at least."""
        attempt = 0
        while True:
            try:
                return call(*args)
            except Exception as exc:
                limit = max(self.retries, LOCKED_RETRIES) if _locked(exc) else self.retries
                if attempt >= limit or not _retryable(exc):
                    raise
                delay = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**attempt) * (0.5 + random.random())
                hint = getattr(exc, "retry_after", None)
                if hint is not None:
                    if hint > MAX_RETRY_AFTER_S:
                        raise
                    delay = max(delay, hint)
                logger.debug("export attempt %d failed (%r); retry in %.2fs", attempt, exc, delay)
                attempt += 1
                self.retried += 1
                time.sleep(delay)

    # -- HTTP with a spool -----------------------------------------------------------------
    def _export_or_spool(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Send, or spool when the server is (or just was) unreachable; FIFO across both."""
        assert self._spool is not None
        try:
            mlflow_spans = [to_mlflow_span(span) for span in spans]
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            return SpanExportResult.FAILURE
        with self._spool_lock:
            self._replay(time.monotonic() + REPLAY_BUDGET_S)
            if self._paused() or self._spool.has_pending():
                return self._to_spool(mlflow_spans)
            try:
                experiment_id = self.experiment_id()
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                if not _retryable(exc):
                    return SpanExportResult.FAILURE
                self._pause(exc)
                return self._to_spool(mlflow_spans)
            try:
                self._with_retries(self._post, experiment_id, mlflow_spans)
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                if not _retryable(exc):
                    return self._by_trace(self._post, experiment_id, mlflow_spans)
                self._pause(exc)
                return self._to_spool(mlflow_spans)
            self._failures = 0
            return SpanExportResult.SUCCESS

    def _to_spool(self, mlflow_spans: list[Any]) -> SpanExportResult:
        assert self._spool is not None
        try:
            self._spool.put(otlp_body(mlflow_spans), self.experiment, len(mlflow_spans))
        except (OSError, SpoolFullError) as exc:
            self.last_error = f"could not spool {len(mlflow_spans)} spans: {exc}"
            return SpanExportResult.FAILURE
        self.spooled += len(mlflow_spans)
        return SpanExportResult.SUCCESS

    def _paused(self) -> bool:
        return time.monotonic() < self._paused_until

    def _pause(self, exc: BaseException) -> None:
        """Stop asking the server for a while (doubling), or as long as its Retry-After says."""
        self._failures += 1
        wait = min(PROBE_MAX_S, PROBE_MIN_S * 2 ** (self._failures - 1))
        hint = getattr(exc, "retry_after", None)
        if hint is not None:
            wait = max(wait, min(hint, 300.0))
        self._paused_until = time.monotonic() + wait

    def _replay(self, deadline: float) -> None:
        """Send spooled batches, oldest first, until the spool is empty, the server fails
        again or ``deadline`` passes. One attempt each: the spool itself is the retry."""
        spool = self._spool
        assert spool is not None
        while not self._paused() and time.monotonic() < deadline:
            batch = spool.claim_oldest()
            if batch is None:
                return
            try:
                experiment_id = self._http_experiment_id_of(batch.experiment)
                spans = spans_from_body(batch.body, experiment_id)
                self._send(experiment_id, batch.body, spans)
            except Exception as exc:
                self.last_error = f"replay: {type(exc).__name__}: {exc}"
                if _retryable(exc):
                    spool.release(batch)
                    self._pause(exc)
                    return
                spool.reject(batch, self.last_error)
                self.rejected += batch.spans
                continue
            spool.done(batch)
            self.replayed += batch.spans
            self._failures = 0

    def poll(self) -> None:
        """Called by the processor on the export thread when idle: replay spooled batches."""
        if self._spool is None or not self._spool_lock.acquire(blocking=False):
            return
        try:
            if self._spool.has_pending():
                self._replay(time.monotonic() + REPLAY_BUDGET_S)
        finally:
            self._spool_lock.release()

    def counters(self) -> dict[str, int]:
        """Retries, spooled/replayed spans, spans waiting in the spool, spans it gave up on."""
        pending = self._spool.pending_spans() if self._spool is not None else 0
        return {
            "retries": self.retried,
            "spooled": self.spooled,
            "replayed": self.replayed,
            "spool_pending": pending,
            "failed": self.rejected,
        }

    def _log_local(self, experiment_id: str, spans: list[Any]) -> None:
        store = self._local_store()
        rest = self._write_bulk(store, experiment_id, spans)
        if rest:
            store.log_spans(experiment_id, rest)
        link_to_runs(spans, store.link_traces_to_run)  # traces begun in an MLflow run
        link_stored(spans, lambda: store)  # prompt versions used inside these traces

    def _write_bulk(self, store: Any, experiment_id: str, spans: list[Any]) -> list[Any]:
        """Whole new traces through `_sql_bulk` where it applies; the rest for `log_spans`."""
        if self._bulk is None:
            self._bulk = _sql_bulk.supported(store)
        if not self._bulk:
            return spans
        try:
            return _sql_bulk.write_new_traces(store, experiment_id, spans)
        except Exception as exc:
            if _retryable(exc):
                raise
            self._bulk = False
            logger.warning(
                "llmtrace: bulk SQL write failed (%s: %s); using MLflow's log_spans from now on",
                type(exc).__name__,
                exc,
            )
            return spans

    def _post(self, experiment_id: str, spans: list[Any]) -> None:
        self._send(experiment_id, otlp_body(spans), spans)

    def _send(self, experiment_id: str, body: bytes, spans: list[Any]) -> None:
        response = self._session().post(
            self.tracking_uri.rstrip("/") + OTLP_PATH,
            data=body,
            headers={"Content-Type": "application/x-protobuf", EXPERIMENT_HEADER: experiment_id},
            timeout=self.timeout_s,
        )
        raise_for_status(response)
        link_to_runs(spans, http_linker(self._session(), self.tracking_uri, self.timeout_s))
        link_stored(spans, self._local_store)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """With a spool: ask the server now and replay what it takes within the timeout."""
        if self._spool is None:
            return True
        deadline = time.monotonic() + timeout_millis / 1000.0
        if not self._spool_lock.acquire(timeout=max(0.0, timeout_millis / 1000.0)):
            return False
        try:
            if self._spool.has_pending():
                self._paused_until = 0.0
                self._replay(deadline)
            return not self._spool.has_pending()
        finally:
            self._spool_lock.release()

    def after_fork(self) -> None:
        """Drop connections inherited from the parent process (re-created on next export)."""
        self._store = None
        self._http = None
        self._spool_lock = threading.Lock()
        self.retried = self.spooled = self.replayed = self.rejected = 0
        if self._spool is not None:
            self._spool.forget()

    def shutdown(self) -> None:
        if self._http is not None:
            self._http.close()


def _locked(exc: BaseException) -> bool:
    return "database is locked" in str(exc).lower()
