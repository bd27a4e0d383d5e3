"""`ProcessExporter`: hand spans to an export process so store writes leave the caller's GIL.

MLflow's SQL store spends milliseconds of pure-Python (GIL-holding) time per trace; done on a
thread of the traced program, that time is stolen from the program's own threads each time they
come back from I/O. This exporter only encodes spans and writes them to a pipe; a child
interpreter (`_export_worker`) does the conversion and the store write, and answers per batch,
in order.

Batches are pipelined: `export` writes a batch and returns, with up to `IN_FLIGHT` batches sent
and not yet answered, so this process encodes the next batch while the child stores the last
one. A reader thread collects the answers. Until its answer, a batch is ``pending`` in
`counters` (the processor counts it queued, not exported); a batch answered as failed, or
stored in part, adds its lost spans to ``counters()["failed"]`` (they move from exported to
failed), as for `MlflowSpanExporter`. `force_flush` waits for every answer.

The spans of a batch are kept until it is answered. If the child dies, llmtrace falls back to
writing in-process, once, with a warning, starting with the batches the child held (not while
shutting down: those are then counted failed, as are batches still unanswered when
`shutdown` gives up waiting). A child that starts but cannot open the store is no reason to
write in-process (that would fail the same way, with MLflow's tracebacks in the traced
program): spans fail, counted, and the child is tried again every `REOPEN_S`.
"""

from __future__ import annotations

import collections
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from ._exporter_mlflow import MlflowSpanExporter
from ._wire import encode_spans, read_frame, write_frame

logger = logging.getLogger("llmtrace")

_START_TIMEOUT_S = 180.0  # importing MLflow and creating a fresh SQLite schema is slow here
REOPEN_S = 30.0
"""When the export process cannot open the store, it is started again after this long."""
SHUTDOWN_WAIT_S = 10.0
"""`shutdown` waits this long for the batches in flight, then stops the child (those batches
count failed); exit is never held up by a store that does not answer."""
IN_FLIGHT = 2
"""Batches sent to the export process and not yet answered, at most (`export` waits for an
answer beyond that: the queue, bounded, holds the rest)."""
_PIPE_BYTES = 1 << 20  # room for a whole batch in the pipe: a write does not wait for the child
_F_SETPIPE_SZ = 1031  # Linux fcntl


