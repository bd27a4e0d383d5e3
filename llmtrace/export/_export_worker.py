"""The export process: writes spans to the MLflow store outside the traced program's GIL.

Started by `_export_process.ProcessExporter` as ``python -m llmtrace.export._export_worker URI
[EXPERIMENT]``. Reads span batches on stdin, answers each on stdout, and exits when stdin
closes (after the batch in hand). It ignores SIGINT and SIGTERM: when a whole process group is
signalled, the parent flushes through it and then closes the pipe.

Each answer is ``(status, error, refused)``: ``"ok"`` when some of the batch was stored, with
``refused`` the spans of it that were not (traces refused alone, `_isolate`), or ``"fail"``
when none was. Its logging (MLflow's tracebacks included) goes through `_quiet.Summary`: a
store that fails for every batch costs a line per distinct error per 30 s, not thousands.
"""

from __future__ import annotations

import gc
import signal
import sys
from typing import IO, Any

from opentelemetry.sdk.trace.export import SpanExportResult

from ._isolate import describe
from ._wire import decode_spans, read_frame, write_frame


def main(argv: list[str]) -> int:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    uri = argv[0]
    experiment = argv[1] if len(argv) > 1 and argv[1] else None
    retries = int(argv[2]) if len(argv) > 2 else 3
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames may go to the parent's pipe
    import mlflow  # noqa: F401 - its logging setup first, then ours replaces it

    from ._quiet import install

    summary = install(sys.stderr)

    from ._exporter_mlflow import MlflowSpanExporter

    exporter = MlflowSpanExporter(uri, experiment, retries=retries)
    try:
        exporter.experiment_id()
        exporter._local_store()
    except Exception as exc:
        write_frame(stdout, ("error", describe(exc)))
        return 1
    # MLflow's import leaves ~300,000 long-lived objects; a full collection walks them all
    # (0.1 s here, several times per thousand traces). They live as long as this process.
    gc.freeze()
    write_frame(stdout, ("ready", None))
    try:
        serve(exporter, stdin, stdout)
    finally:
        summary.close()
    return 0


def serve(exporter: Any, stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """Answer ``("export", spans)`` frames until stdin closes (see the module doc)."""
    while True:
        try:
            message: Any = read_frame(stdin)
        except EOFError:
            return
        if message[0] != "export":
            return
        before = exporter.refused
        try:
            result = exporter.export(decode_spans(message[1]))
        except Exception as exc:
            write_frame(stdout, ("fail", describe(exc), 0))
            continue
        if result is SpanExportResult.SUCCESS:
            refused = exporter.refused - before
            write_frame(stdout, ("ok", exporter.last_error if refused else None, refused))
        else:
            write_frame(stdout, ("fail", exporter.last_error, 0))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
