"""`MlflowSpanExporter`: OpenTelemetry spans in, MLflow traces out.

Local store URIs (``sqlite:///``, ``postgresql://``, a folder) are written with the store's own
``log_spans`` (many traces per call), or, for whole new traces in a SQLite store, with the
row-for-row equivalent bulk INSERTs of `_sql_bulk`; ``http(s)://`` tracking servers get
OTLP/protobuf at ``{uri}/v1/traces`` (`_exporter_http`, the exporter's HTTP half). MLflow is
imported on first export, on the export thread.

Transient failures (a locked SQLite file, a refused connection, a timeout, HTTP 408, 429 and
5xx) are retried by `MlflowSpanExporter._with_retries` with exponential backoff and jitter,
honouring ``Retry-After``. A trace the store refuses for its data fails alone (`_isolate`): the
rest of its batch is stored, and ``export`` still answers SUCCESS while ``counters()["failed"]``
grows by the refused spans. So does a trace whose id the store holds for another trace
(`_dupes`; SQL stores only). A store-wide error (read-only, full disk, HTTP 401/403/404) fails
the batch at once, without a retry per trace. With a spool (`_spool.Spool`, HTTP only), a batch
the server still cannot take is written to disk instead of being lost, and replayed oldest
first once the server answers; on replay too, only the traces the server refuses are set aside.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .. import _semconv as sc
from .._ids import mlflow_trace_id
from .._log import OnceLogger
from . import _dupes, _sql_bulk
from ._exporter_http import HttpSide
from ._isolate import (
    Group,
    PartlyStored,
    about_the_data,
    describe,
    group_by_trace,
    locked,
    retryable,
    store_wide,
    write_isolated,
)
from ._promptlink import link_stored
from ._runlink import link_to_runs
from ._spool import Spool
from ._store_setup import resolve_experiment_id, sqlite_setup_lock

logger = logging.getLogger("llmtrace")

BACKOFF_BASE_S = 0.1  # attempt n waits BACKOFF_BASE_S * 2**n, capped, times a 0.5-1.5 jitter
BACKOFF_MAX_S = 5.0
MAX_RETRY_AFTER_S = 10.0  # a longer Retry-After is not slept through: the batch spools or fails
LOCKED_RETRIES = 10  # SQLite "database is locked": several writer processes take turns
BROKEN_MIN_S, BROKEN_MAX_S = 0.5, 30.0  # a store failing as a whole is not asked again before


def to_mlflow_span(span: ReadableSpan) -> Any:
    """Convert an (enriched) OTel span into an `mlflow.entities.Span`.

    MLflow stores every attribute value as JSON text; llmtrace's structured attributes
    (inputs, outputs, token usage...) already are, the others are encoded here.
    """
    from mlflow.entities import Span

    attrs: dict[str, Any] = {}
    source = span.attributes or {}
    mirrored = bool(source.get(sc.LLMTRACE_MIRRORED))  # OpenInference copies: not stored twice
    for key, value in source.items():
        if mirrored and sc.is_mirror_key(key):
            continue
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


class MlflowSpanExporter(HttpSide, SpanExporter):
    """Export prepared OpenTelemetry spans as MLflow traces into a store or tracking server.

    llmtrace's pipeline uses this class behind its processor (spans already enriched); the
    public `llmtrace.MlflowSpanExporter` (tracing/_exporter.py) prepares spans itself first.

    Example:
        >>> exporter = MlflowSpanExporter("sqlite:///mlflow.db", "my-app")
        >>> exporter.export(enriched_spans)
        <SpanExportResult.SUCCESS: 0>
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
        self.refused = 0  # spans of batches answered SUCCESS (or spooled) not stored after all
        self._once = OnceLogger()  # per exporter: a new configure() warns afresh
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
        self._broken = ""  # the store-wide error that opened the breaker (`_breaker`)
        self._broken_until = 0.0  # monotonic: batches fail at once until then
        self._broken_for = 0.0  # seconds the breaker stayed open last time

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

    def _local_store(self) -> Any:
        if self._store is None:
            from mlflow.tracking import MlflowClient

            self._store = MlflowClient(tracking_uri=self.tracking_uri)._tracking_client.store
        return self._store

    # -- SpanExporter contract -------------------------------------------------------------
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Store ``spans``. SUCCESS when any of them was stored (or spooled): the spans of
        traces refused alone are then added to ``counters()["failed"]``; FAILURE when none
        was (the caller counts the whole batch)."""
        if not spans:
            return SpanExportResult.SUCCESS
        groups, failed = self._convert(spans)
        if self._spool is not None:
            failed += self._export_or_spool(groups)
        elif groups and time.monotonic() < self._broken_until:
            why = f"{self._broken} (the store is not asked again for a few seconds)"
            failed += [(g, why) for g in groups]
        elif groups:
            try:
                experiment_id = self.experiment_id()
            except Exception as exc:
                failed += [(g, describe(exc)) for g in groups]
                self._breaker(exc)
            else:
                write = self._post if self._is_http else self._write_local
                outcome = write_isolated(
                    groups, lambda part: self._with_retries(write, experiment_id, part)
                )
                failed += outcome.lost()
                self._breaker(outcome.error)
        return self._result(len(spans), failed)

    def _breaker(self, error: BaseException | None) -> None:
        """After a store-wide error (read-only, deleted, full), fail batches at once for a
        while (`BROKEN_MIN_S`, doubling to `BROKEN_MAX_S`) instead of asking the store (and
        MLflow logging its traceback) for every batch; counted failed all the same."""
        if error is None or not store_wide(error):
            if error is None:
                self._broken_for = 0.0
            return
        self._broken_for = min(BROKEN_MAX_S, max(BROKEN_MIN_S, self._broken_for * 2))
        self._broken_until = time.monotonic() + self._broken_for
        self._broken = describe(error)

    def _convert(self, spans: Sequence[ReadableSpan]) -> tuple[list[Group], list[Any]]:
        """MLflow spans grouped by trace; a trace with a span that cannot be converted fails."""
        groups: list[Group] = []
        failed: list[tuple[Group, str]] = []
        for group in group_by_trace(spans, key=lambda span: span.context.trace_id):
            try:
                groups.append([to_mlflow_span(span) for span in group])
            except Exception as exc:
                failed.append((group, describe(exc)))
        return groups, failed

    def _result(self, total: int, failed: list[tuple[Group, str]]) -> SpanExportResult:
        if not failed:
            return SpanExportResult.SUCCESS
        self.last_error = failed[-1][1]
        lost = sum(len(group) for group, _ in failed)
        duplicate = next((why for _, why in failed if _dupes.is_duplicate(why)), None)
        if duplicate is not None:
            self._once.warn(
                "duplicate-trace-id",
                "llmtrace: %s: the new trace was not stored (counted in llmtrace.stats()."
                "failed); %s",
                duplicate,
                _dupes.HINT,
            )
        if lost >= total:
            return SpanExportResult.FAILURE  # the caller counts the whole batch failed
        self.refused += lost
        other = [(group, why) for group, why in failed if not _dupes.is_duplicate(why)]
        if other:
            self._once.warn(
                "refused-traces",
                "llmtrace: %d spans of %d traces could not be stored and were dropped (%s); "
                "the rest of their batch was stored. Counted in llmtrace.stats().failed",
                sum(len(group) for group, _ in other),
                len(other),
                other[-1][1],
            )
        return SpanExportResult.SUCCESS

    def _with_retries(self, call: Any, *args: Any) -> Any:
        """``call(*args)``, retried on transient errors (`_isolate.retryable`) with exponential
        backoff and jitter; a ``Retry-After`` up to `MAX_RETRY_AFTER_S` is waited out, a longer
        one ends the retries. SQLite lock errors get `LOCKED_RETRIES` attempts at least."""
        attempt = 0
        while True:
            try:
                return call(*args)
            except Exception as exc:
                cause = exc.cause if isinstance(exc, PartlyStored) else exc
                limit = max(self.retries, LOCKED_RETRIES) if locked(cause) else self.retries
                if attempt >= limit or not retryable(cause):
                    raise
                delay = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**attempt) * (0.5 + random.random())
                hint = getattr(cause, "retry_after", None)
                if hint is not None:
                    if hint > MAX_RETRY_AFTER_S:
                        raise
                    delay = max(delay, hint)
                logger.debug("export attempt %d failed (%r); retry in %.2fs", attempt, exc, delay)
                attempt += 1
                self.retried += 1
                time.sleep(delay)

    def counters(self) -> dict[str, int]:
        """Retries, spooled/replayed spans, spans waiting in the spool, and ``failed``: spans
        of batches `export` answered SUCCESS for (stored in part, or spooled) that were not
        stored after all (refused alone, or set aside on replay)."""
        pending = self._spool.pending_spans() if self._spool is not None else 0
        return {
            "retries": self.retried,
            "spooled": self.spooled,
            "replayed": self.replayed,
            "spool_pending": pending,
            "failed": self.refused,
        }

    # -- local stores ----------------------------------------------------------------------
    def _write_local(self, experiment_id: str, spans: list[Any]) -> Mapping[str, str]:
        """Store ``spans`` (whole new traces in bulk where `_sql_bulk` applies, the rest with
        ``log_spans``); returns the traces refused as another trace's id, with the reason.
        Raises `PartlyStored` when the bulk part was stored and ``log_spans`` failed."""
        store = self._local_store()
        if self._bulk is None:
            self._bulk = _sql_bulk.supported(store)
        refused: dict[str, str] = {}
        rest = spans
        if self._bulk:
            try:
                rest = _sql_bulk.write_new_traces(store, experiment_id, spans, refused)
            except Exception as exc:
                if not about_the_data(exc) or len({s.trace_id for s in spans}) > 1:
                    raise
                # One trace alone: if log_spans takes it, the bulk path is at fault, not it.
                refused = self._log_spans(store, experiment_id, spans)
                self._bulk = False
                logger.warning(
                    "llmtrace: bulk SQL write failed (%s) on a trace MLflow's log_spans "
                    "stores; using log_spans from now on",
                    describe(exc),
                )
                rest = []
        else:
            refused = self._log_spans(store, experiment_id, spans)
            rest = []
        if rest:
            try:
                store.log_spans(experiment_id, rest)
            except Exception as exc:
                written = {s.trace_id for s in spans} - {s.trace_id for s in rest}
                if written - set(refused):
                    raise PartlyStored(written - set(refused), exc) from exc
                raise
        stored = [s for s in spans if s.trace_id not in refused]
        link_to_runs(stored, store.link_traces_to_run)  # traces begun in an MLflow run
        link_stored(stored, lambda: store)  # prompt versions used inside these traces
        return refused

    def _log_spans(self, store: Any, experiment_id: str, spans: list[Any]) -> dict[str, str]:
        """``log_spans`` for the traces of ``spans`` not held by the store for another trace."""
        by_trace: dict[str, list[Any]] = {}
        for span in spans:
            by_trace.setdefault(span.trace_id, []).append(span)
        refused = _dupes.find(store, by_trace)
        keep = [s for s in spans if s.trace_id not in refused]
        if keep:
            store.log_spans(experiment_id, keep)
        return refused

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
        self.retried = self.spooled = self.replayed = self.refused = 0
        if self._spool is not None:
            self._spool.forget()

    def shutdown(self) -> None:
        if self._http is not None:
            self._http.close()