class ProcessExporter(SpanExporter):
    """Export to a local MLflow store through a child process (fallback: in-process).

    Example:
        >>> exporter = ProcessExporter("sqlite:///mlflow.db", "my-app")
        >>> exporter.export(spans)  # sent; stored by the child meanwhile
        >>> exporter.force_flush()  # every batch sent is answered now
        True
    """

    def __init__(
        self,
        tracking_uri: str,
        experiment: str | None,
        *,
        retries: int = 3,
        on_store_opened: Callable[[], None] | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self._on_store_opened = on_store_opened
        self.experiment = experiment
        self.retries = retries
        self.last_error: str | None = None
        self.refused = 0  # spans reported SUCCESS by `export` that were not stored after all
        self.paths: dict[str, int] = {}  # the child's: spans stored directly / via MLflow's path
        self.max_in_flight = 0  # most batches seen sent and unanswered at once
        self._proc: subprocess.Popen[bytes] | None = None
        self._fallback: MlflowSpanExporter | None = None
        self._lock = threading.Lock()  # one sender at a time (export, recovery, shutdown)
        self._init_flight()
        self._closing = False
        self._unopened = False  # the child said it cannot open the store (no fallback then:
        self._reopen_at = 0.0  # in-process would fail alike, with MLflow's tracebacks here)

    def _init_flight(self) -> None:
        self._cond = threading.Condition()  # guards what follows, and the counters
        self._sent: collections.deque[Sequence[ReadableSpan]] = collections.deque()
        self._pending = 0  # spans in ``_sent``
        self._dead = ""  # why the reader stopped: the current child's answers ended
        self._reader: threading.Thread | None = None

    def _start(self) -> subprocess.Popen[bytes] | None:
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        # Storing a span with token usage but no cost makes MLflow price it from its model
        # catalog, which it first tries to download from github.com (with retries). Storing
        # traces must not touch the network: MLflow's bundled catalog is used unless the user
        # points MLFLOW_MODEL_CATALOG_URI somewhere themselves.
        env.setdefault("MLFLOW_MODEL_CATALOG_URI", "")
        try:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "llmtrace.export._export_worker",
                    self.tracking_uri,
                    self.experiment or "",
                    str(self.retries),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                start_new_session=True,  # a Ctrl-C to the terminal's group is not for it
            )
        except OSError as exc:
            self._use_fallback(f"could not start the export process: {exc!r}")
            return None
        answer = _read_with_timeout(proc, _START_TIMEOUT_S)
        if answer is not None and answer[0] == "error":  # it runs; the store does not open
            _stop(proc)
            self.last_error = f"the export process cannot open the store: {answer[1]}"
            self._reopen_at = time.monotonic() + REOPEN_S
            (logger.warning if not self._unopened else logger.debug)(
                "llmtrace: export process did not start (it cannot open the store: %s); "
                "spans are counted failed meanwhile, and the store is tried again every %.0f s",
                answer[1],
                REOPEN_S,
            )
            self._unopened = True
            return None
        if answer is None or answer[0] != "ready":
            detail = answer[1] if answer else "no answer"
            _stop(proc)
            self._use_fallback(f"export process did not start ({detail})")
            return None
        self._unopened = False
        _widen_pipe(proc)
        return proc

    def _use_fallback(self, why: str) -> None:
        logger.warning("llmtrace: %s; writing spans from this process instead", why)
        self._fallback = MlflowSpanExporter(
            self.tracking_uri,
            self.experiment,
            retries=self.retries,
            on_store_opened=self._on_store_opened,
        )

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        with self._lock:
            if self._closing:
                self.last_error = "llmtrace was shutting down"
                return SpanExportResult.FAILURE
            self._recover()
            if self._fallback is None and self._proc is None:
                if time.monotonic() < self._reopen_at:
                    return SpanExportResult.FAILURE  # (last_error says why)
                proc = self._start()
                with self._cond:
                    self._proc = proc
                if proc is not None:
                    self._reader = _start_reader(self, proc)
            if self._fallback is not None:
                return self._export_in_process(spans)
            proc = self._proc
            if proc is None:
                return SpanExportResult.FAILURE
            assert proc.stdin is not None
            frame = ("export", encode_spans(spans))  # while the child stores the last batches
            with self._cond:
                while len(self._sent) >= IN_FLIGHT and not self._dead and self._proc is proc:
                    self._cond.wait(1.0)
                sent = not self._dead and self._proc is proc
                if sent:  # before writing: the answer may come before write_frame returns
                    self._sent.append(spans)
                    self._pending += len(spans)
                    self.max_in_flight = max(self.max_in_flight, len(self._sent))
            if sent:
                try:
                    write_frame(proc.stdin, frame)
                    return SpanExportResult.SUCCESS
                except (OSError, ValueError) as exc:  # died: the batch is in ``_sent`` now
                    with self._cond:
                        if self._proc is proc and not self._dead:
                            self._dead = repr(exc)
            self._recover()
            if sent:
                return SpanExportResult.SUCCESS  # (written in-process, or counted failed)
            if self._fallback is not None:
                return self._export_in_process(spans)
            self.last_error = self.last_error or "export process stopped at shutdown"
            return SpanExportResult.FAILURE

    def _answered(self, answer: Any) -> None:
        """One answer, for the oldest batch sent (``_cond`` held)."""
        if not self._sent:
            return
        n = len(self._sent.popleft())
        self._pending -= n
        status, error = answer[0], answer[1]
        refused = int(answer[2]) if len(answer) > 2 else 0
        if len(answer) > 3 and isinstance(answer[3], dict):
            self.paths = dict(answer[3])
        if status != "ok":
            refused = n
        if refused:
            self.refused += refused
            self.last_error = error

    def _recover(self) -> None:
        """The child died: write what it held in-process (counted failed when shutting down).
        ``_lock`` held."""
        with self._cond:
            if not self._dead:
                return
            why, self._dead = self._dead, ""
            proc, self._proc = self._proc, None
            batches = list(self._sent)
            self._sent.clear()
            self._pending = 0
            if self._closing:
                self.refused += sum(len(b) for b in batches)
        code = proc.poll() if proc is not None else None
        if proc is not None:
            _stop(proc, wait_s=1.0)
        if self._closing:
            self.last_error = f"export process stopped at shutdown ({why})"
            return
        self._use_fallback(f"export process died (exit code {code}, {why})")
        for batch in batches:
            if self._export_in_process(batch) is not SpanExportResult.SUCCESS:
                with self._cond:
                    self.refused += len(batch)

    def _export_in_process(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        assert self._fallback is not None
        result = self._fallback.export(spans)
        self.last_error = self._fallback.last_error
        return result

    def counters(self) -> dict[str, int]:
        """``failed``: spans of batches `export` answered SUCCESS for that were not stored
        after all (see `MlflowSpanExporter.counters`; with the in-process fallback, its
        counters too); ``pending``: spans sent to the export process, not answered yet; and
        the export process's ``direct_spans`` / ``mlflow_spans``: spans it wrote by the direct
        path (`_sql_direct`) and spans it handed to MLflow's own path."""
        with self._cond:
            found = {"failed": self.refused, "pending": self._pending, **self.paths}
        if self._fallback is not None:
            for key, value in self._fallback.counters().items():
                found[key] = found.get(key, 0) + value
        return found

    def poll(self) -> None:
        """When idle: if the child died with batches in flight, write them in-process now."""
        if self._dead and self._lock.acquire(blocking=False):
            try:
                self._recover()
            finally:
                self._lock.release()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Wait until every batch sent is answered (or written in-process: the child died)."""
        deadline = time.monotonic() + timeout_millis / 1000.0
        with self._cond:
            while self._sent and not self._dead:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            if not self._dead:
                return True
        if not self._lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            return False
        try:
            self._recover()
        finally:
            self._lock.release()
        return True

    def after_fork(self) -> None:
        """In a forked child: the parent's export process is not ours; start a new one."""
        self._proc = None
        self._lock = threading.Lock()
        self._init_flight()
        self.refused = 0
        self.paths = {}
        if self._fallback is not None:
            self._fallback.after_fork()

    def shutdown(self, timeout_millis: int = int(SHUTDOWN_WAIT_S * 1000)) -> None:
        """Wait for the batches in flight (at most ``timeout_millis``), then stop the child;
        batches still unanswered count failed."""
        self._closing = True
        deadline = time.monotonic() + max(0.0, timeout_millis / 1000.0)
        held = self._lock.acquire(timeout=max(0.0, timeout_millis / 1000.0))
        try:
            if held:
                self._recover()  # a dead child's batches: counted failed
            with self._cond:
                while self._sent and not self._dead and deadline > time.monotonic():
                    self._cond.wait(deadline - time.monotonic())
                proc, stuck = self._proc, bool(self._sent)
            if proc is not None:
                _stop(proc, wait_s=SHUTDOWN_WAIT_S if held and not stuck else 0.0)
                if self._reader is not None:
                    self._reader.join(5.0)  # answers written before it exited are counted
            with self._cond:
                self._proc = None
                lost = sum(len(b) for b in self._sent)
                self._sent.clear()
                self._pending = 0
                self._dead = ""
                self.refused += lost
            if lost:
                self.last_error = f"export process stopped at shutdown, {lost} spans unanswered"
            if self._fallback is not None:
                self._fallback.shutdown()
        finally:
            if held:
                self._lock.release()


def _start_reader(exporter: ProcessExporter, proc: subprocess.Popen[bytes]) -> threading.Thread:
    """The thread that reads ``proc``'s answers into ``exporter`` until its stdout ends."""

    def read() -> None:
        assert proc.stdout is not None
        why = "no more answers"
        try:
            while True:
                answer = read_frame(proc.stdout)
                with exporter._cond:
                    if exporter._proc is proc:
                        exporter._answered(answer)
                    exporter._cond.notify_all()
        except Exception as exc:  # EOF (it exited), a broken pipe or a garbled frame
            why = repr(exc)
        with exporter._cond:
            if exporter._proc is proc and not exporter._dead:
                exporter._dead = why
            exporter._cond.notify_all()

    reader = threading.Thread(target=read, name="llmtrace-export-answers", daemon=True)
    reader.start()
    return reader


def _widen_pipe(proc: subprocess.Popen[bytes]) -> None:
    try:  # not Linux, or above the system's limit: the default pipe (a write may wait)
        import fcntl

        assert proc.stdin is not None
        fcntl.fcntl(proc.stdin.fileno(), _F_SETPIPE_SZ, _PIPE_BYTES)
    except (ImportError, OSError, AssertionError):
        pass


def _read_with_timeout(proc: subprocess.Popen[bytes], timeout: float) -> Any:
    box: list[Any] = []

    def read() -> None:
        try:
            assert proc.stdout is not None
            box.append(read_frame(proc.stdout))
        except Exception:
            box.append(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    return box[0] if box else None


def _stop(proc: subprocess.Popen[bytes], wait_s: float = SHUTDOWN_WAIT_S) -> None:
    """Close the pipe (the worker stores what was sent and exits); kill it after ``wait_s``."""
    try:
        if proc.stdin is not None:
            proc.stdin.close()
    except (OSError, ValueError):
        pass
    try:
        proc.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
