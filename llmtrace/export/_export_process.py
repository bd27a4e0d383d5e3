"""`ProcessExporter`: hand spans to an export process so store writes leave the caller's GIL.

MLflow's SQL store spends milliseconds of pure-Python (GIL-holding) time per trace; done on a
thread of the traced program, that time is stolen from the program's own threads each time they
come back from I/O. This exporter only encodes spans and writes them to a pipe; a child
interpreter (`_export_worker`) does the conversion and the store write, and answers per batch
so every loss is still counted. If the child cannot start, or dies, llmtrace falls back to
writing in-process, once, with a warning.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from ._exporter_mlflow import MlflowSpanExporter
from ._wire import encode_spans, read_frame, write_frame

logger = logging.getLogger("llmtrace")

_START_TIMEOUT_S = 180.0  # importing MLflow and creating a fresh SQLite schema is slow here


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
        self._proc: subprocess.Popen[bytes] | None = None
        self._fallback: MlflowSpanExporter | None = None
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen[bytes] | None:
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (package_root, env.get("PYTHONPATH")) if p
        )
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
        if answer is None or answer[0] != "ready":
            detail = answer[1] if answer else "no answer"
            _stop(proc)
            self._use_fallback(f"export process did not start ({detail})")
            return None
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
            if self._fallback is None and self._proc is None:
                self._proc = self._start()
            if self._fallback is not None:
                result = self._fallback.export(spans)
                self.last_error = self._fallback.last_error
                return result
            assert self._proc is not None and self._proc.stdin and self._proc.stdout
            try:
                write_frame(self._proc.stdin, ("export", encode_spans(spans)))
                status, error = read_frame(self._proc.stdout)
            except (OSError, EOFError, ValueError) as exc:
                code = self._proc.poll()
                _stop(self._proc)
                self._proc = None
                self._use_fallback(f"export process died (exit code {code}, {exc!r})")
                result = self._fallback.export(spans)  # type: ignore[union-attr]
                self.last_error = self._fallback.last_error  # type: ignore[union-attr]
                return result
            if status == "ok":
                return SpanExportResult.SUCCESS
            self.last_error = error
            return SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True  # export() is synchronous: nothing is pending once it returned

    def after_fork(self) -> None:
        """In a forked child: the parent's export process is not ours; start a new one."""
        self._proc = None
        self._lock = threading.Lock()
        if self._fallback is not None:
            self._fallback.after_fork()

    def shutdown(self) -> None:
        with self._lock:
            if self._proc is not None:
                _stop(self._proc)
                self._proc = None
            if self._fallback is not None:
                self._fallback.shutdown()


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


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Close the pipe (the worker finishes its batch and exits), then make sure it is gone."""
    try:
        if proc.stdin is not None:
            proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
