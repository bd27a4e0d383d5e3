"""The export process: writes spans to the MLflow store outside the traced program's GIL.

Started by `_export_process.ProcessExporter` as ``python -m llmtrace.export._export_worker URI
[EXPERIMENT]``. Reads span batches on stdin, answers each on stdout, and exits when stdin
closes (after the batch in hand). It ignores SIGINT and SIGTERM: when a whole process group is
signalled, the parent flushes through it and then closes the pipe.

Each answer is ``(status, error, refused, paths)``: ``"ok"`` when some of the batch was stored,
with ``refused`` the spans of it that were not (traces refused alone, `_isolate`), or ``"fail"``
when none was; ``paths`` counts the spans stored so far by the direct path and the spans handed
to MLflow's own path (uncovered, split or already-begun traces), and says whether MLflow was
imported. Its logging (MLflow's
tracebacks included) goes through `_quiet.Summary`: a store that fails for every batch costs a
line per distinct error per 30 s, not thousands.

For a checked SQLite store (`_sql_direct`), batches are written from the wire tuples directly
and MLflow is not imported at all until a span needs its path (`Sink.exporter`): the process
then holds sqlite3 and OpenTelemetry only (~30 MB instead of ~250 MB). A new store file is
created by a short-lived helper process (MLflow's schema setup) so that this one stays small.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
from typing import IO, Any

from opentelemetry.sdk.trace.export import SpanExportResult

from ._isolate import describe
from ._sql_direct import DirectWriter, StoreChanged, sqlite_path
from ._wire import decode_spans, read_frame, write_frame

FORCE_MLFLOW_ENV = "LLMTRACE_EXPORT_VIA_MLFLOW"
"""Set to 1: the export process writes everything through MLflow's objects (the path before the
direct one; benchmarks compare both in one run)."""


class Sink:
    """Where the export process writes: the direct path first, MLflow's for what is left."""

    def __init__(
        self, uri: str, experiment: str | None, retries: int, writer: DirectWriter | None
    ) -> None:
        self.uri, self.experiment, self.retries = uri, experiment, retries
        self.writer = writer
        self._exporter: Any = None
        self.summary: Any = None
        self.fallback_spans = 0  # spans handed to MLflow's path
        self.direct_spans = 0  # spans the direct path stored
        self.broken = ""  # why every batch fails: the store file went away (`StoreChanged`)

    def exporter(self) -> Any:
        """`MlflowSpanExporter`, its store open (imports MLflow, the first time)."""
        if self._exporter is None:
            import mlflow  # noqa: F401 - its logging setup first, then ours replaces it

            from ._exporter_mlflow import MlflowSpanExporter
            from ._quiet import install

            if self.summary is not None:
                self.summary.close()
            self.summary = install(sys.stderr)
            exporter = MlflowSpanExporter(self.uri, self.experiment, retries=self.retries)
            exporter.experiment_id()
            exporter._local_store()
            self._exporter = exporter
            # MLflow's import leaves ~300,000 long-lived objects; a full collection walks them
            # all (0.1 s here, several times per thousand traces). They live as long as this
            # process.
            gc.collect()
            gc.freeze()
        return self._exporter

    def paths(self) -> dict[str, int]:
        return {
            "direct_spans": self.direct_spans,
            "mlflow_spans": self.fallback_spans,
            "mlflow_imported": int("mlflow" in sys.modules),
        }

    def handle(self, batch: tuple[Any, ...]) -> tuple[Any, ...]:
        """Store one wire batch; the answer frame (see the module doc)."""
        if self.broken:
            return ("fail", self.broken, 0, self.paths())
        rest: tuple[Any, ...] | None = batch
        direct = 0  # spans of this batch the direct path stored
        if self.writer is not None:
            before = self.writer.written
            try:
                rest = self.writer.write(batch)
            except StoreChanged as exc:  # as MLflow's store opened at the start would, every
                self.broken = describe(exc)  # batch fails from now on (counted by the parent)
                return ("fail", self.broken, 0, self.paths())
            except Exception as exc:  # a store error: MLflow's path retries, isolates, counts
                logger_debug("direct write failed (%s); using MLflow's path", describe(exc))
                rest = batch
            else:
                direct = self.writer.written - before
            self.direct_spans += direct
        if rest is None:
            return ("ok", None, 0, self.paths())
        self.fallback_spans += len(rest[1])
        try:
            exporter = self.exporter()
        except Exception as exc:
            if direct:
                return ("ok", describe(exc), len(rest[1]), self.paths())
            return ("fail", describe(exc), 0, self.paths())
        before = exporter.refused
        try:
            result = exporter.export(decode_spans(rest))
        except Exception as exc:
            if direct:
                return ("ok", describe(exc), len(rest[1]), self.paths())
            return ("fail", describe(exc), 0, self.paths())
        if result is SpanExportResult.SUCCESS:
            refused = exporter.refused - before
            return ("ok", exporter.last_error if refused else None, refused, self.paths())
        if direct:
            return ("ok", exporter.last_error, len(rest[1]), self.paths())
        return ("fail", exporter.last_error, 0, self.paths())


def logger_debug(message: str, *args: Any) -> None:
    import logging

    logging.getLogger("llmtrace").debug(message, *args)


def setup_store(uri: str, experiment: str | None) -> None:
    """Create the store's schema and the experiment (in a helper process: imports MLflow)."""
    from ._store_setup import resolve_experiment_id, sqlite_setup_lock

    with sqlite_setup_lock(uri):
        resolve_experiment_id(uri, experiment)


def open_direct(uri: str, experiment: str | None) -> DirectWriter | None:
    """The direct writer for ``uri``, setting a new store up first; None where it does not
    apply (then MLflow's path does everything)."""
    if os.environ.get(FORCE_MLFLOW_ENV) == "1" or sqlite_path(uri) is None:
        return None
    writer = DirectWriter.open(uri, experiment)
    if writer is not None:
        return writer
    code = (
        "import sys; from llmtrace.export._export_worker import setup_store; "
        "setup_store(sys.argv[1], sys.argv[2] or None)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, uri, experiment or ""],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    if done.returncode != 0:
        return None  # MLflow's path, in this process, says what is wrong
    return DirectWriter.open(uri, experiment)


def main(argv: list[str]) -> int:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    uri = argv[0]
    experiment = argv[1] if len(argv) > 1 and argv[1] else None
    retries = int(argv[2]) if len(argv) > 2 else 3
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames may go to the parent's pipe
    from ._quiet import install

    writer = open_direct(uri, experiment)
    sink = Sink(uri, experiment, retries, writer)
    sink.summary = install(sys.stderr)
    if writer is None:
        try:
            sink.exporter()
        except Exception as exc:
            write_frame(stdout, ("error", describe(exc)))
            return 1
    else:
        gc.collect()
        gc.freeze()
    write_frame(stdout, ("ready", None))
    try:
        serve(sink, stdin, stdout)
    finally:
        if writer is not None:
            writer.close()
        sink.summary.close()
    return 0


def serve(sink: Sink, stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """Answer ``("export", batch)`` frames until stdin closes (see the module doc)."""
    while True:
        try:
            message: Any = read_frame(stdin)
        except EOFError:
            return
        if message[0] != "export":
            return
        try:
            answer = sink.handle(message[1])
        except Exception as exc:
            answer = ("fail", describe(exc), 0, sink.paths())
        write_frame(stdout, answer)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
