"""The batching span processor: a bounded queue, two background threads, counted losses.

`on_end` (caller's thread) only appends to a deque. Two background threads form a pipeline:
the export thread takes whole traces off the queue and prepares them (the runtime passes the
tracing layer's `enrich`) into
the next batch, while the send thread hands the previous batch to every exporter, so enriching
never waits for a store write. Nothing is lost silently: a full queue, a failed export or a
span that could not be serialized is counted in `Stats` and logged once.

Batches hold whole traces: spans are taken off the queue up to the last root span that ended,
and the children of a trace still running wait for their root, up to `HOLD_MAX_S` (a store
writes whole new traces in bulk; a split trace costs two slow writes). A flush or shutdown
takes everything, and a batch-sized run of spans without a root (one huge trace) is sent as it
is.

When the queue is full, the *newest* span is dropped (the one ending now): the caller's
`on_end` stays one lock-free append, the spans already queued (often the rest of the same
traces) are kept, and the count is exact. When idle, the export thread calls each exporter's
``poll()`` if it has one (the MLflow exporter replays its spool there).
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .._config import Config
from .._log import OnceLogger
from .._semconv import LLMTRACE_SERIALIZATION_ERROR as SERIALIZATION_ERROR
from ._pacer import Pacer

Prepare = Callable[[ReadableSpan, Config], tuple[ReadableSpan, bool]]
"""Turns a span as it ended into the span to export, and says whether a value failed."""


def _as_is(span: ReadableSpan, config: Config) -> tuple[ReadableSpan, bool]:
    return span, False


def _nothing(*args: Any) -> None:
    return None

logger = logging.getLogger("llmtrace")

_SUPPRESS = otel_context._SUPPRESS_INSTRUMENTATION_KEY  # honoured by OTel instrumentations
_ID_MASK = (1 << 64) - 1  # TraceIdRatioBased compares the low 64 bits of the trace id
HOLD_MAX_S = 2.0
"""Longest a finished child waits in the queue for its root (a long-running root, such as one
around a whole chatbot session, must not keep its children out of the store)."""


@dataclass(frozen=True)
class Stats:
    """Counters of the export pipeline since the process (or last `configure`) started.

    Example:
        >>> llmtrace.flush()
        >>> s = llmtrace.stats()
        >>> assert s.dropped == 0 and s.failed == 0
    """

    enqueued: int
    """Spans handed to the pipeline."""
    exported: int
    """Spans every exporter accepted."""
    dropped: int
    """Spans dropped because the queue was full."""
    failed: int
    """Spans an exporter refused or raised on (after its retries); also the spans of a batch
    stored in part that were refused alone (one bad trace), and spooled spans set aside on
    replay — those move from ``exported`` to ``failed``."""
    serialization_errors: int
    """Spans stored with a placeholder because a value could not be serialized."""
    queued: int
    """Spans not finished with yet: waiting in the queue, being prepared or exported now, or
    sent to the export process and not answered yet
    (``enqueued == exported + dropped + failed + queued`` at every moment)."""
    last_error: str | None
    """The most recent export error, if any."""
    retries: int = 0
    """Export attempts repeated after a transient error (HTTP path; a local store is retried
    in the export process and not counted here)."""
    spooled: int = 0
    """Spans written to the on-disk spool because the server could not take them (they count
    as exported: the spool holds them)."""
    replayed: int = 0
    """Spooled spans sent to the server since (by this process, from any earlier one too)."""
    spool_pending: int = 0
    """Spans in the spool now, waiting for the server."""


class BatchingProcessor(SpanProcessor):
    """Bounded-queue batching `SpanProcessor` that prepares spans and fans out to exporters.

    What a span becomes is not this layer's business: the runtime hands in ``prepare`` (the
    tracing layer's enrichment, on the export thread), ``discard`` (forget what the tracing
    layer holds for a span that will not be exported) and ``on_start`` (stamps a root span on
    the caller's thread: session, MLflow run).

    Example:
        >>> processor = BatchingProcessor([exporter], config, prepare=enrich)
        >>> provider.add_span_processor(processor)
    """

    def __init__(
        self,
        exporters: Sequence[SpanExporter],
        config: Config,
        *,
        prepare: Prepare = _as_is,
        discard: Callable[[int], None] = _nothing,
        on_start: Callable[[Span], None] = _nothing,
        size_of: Callable[[ReadableSpan], int] | None = None,
        sample_rate: float = 1.0,
    ) -> None:
        self._exporters = list(exporters)
        self._config = config
        self._prepare = prepare
        self._discard = discard
        self._on_start = on_start
        # On a provider llmtrace joined, its own sampler decides what is recorded; llmtrace
        # keeps `sample_rate` of the traces, by trace id (as TraceIdRatioBased would).
        self._sample_bound = round(sample_rate * _ID_MASK) if sample_rate < 1.0 else None
        self._size_of = size_of  # bytes a queued span holds (None: the queue counts spans only)
        self._max_bytes = config.max_queue_bytes
        self._bytes = 0  # estimated bytes queued now
        # each queued span carries its estimate as `_llmtrace_bytes`; spans that cannot (slots)
        # are kept here by id() while queued
        self._sizes: dict[int, int] = {}
        self._bytes_lock = threading.Lock()
        self._queue: collections.deque[ReadableSpan] = collections.deque()
        self._max = config.max_queue_size
        self._batch = config.max_export_batch_size
        self._delay = config.schedule_delay_ms / 1000.0
        self._wake = threading.Event()
        self._cond = threading.Condition()
        self._count_lock = threading.Lock()  # rare paths only: drops, failures, stats
        self._pop_lock = threading.Lock()  # export thread vs flush, never the caller
        self._popped = 0  # spans taken off the queue by the export thread
        self._handled = 0  # ... and finished with (exported or failed)
        self._flushing = 0  # force_flush calls waiting: take spans without waiting for roots
        self._ready: list[ReadableSpan] = []  # enriched, for the send thread's next export
        self._ready_cond = threading.Condition()
        self._stop_sending = False
        self._exported = 0
        self._dropped = 0
        self._failed = 0
        self._ser_errors = 0
        self._late_seen: dict[int, int] = {}  # id(exporter) -> its refused spans, last seen
        self._last_error: str | None = None
        self._once = OnceLogger()  # per pipeline: a new configure() warns afresh
        self._shutdown = False
        self._start_threads()
        if hasattr(os, "register_at_fork"):
            ref = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _reinit_in_child(ref))

    def _after_fork(self) -> None:
        """In a forked child: the parent's queue and thread are not ours; start afresh."""
        self._queue = collections.deque()
        self._wake = threading.Event()
        self._cond = threading.Condition()
        self._count_lock = threading.Lock()
        self._pop_lock = threading.Lock()
        self._popped = self._handled = self._exported = self._flushing = 0
        self._dropped = self._failed = self._ser_errors = 0
        self._bytes = 0
        self._sizes = {}
        self._bytes_lock = threading.Lock()
        self._last_error = None
        self._late_seen = {}
        self._ready = []
        self._ready_cond = threading.Condition()
        self._stop_sending = False
        for exporter in self._exporters:
            reset = getattr(exporter, "after_fork", None)
            if callable(reset):
                reset()
        if not self._shutdown:
            self._start_threads()

    def _start_threads(self) -> None:
        self._thread = threading.Thread(target=self._run, name="llmtrace-export", daemon=True)
        self._sender = threading.Thread(target=self._send, name="llmtrace-send", daemon=True)
        self._thread.start()
        self._sender.start()

    # -- caller's thread -------------------------------------------------------------------
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        parent = span.parent
        if parent is None or parent.is_remote:
            self._on_start(span)

    def on_end(self, span: ReadableSpan) -> None:
        bound = self._sample_bound
        if bound is not None and (span.context.trace_id & _ID_MASK) >= bound:
            self._discard(span.context.span_id)  # sampled out: never enqueued, not a loss
            return
        if self._shutdown:
            self._discard(span.context.span_id)
            self._drop(1, "span ended after llmtrace shut down")
            return
        if len(self._queue) >= self._max:
            self._discard(span.context.span_id)
            self._drop(1, f"export queue full ({self._max} spans)")
            return
        size_of = self._size_of
        if size_of is not None:  # the byte bound, inline: this runs once per span
            try:
                size = size_of(span)
            except Exception:  # an estimate only: never a reason to lose the span
                size = 1024
            with self._bytes_lock:
                if self._bytes + size > self._max_bytes and self._bytes > 0:
                    full = True
                else:
                    full = False
                    self._bytes += size
            if full:
                self._discard(span.context.span_id)
                self._drop(1, f"export queue full ({self._max_bytes // (1024 * 1024)} MB queued)")
                return
            try:
                span._llmtrace_bytes = size  # type: ignore[attr-defined]
            except AttributeError:  # a span type with __slots__: keep it aside
                self._sizes[id(span)] = size
        _shed(span)
        self._queue.append(span)  # deque.append is atomic
        if len(self._queue) >= self._batch and not self._wake.is_set():
            self._wake.set()

    def _release(self, spans: list[ReadableSpan]) -> None:
        """The spans left the queue: their bytes no longer count."""
        if self._size_of is None:
            return
        freed = 0
        for span in spans:
            try:
                freed += span._llmtrace_bytes  # type: ignore[attr-defined]
            except AttributeError:
                freed += self._sizes.pop(id(span), 0)  # dict.pop is atomic
        with self._bytes_lock:
            self._bytes -= freed

    def _drop(self, n: int, why: str) -> None:
        with self._count_lock:
            self._dropped += n
        self._warn_once(why, "llmtrace dropped spans: %s (counted in llmtrace.stats())", why)

    # -- export thread: whole traces off the queue, enriched into the next batch ------------
    def _run(self) -> None:
        token = otel_context.attach(otel_context.set_value(_SUPPRESS, True))
        try:
            while True:
                self._wake.wait(self._delay)
                self._wake.clear()
                try:
                    self._drain()
                    self._poll()
                except BaseException as exc:  # this thread must not die
                    self._warn_once("drain", "llmtrace export thread error (contained): %r", exc)
                if self._shutdown and not self._queue:
                    return
        finally:
            otel_context.detach(token)
            with self._ready_cond:
                self._stop_sending = True
                self._ready_cond.notify_all()

    def _drain(self) -> None:
        """Enrich queued whole traces into the next batch: one chunk per wake-up, more only
        while a batch's worth is queued (or a flush or shutdown wants everything)."""
        first = True
        while self._queue:
            with self._ready_cond:  # a full batch waiting for the send thread: let it take it
                while len(self._ready) >= self._batch and self._sender.is_alive():
                    self._ready_cond.wait(0.05)
                room = self._batch - len(self._ready)
            everything = bool(self._flushing or self._shutdown)
            if room <= 0 or not (first or everything or len(self._queue) >= room):
                return
            first = False
            with self._pop_lock:
                chunk: list[ReadableSpan] = []
                while self._queue and len(chunk) < room:
                    chunk.append(self._queue.popleft())
                # A rootless chunk is sent only when it fills a batch (one huge trace), or when a
                # flush takes the last spans queued (children of a trace still running).
                take_all = everything and not self._queue
                huge = len(chunk) >= self._batch
                if not take_all and not self._cut_after_last_root(chunk, keep_rootless=huge):
                    chunk.clear()  # wait: for the root, or for room in the next batch
                self._popped += len(chunk)
            if not chunk:
                return
            self._release(chunk)
            spans = self._enrich(chunk)
            with self._ready_cond:
                self._ready.extend(spans)
                self._ready_cond.notify_all()

    def _cut_after_last_root(self, chunk: list[ReadableSpan], keep_rootless: bool) -> bool:
        """Cut ``chunk`` after its last root span; the rest goes back to the queue front.

        Children end before their root, so a chunk that ends with a root holds whole traces.
        A chunk without a root goes back whole unless ``keep_rootless`` (a batch-sized run of
        one huge trace). Nothing goes back once its oldest span ended `HOLD_MAX_S` ago.
        Returns whether the chunk (what is left of it) is to be sent.
        """
        for i in range(len(chunk) - 1, -1, -1):
            parent = chunk[i].parent
            if parent is None or parent.is_remote:
                if i + 1 < len(chunk) and not _held_too_long(chunk[i + 1]):
                    self._queue.extendleft(reversed(chunk[i + 1 :]))
                    del chunk[i + 1 :]
                return True
        if keep_rootless or (chunk and _held_too_long(chunk[0])):
            return True
        self._queue.extendleft(reversed(chunk))
        return False

    def _enrich(self, chunk: list[ReadableSpan]) -> list[ReadableSpan]:
        spans: list[ReadableSpan] = []
        pace = Pacer()  # a waiting application thread has the GIL after a slice, not in 5 ms
        for span in chunk:
            pace()
            try:
                enriched, failed = self._prepare(span, self._config)
            except BaseException as exc:  # user objects may raise anything
                enriched, failed = bare_span(span, exc), True
                self._warn_once(
                    "enrich", "llmtrace could not process span %r: %s", span.name, exc
                )
            if failed:
                with self._count_lock:
                    self._ser_errors += 1
            spans.append(enriched)
        return spans

    # -- send thread: one batch at a time to every exporter ---------------------------------
    def _send(self) -> None:
        token = otel_context.attach(otel_context.set_value(_SUPPRESS, True))
        try:
            while True:
                with self._ready_cond:
                    while not self._ready and not self._stop_sending:
                        self._ready_cond.wait()
                    if not self._ready:
                        return
                    batch, self._ready = self._ready, []
                    self._ready_cond.notify_all()
                if self._queue:
                    self._wake.set()  # the export thread fills the next batch meanwhile
                try:
                    ok = self._export(batch)
                except BaseException as exc:  # never let the send thread die
                    ok = False
                    self._record_failure(0, exc)
                with self._count_lock:  # one step: the counter identity holds at every moment
                    if ok:
                        self._exported += len(batch)
                    else:
                        self._failed += len(batch)
                    self._handled += len(batch)
                with self._cond:
                    self._cond.notify_all()
        finally:
            otel_context.detach(token)

    def _poll(self) -> None:
        for exporter in self._exporters:
            poll = getattr(exporter, "poll", None)
            if callable(poll):
                try:
                    poll()
                except Exception as exc:
                    self._warn_once("poll", "llmtrace exporter poll failed: %r", exc)

    def _export(self, spans: list[ReadableSpan]) -> bool:
        """Hand ``spans`` to every exporter; True when all of them accepted the batch."""
        ok = True
        for exporter in self._exporters:
            try:
                result = exporter.export(spans)
            except BaseException as exc:  # an exporter must not kill the thread
                self._record_failure(len(spans), exc, exporter)
                ok = False
                continue
            if result is not SpanExportResult.SUCCESS:
                self._record_failure(len(spans), None, exporter)
                ok = False
            self._note_late(exporter)
        return ok

    def _note_late(self, exporter: Any) -> None:
        """Keep the reason (and warn once) when spans counted exported were refused after
        all: stored in part, or a batch answered later (`ProcessExporter` pipelines)."""
        now = _refused(exporter)
        with self._count_lock:
            seen = self._late_seen.get(id(exporter), 0)
            self._late_seen[id(exporter)] = now
        if now > seen:
            self._record_failure(now - seen, None, exporter)

    def _record_failure(self, n: int, exc: BaseException | None, exporter: Any = None) -> None:
        """Keep the reason (the caller counts the spans) and warn once per exporter."""
        who = type(exporter).__name__ if exporter is not None else "llmtrace"
        detail = getattr(exporter, "last_error", None) if exc is None else f"{exc!r}"
        message = f"{who}: {detail or 'export returned FAILURE'}"
        with self._count_lock:
            self._last_error = message
        self._warn_once(
            f"fail:{who}",
            "llmtrace could not export %d spans (%s); further failures are counted in "
            "llmtrace.stats()",
            n,
            message,
        )

    def _warn_once(self, key: str, msg: str, *args: Any) -> None:
        self._once.warn(key, msg, *args)

    # -- control ---------------------------------------------------------------------------
    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export everything enqueued so far; True when done within the timeout."""
        with self._pop_lock:
            target = self._popped + len(self._queue)
            self._flushing += 1
        try:
            deadline = time.monotonic() + timeout_millis / 1000.0
            self._wake.set()
            with self._cond:
                while self._handled < target:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._thread.is_alive() or not self._sender.is_alive():
                        return False
                    self._cond.wait(min(left, 0.05))
                    self._wake.set()
        finally:
            with self._pop_lock:
                self._flushing -= 1
        done = True
        for exporter in self._exporters:
            flush = getattr(exporter, "force_flush", None)
            if callable(flush):
                try:
                    flush(max(1, int((deadline - time.monotonic()) * 1000)))
                except Exception as exc:
                    self._warn_once("flush", "llmtrace exporter flush failed: %r", exc)
            self._note_late(exporter)
            if _counter(exporter, "pending"):  # sent, still unanswered: counted queued
                done = False
        return done

    def shutdown(self, timeout_millis: int = 30_000) -> None:
        if self._shutdown:
            return
        self.force_flush(timeout_millis)
        self._shutdown = True
        self._wake.set()
        self._thread.join(timeout_millis / 1000.0)
        self._sender.join(timeout_millis / 1000.0)
        with self._pop_lock, self._count_lock:  # dropped in one step: stats() stay exact
            left = list(self._queue)
            self._queue.clear()
            self._dropped += len(left)
        self._release(left)
        if left:
            for span in left:
                self._discard(span.context.span_id)
            self._warn_once(
                "shutdown-left",
                "llmtrace dropped %d spans: shut down before they were exported (counted in "
                "llmtrace.stats())",
                len(left),
            )
        for exporter in self._exporters:
            try:
                exporter.shutdown()
            except Exception as exc:
                logger.debug("exporter shutdown failed: %r", exc)
            self._note_late(exporter)

    def stats(self) -> Stats:
        extra = {"retries": 0, "spooled": 0, "replayed": 0, "spool_pending": 0, "failed": 0}
        extra["pending"] = 0  # sent, not answered yet: counted exported here, queued in fact
        for exporter in self._exporters:
            counters = getattr(exporter, "counters", None)
            if callable(counters):
                try:
                    for key, value in counters().items():
                        if key in extra:
                            extra[key] += int(value)
                except Exception as exc:
                    logger.debug("exporter counters failed: %r", exc)
        late_failed = extra.pop("failed")  # counted exported here, refused later by the exporter
        pending = extra.pop("pending")
        with self._pop_lock, self._count_lock:  # one snapshot: the identity holds exactly
            waiting = len(self._queue)
            in_flight = self._popped - self._handled  # being enriched or exported now
            late = min(late_failed, self._exported)
            pending = min(pending, self._exported - late)
            return Stats(
                enqueued=self._popped + waiting + self._dropped,
                exported=self._exported - late - pending,
                dropped=self._dropped,
                failed=self._failed + late,
                serialization_errors=self._ser_errors,
                queued=waiting + in_flight + pending,
                last_error=self._last_error,
                **extra,
            )


def _refused(exporter: Any) -> int:
    """Spans ``exporter`` refused inside batches it answered SUCCESS for (its counters)."""
    return _counter(exporter, "failed")


def _counter(exporter: Any, key: str) -> int:
    counters = getattr(exporter, "counters", None)
    if not callable(counters):
        return 0
    try:
        return int(counters().get(key, 0))
    except Exception:
        return 0


def bare_span(span: ReadableSpan, exc: BaseException) -> ReadableSpan:
    """The span as it ended, minus what could not be prepared, marked with why."""
    try:
        reason = f"{type(exc).__name__}: {exc}"
    except BaseException:  # even str(exc) may raise
        reason = type(exc).__name__
    attrs = {k: v for k, v in (span.attributes or {}).items() if isinstance(v, (bool, int, float))}
    attrs[SERIALIZATION_ERROR] = f"span not prepared: {reason}"[:1000]
    return ReadableSpan(
        name=span.name[:1000],
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attrs,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _shed(span: ReadableSpan) -> None:
    """Let go of the live span's empty event and link lists before ``span`` waits in the queue.

    The SDK's span hands processors a `ReadableSpan` that shares its ``BoundedList`` of events
    and of links: a deque and a lock each, ~1.9 KB per span even when empty, more than the
    span's other fields together. A backlog of 20,000 spans held ~37 MB in them alone.
    """
    try:  # BoundedList.__len__ is Python code: test the deque it wraps
        if not span._events._dq:
            span._events = ()
    except AttributeError:  # shed already, or another SDK's span: nothing to shed
        pass
    try:
        if not span._links._dq:
            span._links = ()
    except AttributeError:
        pass


def _held_too_long(span: ReadableSpan) -> bool:
    return time.time_ns() - (span.end_time or 0) > HOLD_MAX_S * 1e9


def _reinit_in_child(ref: weakref.ref[BatchingProcessor]) -> None:
    processor = ref()
    if processor is not None:
        processor._after_fork()
