"""The export process: writes spans to the MLflow store outside the traced program's GIL.

Started by `_export_process.ProcessExporter` as ``python -m llmtrace.export._export_worker URI
[EXPERIMENT]``. Reads span batches on stdin, answers each on stdout, and exits when stdin
closes (after the batch in hand). It ignores SIGINT and SIGTERM: when a whole process group is
signalled, the parent flushes through it and then closes the pipe.
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
from typing import Any

from opentelemetry.sdk.trace.export import SpanExportResult

from ._wire import decode_spans, read_frame, write_frame


def main(argv: list[str]) -> int:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="llmtrace export process: %(message)s")
    uri = argv[0]
    experiment = argv[1] if len(argv) > 1 and argv[1] else None
    retries = int(argv[2]) if len(argv) > 2 else 3
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames may go to the parent's pipe

    from ._exporter_mlflow import MlflowSpanExporter

    exporter = MlflowSpanExporter(uri, experiment, retries=retries)
    try:
        exporter.experiment_id()
        exporter._local_store()
    except Exception as exc:
        write_frame(stdout, ("error", f"{type(exc).__name__}: {exc}"))
        return 1
    # MLflow's import leaves ~300,000 long-lived objects; a full collection walks them all
    # (0.1 s here, several times per thousand traces). They live as long as this process.
    gc.freeze()
    write_frame(stdout, ("ready", None))
    while True:
        try:
            message: Any = read_frame(stdin)
        except EOFError:
            return 0
        if message[0] != "export":
            return 0
        try:
            result = exporter.export(decode_spans(message[1]))
            ok = result is SpanExportResult.SUCCESS
            write_frame(stdout, ("ok" if ok else "fail", None if ok else exporter.last_error))
        except Exception as exc:
            write_frame(stdout, ("fail", f"{type(exc).__name__}: {exc}"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
