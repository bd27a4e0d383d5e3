"""Where llmtrace's caller cost goes: the profiling behind benchmarks/RESULTS.md ("Why").

Three small experiments, each in this one process (run them one at a time):

    python benchmarks/profile_export.py stages --spans 1 --traces 5000 [--in-process]
        Times each stage of the export thread (enrich, to_mlflow_span, _log_local: the store's
        log_spans plus llmtrace's run/prompt linking; with ``--in-process``, i.e.
        ``export_process=False``), or encode + pipe round trip (default, export process), wall
        and thread-CPU time, by wrapping llmtrace's functions from outside (llmtrace/ is not
        modified). Add py-spy for the inside of log_spans:
        py-spy record -r 250 --threads --format raw -o export.txt -- \\
            python benchmarks/profile_export.py stages --spans 1 --traces 5000 --in-process
        (with the export process, py-spy needs ``--subprocesses`` to see the worker).

    python benchmarks/profile_export.py hotpath --spans 10
        Per-span cost of the caller's hot path alone, no I/O wait: raw OTel SDK vs
        ``@llmtrace.trace`` with its export thread paused, with the garbage collector on and off.
        Each contender runs in a fresh subprocess.

    python benchmarks/profile_export.py worker --spans 10 --traces 1000 --batch 100
        The export process's work alone: the batches a real run hands the export process are
        captured (as encoded for the pipe), then decoded and written by `MlflowSpanExporter`
        in this process, ``--batch`` traces per call, into a fresh SQLite store; prints ms per
        trace (wall, garbage collector frozen after MLflow's import as in the export process).
        ``--direct``: the same batches through `_sql_direct.DirectWriter` (what the export
        process does for a checked SQLite store), the rest through `MlflowSpanExporter`.

    python benchmarks/profile_export.py prepare --spans 10
        The export side's per-span work in the traced process, alone: the spans of real
        traces (bench_tracing's shape, as they reach llmtrace's processor, payloads included)
        are enriched (`enrich`) and encoded for the pipe (`encode_spans`) again and again;
        prints µs per span, best of the repeats. Run it against another checkout with
        ``PYTHONPATH=<that checkout>`` to compare two versions.

    python benchmarks/profile_export.py gil --spans 10 --switch-interval 0.0005
        bench_tracing's latency scenario for llmtrace under another ``sys.setswitchinterval``
        (Python's default is 0.005 s): if the added latency moves with it, the caller is
        waiting for the GIL held by the export thread. ``--in-process`` measures the
        in-process export (``export_process=False``).
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_tracing as bench


def stages(spans: int, traces: int, in_process: bool) -> dict[str, Any]:
    import resource

    import llmtrace
    from llmtrace import _runtime
    from llmtrace.export import _exporter_mlflow

    tmp = Path(tempfile.mkdtemp(prefix="profile-export-"))
    options: dict[str, Any] = {"export_process": False} if in_process else {}
    acc: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0, 0.0])

    def wrap(owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t, c = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                entry = acc[label]
                entry[0] += 1
                entry[1] += time.perf_counter() - t
                entry[2] += time.thread_time() - c

        setattr(owner, name, timed)

    wrap(_runtime, "enrich", "enrich")  # before configure: it hands the processor this name
    if in_process:
        wrap(_exporter_mlflow, "to_mlflow_span", "to_mlflow_span")
        wrap(
            _exporter_mlflow.MlflowSpanExporter,
            "_write_local",
            "_write_local (store write + links)",
        )
        wrap(_exporter_mlflow.MlflowSpanExporter, "export", "MlflowSpanExporter.export")
    else:
        from llmtrace.export import _export_process

        wrap(_export_process, "encode_spans", "encode_spans (to the pipe)")
        wrap(
            _export_process.ProcessExporter,
            "export",
            "ProcessExporter.export (encode + send, waits only for room; CPU = this side)",
        )
    llmtrace.configure(
        tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}", experiment=bench.EXPERIMENT, **options
    )
    fn = bench.build(llmtrace.trace, spans, 0.0)
    fn(-1)
    llmtrace.flush(600)
    acc.clear()
    t0 = time.perf_counter()
    for i in range(traces):
        fn(i)
    calls_s = time.perf_counter() - t0
    llmtrace.flush(1800)
    total_s = time.perf_counter() - t0
    stats = str(llmtrace.stats())
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    llmtrace.shutdown()  # closes the pipe and reaps the export process, if there is one
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out: dict[str, Any] = {
        "mode": "in-process" if in_process else "export process",
        "export_process_cpu_s_whole_life": (after.ru_utime + after.ru_stime)
        - (before.ru_utime + before.ru_stime),
        "spans": spans,
        "traces": traces,
        "calls_s": calls_s,
        "until_flushed_s": total_s,
        "traces_per_s": traces / total_s,
        "stats": stats,
        "stages": {},
    }
    for label, (calls, wall, cpu) in acc.items():
        out["stages"][label] = {
            "calls": int(calls),
            "wall_s": wall,
            "cpu_s": cpu,
            "wall_ms_per_trace": wall / traces * 1e3,
            "cpu_ms_per_trace": cpu / traces * 1e3,
        }
    return out


def _hotpath_child(which: str, spans: int, no_gc: bool) -> dict[str, Any]:
    if no_gc:
        gc.disable()
    tmp = Path(tempfile.mkdtemp(prefix="profile-hot-"))
    deco: Callable[..., Any]
    if which == "otel":
        deco = bench.Contender("otel", tmp).deco
    else:
        deco = bench.Contender("llmtrace-paused", tmp).deco
    gc_time = [0.0]
    started: list[float] = []

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            gc_time[0] += time.perf_counter() - started.pop()

    fn = bench.build(deco, spans, 0.0)
    for i in range(2000):
        fn(i)
    gc.callbacks.append(on_gc)
    n = 20_000 // spans
    per_span = []
    for _ in range(5):
        t = time.perf_counter()
        for i in range(n):
            fn(i)
        per_span.append((time.perf_counter() - t) / (n * spans) * 1e6)
    return {
        "which": which,
        "spans": spans,
        "gc": not no_gc,
        "us_per_span_median": statistics.median(per_span),
        "us_per_span_rounds": per_span,
        "gc_seconds_while_timed": gc_time[0],
    }


def hotpath(spans: int) -> list[dict[str, Any]]:
    rows = []
    for which in ("otel", "llmtrace"):
        for no_gc in (False, True):
            argv = [sys.executable, __file__, "_hot", which, str(spans)] + (["--no-gc"] * no_gc)
            out = subprocess.run(argv, capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rows


def worker(spans: int, traces: int, batch: int, direct: bool = False) -> dict[str, Any]:
    import llmtrace
    from llmtrace.export import _export_process
    from llmtrace.export._exporter_mlflow import MlflowSpanExporter
    from llmtrace.export._wire import decode_spans

    captured: list[Any] = []
    encode = _export_process.encode_spans

    def capture(spans_: Any) -> Any:
        encoded = encode(spans_)
        captured.append(encoded)
        return encoded

    _export_process.encode_spans = capture  # type: ignore[assignment]
    tmp = Path(tempfile.mkdtemp(prefix="profile-worker-"))
    llmtrace.configure(tracking_uri=f"sqlite:///{tmp / 'run.db'}", experiment=bench.EXPERIMENT)
    fn = bench.build(llmtrace.trace, spans, 0.0)
    for i in range(traces + 1):
        fn(i)
    assert llmtrace.flush(600)
    resource_attributes = captured[0][0]
    rows = [row for _, batch_rows in captured for row in batch_rows]
    exporter = MlflowSpanExporter(f"sqlite:///{tmp / 'replay.db'}", bench.EXPERIMENT)
    exporter.experiment_id()
    exporter._local_store()
    gc.collect()
    gc.freeze()
    if direct:  # what the export process does for a checked SQLite store (`_sql_direct`)
        from llmtrace.export._sql_direct import DirectWriter

        writer = DirectWriter.open(f"sqlite:///{tmp / 'replay.db'}", bench.EXPERIMENT)
        assert writer is not None

        def export(part: Any) -> None:
            left = writer.write(part)
            if left is not None:
                exporter.export(decode_spans(left))
    else:

        def export(part: Any) -> None:
            exporter.export(decode_spans(part))

    export((resource_attributes, rows[:spans]))  # warm, not timed
    rows = rows[spans:]
    per_call = batch * spans
    t = time.perf_counter()
    for i in range(0, len(rows), per_call):
        export((resource_attributes, rows[i : i + per_call]))
    elapsed = time.perf_counter() - t
    n = len(rows) // spans
    return {
        "spans": spans,
        "traces": n,
        "batch_traces": batch,
        "path": "direct" if direct else "MlflowSpanExporter",
        "ms_per_trace": 1000 * elapsed / n,
        "last_error": exporter.last_error,
    }


def prepare(spans: int, traces: int = 100, repeats: int = 20) -> dict[str, Any]:
    import llmtrace
    from llmtrace import _runtime
    from llmtrace.export._wire import encode_spans
    from llmtrace.tracing import _payload

    tmp = Path(tempfile.mkdtemp(prefix="profile-prepare-"))
    llmtrace.configure(tracking_uri=f"sqlite:///{tmp / 'run.db'}", experiment=bench.EXPERIMENT)
    fn = bench.build(llmtrace.trace, spans, 0.0)
    fn(0)
    assert llmtrace.flush(120)
    pipeline = _runtime._pipeline
    assert pipeline is not None
    processor = pipeline.processor
    config = pipeline.config
    captured: list[Any] = []
    on_end = processor.on_end

    def grab(span: Any) -> None:
        captured.append((span, _payload._live.get(span.context.span_id)))
        on_end(span)

    processor.on_end = grab
    for i in range(traces):
        fn(i)
    processor.on_end = on_end
    assert llmtrace.flush(120)
    gc.collect()
    gc.freeze()
    best_enrich = best_encode = float("inf")
    for _ in range(repeats):
        for span, payload in captured:
            _payload._live[span.context.span_id] = payload
        t0 = time.perf_counter()
        enriched = [_payload.enrich(span, config)[0] for span, _ in captured]
        t1 = time.perf_counter()
        encode_spans(enriched)
        t2 = time.perf_counter()
        best_enrich, best_encode = min(best_enrich, t1 - t0), min(best_encode, t2 - t1)
    n = len(captured)
    return {
        "spans_per_trace": spans,
        "spans": n,
        "repeats": repeats,
        "enrich_us_per_span": 1e6 * best_enrich / n,
        "encode_us_per_span": 1e6 * best_encode / n,
        "llmtrace_from": str(Path(llmtrace.__file__).resolve().parent.parent),
    }


def gil(spans: int, interval: float, calls: int, warmup: int, in_process: bool) -> dict[str, Any]:
    sys.setswitchinterval(interval)
    contender = "llmtrace-inproc" if in_process else "llmtrace"
    result = bench.scenario_latency(contender, spans, calls, warmup)
    result["switch_interval_s"] = sys.getswitchinterval()
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("stages")
    s.add_argument("--spans", type=int, default=1)
    s.add_argument("--traces", type=int, default=5000)
    s.add_argument("--in-process", action="store_true", help="export_process=False")
    h = sub.add_parser("hotpath")
    h.add_argument("--spans", type=int, default=10)
    w = sub.add_parser("worker")
    w.add_argument("--spans", type=int, default=10)
    w.add_argument("--traces", type=int, default=1000)
    w.add_argument("--batch", type=int, default=100, help="traces per export call")
    w.add_argument("--direct", action="store_true", help="the direct path (_sql_direct)")
    r = sub.add_parser("prepare")
    r.add_argument("--spans", type=int, default=10)
    r.add_argument("--traces", type=int, default=100)
    r.add_argument("--repeats", type=int, default=20)
    g = sub.add_parser("gil")
    g.add_argument("--spans", type=int, default=10)
    g.add_argument("--switch-interval", type=float, default=0.005)
    g.add_argument("--calls", type=int, default=2000)
    g.add_argument("--warmup", type=int, default=300)
    g.add_argument("--in-process", action="store_true", help="export_process=False")
    c = sub.add_parser("_hot")
    c.add_argument("which")
    c.add_argument("spans", type=int)
    c.add_argument("--no-gc", action="store_true")
    args = p.parse_args()
    if args.cmd == "stages":
        result: Any = stages(args.spans, args.traces, args.in_process)
    elif args.cmd == "hotpath":
        result = hotpath(args.spans)
    elif args.cmd == "worker":
        result = worker(args.spans, args.traces, args.batch, args.direct)
    elif args.cmd == "prepare":
        result = prepare(args.spans, args.traces, args.repeats)
    elif args.cmd == "gil":
        result = gil(args.spans, args.switch_interval, args.calls, args.warmup, args.in_process)
    else:
        result = _hotpath_child(args.which, args.spans, args.no_gc)
    print(json.dumps(result, indent=None if args.cmd == "_hot" else 1))
    sys.stdout.flush()
    os._exit(0)  # no exit-time flush of what is left in the queue


if __name__ == "__main__":
    main()
