"""`ProcessExporter`: hand spans to an export process so store writes leave the caller's GIL.

MLflow's SQL store spends milliseconds of pure-Python (GIL-holding) time per trace; done on a
thread of the traced program, that time is stolen from the program's own threads each time they
come back from I/O. This exporter only encodes spans and writes them to a pipe; a child
interpreter (`_export_worker`) does the conversion and the store write, and answers per batch
so every loss is still counted: a batch stored in part is a SUCCESS whose refused spans are
added to ``counters()["failed"]``, as for `MlflowSpanExporter`. If the child cannot start, or
dies, llmtrace falls back to writing in-process, once, with a warning (not while shutting
down: a batch the dead child held is then counted failed). A child that starts but cannot
open the store is no reason to write in-process (that would fail the same way, with MLflow's
tracebacks in the traced program): spans fail, counted, and the child is tried again every
`REOPEN_S`.
"""

from __future__ import annotations

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
"""`shutdown` waits this long for a batch in hand, then stops the child (the batch counts
failed); exit is never held up by a store that does not answer."""


class ProcessExporter(SpanExporter):
    """Export to a local MLflow store through a child process (fallback: in-process)."""

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
        self.refused = 0  # spans of batches the child answered "ok" for, not stored after all
        self.paths: dict[str, int] = {}  # the child's: spans stored directly / via MLflow's path
        self._proc: subprocess.Popen[bytes] | None = None
        self._fallback: MlflowSpanExporter | None = None
        self._lock = threading.Lock()
        self._closing = False
        self._unopened = False  # the child said it cannot open the store (no fallback then:
        self._reopen_at = 0.0  # in-process would fail alike, with MLflow's tracebacks here)

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
            if self._fallback is None and self._proc is None:
                if time.monotonic() < self._reopen_at:
                    return SpanExportResult.FAILURE  # (last_error says why)
                self._proc = self._start()
            if self._fallback is not None:
                return self._export_in_process(spans)
            if self._proc is None:
                return SpanExportResult.FAILURE
            proc = self._proc
            assert proc is not None and proc.stdin and proc.stdout
            try:
                write_frame(proc.stdin, ("export", encode_spans(spans)))
                answer = read_frame(proc.stdout)
            except (OSError, EOFError, ValueError) as exc:
                self._proc = None
                if self._closing:  # shutdown stopped it: no new interpreter at exit
                    self.last_error = f"export process stopped at shutdown ({exc!r})"
                    return SpanExportResult.FAILURE
                code = proc.poll()
                _stop(proc)
                self._use_fallback(f"export process died (exit code {code}, {exc!r})")
                return self._export_in_process(spans)
            status, error = answer[0], answer[1]
            refused = int(answer[2]) if len(answer) > 2 else 0
            if len(answer) > 3 and isinstance(answer[3], dict):
                self.paths = dict(answer[3])
            if status == "ok":
                if refused:
                    self.refused += refused
                    self.last_error = error
                return SpanExportResult.SUCCESS
            self.last_error = error
            return SpanExportResult.FAILURE

    def _export_in_process(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        assert self._fallback is not None
        result = self._fallback.export(spans)
        self.last_error = self._fallback.last_error
        return result

    def counters(self) -> dict[str, int]:
        """``failed``: spans of batches answered SUCCESS that were not stored after all (see
        `MlflowSpanExporter.counters`; with the in-process fallback, its counters too); and
        the export process's ``direct_spans`` / ``mlflow_spans``: spans it wrote by the direct
        path (`_sql_direct`) and spans it handed to MLflow's own path."""
        found = {"failed": self.refused, **self.paths}
        if self._fallback is not None:
            for key, value in self._fallback.counters().items():
                found[key] = found.get(key, 0) + value
        return found

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True  # export() is synchronous: nothing is pending once it returned

    def after_fork(self) -> None:
        """In a forked child: the parent's export process is not ours; start a new one."""
        self._proc = None
        self._lock = threading.Lock()
        self.refused = 0
        self.paths = {}
        if self._fallback is not None:
            self._fallback.after_fork()

    def shutdown(self, timeout_millis: int = int(SHUTDOWN_WAIT_S * 1000)) -> None:
        """Let the child finish the batch in hand (at most ``timeout_millis``), then stop it."""
        self._closing = True
        held = self._lock.acquire(timeout=max(0.0, timeout_millis / 1000.0))
        try:
            proc, self._proc = self._proc, None
            if proc is not None:
                _stop(proc, wait_s=SHUTDOWN_WAIT_S if held else 0.0)
            if self._fallback is not None:
                self._fallback.shutdown()
        finally:
            if held:
                self._lock.release()


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
    """Close the pipe (the worker finishes its batch and exits); kill it after ``wait_s``."""
    try:
        if proc.stdin is not None:
            proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
