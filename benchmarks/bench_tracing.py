"""Benchmark llmtrace's tracing against raw OpenTelemetry and MLflow's own ``@mlflow.trace``.

Run from the repository root::

    python benchmarks/bench_tracing.py                 # full run (several minutes)
    python benchmarks/bench_tracing.py --quick         # smoke run (about a minute)
    python benchmarks/bench_tracing.py --only lat:llmtrace:1 --result out.json   # one scenario

What is measured, in one run (see benchmarks/RESULTS.md for figures):

(a) Caller-visible added latency per call, for a function that waits 0.2 ms as I/O does
    (``time.sleep(0.0002)``), as a 1-span trace and as a 10-span nested trace (root -> 3 steps
    -> 2 sub-steps each; every function waits 0.2 ms). Contenders: undecorated; raw
    OpenTelemetry SDK (``tracer.start_as_current_span`` in a wrapper, its own TracerProvider +
    BatchSpanProcessor feeding an exporter that discards); ``@llmtrace.trace`` configured to a
    SQLite store in a temp folder (the real pipeline, export thread running and writing); and
    ``@mlflow.trace`` with ``mlflow.set_tracking_uri("sqlite:///...")`` +
    ``mlflow.set_experiment(...)`` in a temp folder. Added latency = per-call time minus the
    median of the same function undecorated, timed in the same process interleaved with the
    traced calls: one block of ~15 ms undecorated for every three traced blocks. (How long a
    0.2 ms sleep takes drifts by tens of microseconds within a process here, as much as a raw
    OTel span costs, so a baseline timed once is not good enough.) Interleaving also subtracts
    any slowdown the tracer's background work inflicts on all code in the process, so "vs
    quiet" gives the median added over an undecorated baseline timed before any tracer existed,
    and the ``bg`` diagnostic measures that slowdown alone. Reported: median and p99 of the
    added time, per-span cost (added median / spans per trace) and the ratios llmtrace/raw-OTel
    and mlflow/llmtrace.
    Each run is repeated (``--lat-rounds``, default 3, each in a fresh subprocess) and the
    round with the median per-span cost is reported, with all rounds in the JSON.
    Each contender is warmed up (calls, then a flush, so one-time imports and table creation
    are not timed), then called back to back; the export backlog that builds up meanwhile is
    part of what is measured.

(b) End-to-end persisted throughput into SQLite: N traces (1-span, and 10-span nested) issued
    back to back with no wait, then the tracer's own flush (``llmtrace.flush`` /
    ``mlflow.flush_trace_async_logging``), then the store's committed ``trace_info`` rows
    (status OK) counted every 20 ms until all N are there, then ``mlflow.search_traces`` must
    return them too (untimed: its own ~0.4 s per read of 4,000 traces is the observer's cost,
    which polling with it added to every contender until 2026-12-02). The reads run in a reader
    process of their own (MLflow's SQL store, imported for reading, would otherwise make
    garbage collection in the traced process costlier; see `Reader`). traces/s = N / (first
    call -> all N stored), counting only traces ``search_traces`` reads. Both
    contenders get the same N: 500 1-span and 200 10-span traces by default, small enough that
    MLflow's default export queue (1,000 tasks) does not overflow, so its figure is a rate and
    not a loss (losses are (c)'s subject). Each run is repeated (``--tput-rounds``, default 3,
    each in a fresh subprocess and database) and the median is reported. A final untimed read
    with spans checks each nested trace has all 10 spans.

(c) Burst: 10,000 back-to-back 1-span traces, flush, count what ``mlflow.search_traces``
    returns (from the reader process). ``@mlflow.trace`` gets a burst too (``--mlflow-burst``,
    default 10,000).

(d) ``import llmtrace`` and ``import mlflow`` wall time in fresh interpreters (median of 5,
    after one untimed run to warm the bytecode cache), and whether ``mlflow`` is in
    ``sys.modules`` after ``import llmtrace``.

``--ref PATH`` adds the ``llmtrace-ref`` contender (scenarios ``tput:llmtrace-ref:N``): llmtrace
as another checkout has it (``git worktree add /tmp/ref REV``), first on the PYTHONPATH of that
scenario's process and its export process, so an older version's throughput is measured in the
same run as the working tree's; the summary prints the ratio and which checkout ran.

``--diagnose`` adds variants that say where llmtrace's caller cost comes from: llmtrace writing
to the store from its export thread inside the traced process (``export_process=False``),
llmtrace with its export thread paused while timed (the decorator's hot path alone), llmtrace
exporting to no store (the export thread only enriches spans), and undecorated calls timed while
llmtrace (default configuration) drains a backlog into SQLite (the cost exporting imposes on
code it does not even trace).

Isolation: every scenario runs in its own ``python bench_tracing.py --only NAME`` subprocess,
one after the other (the machine has 2 cores; running them in parallel would make them
compete). This keeps MLflow's process-global tracing state (its tracer provider, in-memory
trace manager, async export queue and their atexit hooks) and llmtrace's export thread and
queue from disturbing the other contender or carrying a backlog into the next scenario. Each
subprocess gets a fresh temp folder with its own SQLite file, writes its result as JSON and
leaves with ``os._exit`` so no exit-time flush of a latency run's backlog is timed or waited
for. The parent collects the results, prints a table and writes one JSON file.

Other processes on the machine disturb these figures (2 cores, GIL-bound contenders). For each
scenario the parent records the share of the CPUs used by processes other than the benchmark
(from /proc/stat minus the CPU time of the scenario's process tree; each scenario process
kills and reaps its own children, such as llmtrace's export process, before it exits so their
time is counted as the benchmark's) and warns when it exceeds 5%. Each result also records
the CPU seconds of the scenario process and of its child processes.
``--wait-quiet S`` waits (up to S seconds) for the machine to be idle before the run and before
each scenario; ``--retries K`` runs a disturbed scenario again, up to K times.

MLflow's defaults are used unchanged (MLflow 3.17): ``MLFLOW_ENABLE_ASYNC_TRACE_LOGGING``
defaults to True outside Databricks notebooks, so ``MlflowV3SpanProcessor`` delegates to an
OTel ``BatchSpanProcessor`` (``MLFLOW_USE_BATCH_SPAN_PROCESSOR`` = True; queue 2,048 spans,
batches of ``MLFLOW_ASYNC_TRACE_LOGGING_MAX_SPAN_BATCH_SIZE`` = 5, every 5 s), whose
``MlflowV3SpanExporter`` turns each batch into a ``store.log_spans`` task and each finished
trace into a ``start_trace`` task on an ``AsyncTraceExportQueue`` (1,000 tasks, 10 worker
threads; a full queue discards with a rate-limited warning). For a ``sqlite:///`` URI both tasks
write through the SQLAlchemy tracking store in-process. llmtrace's defaults are used too, as
``configure()`` has them in the measured tree (results.json records the git HEAD, uncommitted
files and a hash of llmtrace/'s sources).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WAIT_S = 0.0002  # the simulated I/O wait of every traced function in (a)
NESTED_SPANS = 10
TRACED_BLOCKS = 3  # traced blocks per undecorated block in the latency runs
EXPERIMENT = "bench"
CONTENDERS = ("undecorated", "otel", "llmtrace", "mlflow")
TPUT_CONTENDERS = ("llmtrace", "llmtrace-oldpath", "mlflow")
LABELS = {
    "undecorated": "undecorated",
    "otel": "raw OTel SDK",
    "llmtrace": "@llmtrace.trace",
    "mlflow": "@mlflow.trace",
    "llmtrace-oldpath": "llmtrace, old path",
    "llmtrace-ref": "llmtrace at --ref",
}


# -- statistics ----------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100])."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


# -- workloads -----------------------------------------------------------------------------
def build(deco: Callable[[Callable[..., Any]], Callable[..., Any]], spans: int, wait: float):
    """The traced program: 1 function, or root -> 3 steps -> 2 sub-steps (10 functions).

    Every function waits ``wait`` seconds (as I/O would) and is decorated with ``deco``.
    """
    sleep = time.sleep

    def named(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.__name__ = fn.__qualname__ = name
        return deco(fn)

    def make_leaf(name: str) -> Callable[..., Any]:
        def leaf(x: Any) -> Any:
            if wait:
                sleep(wait)
            return x

        return named(name, leaf)

    if spans == 1:
        return make_leaf("answer")
    if spans != NESTED_SPANS:
        raise ValueError(f"spans must be 1 or {NESTED_SPANS}")

    def make_parent(name: str, children: list[Callable[..., Any]]) -> Callable[..., Any]:
        def parent(x: Any) -> Any:
            if wait:
                sleep(wait)
            for child in children:
                x = child(x)
            return x

        return named(name, parent)

    steps = [
        make_parent(step, [make_leaf(f"{step}_{j}") for j in range(2)])
        for step in ("retrieve", "rerank", "generate")
    ]
    return make_parent("agent", steps)


def identity(fn: Callable[..., Any]) -> Callable[..., Any]:
    return fn


GENAI = "genai"
"""Throughput workload (b'): a GenAI-shaped trace, an app span and the LLM span in it with the
keys `llmtrace.openai` writes for a chat completion (GenAI semconv attributes, messages, token
usage, cost, model), set on the tracer's own span API."""
GENAI_MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
GENAI_REPLY = {
    "id": "chatcmpl-1",
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "Hello! How can I help?"},
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
}
GENAI_ATTRIBUTES = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.system": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.response.id": "chatcmpl-1",
    "gen_ai.response.finish_reasons": ("stop",),
    "gen_ai.usage.input_tokens": 12,
    "gen_ai.usage.output_tokens": 7,
    "gen_ai.request.temperature": 0.2,
    "gen_ai.input.messages": json.dumps(
        [
            {"role": m["role"], "parts": [{"type": "text", "content": m["content"]}]}
            for m in GENAI_MESSAGES
        ]
    ),
    "gen_ai.output.messages": json.dumps(
        [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": "Hello! How can I help?"}],
                "finish_reason": "stop",
            }
        ]
    ),
    "server.address": "api.openai.com",
    "mlflow.chat.tokenUsage": json.dumps(
        {"input_tokens": 12, "output_tokens": 7, "total_tokens": 19}
    ),
    "mlflow.llm.cost": json.dumps(
        {"input_cost": 1.8e-06, "output_cost": 4.2e-06, "total_cost": 6e-06}
    ),
    "mlflow.llm.model": "gpt-4o-mini-2024-07-18",
    "mlflow.llm.provider": "openai",
    "mlflow.message.format": "openai",
}


GENAI_UNPRICED = "genai-unpriced"
"""Throughput workload (b''): the GenAI-shaped trace as a foreign instrumentor writes it (the
official OpenAI one): the ``gen_ai.*`` keys with token usage but no MLflow keys and no cost, so
the store prices the tokens from MLflow's model catalog."""
GENAI_UNPRICED_ATTRIBUTES = {k: v for k, v in GENAI_ATTRIBUTES.items() if k.startswith("gen_ai.")}


def build_genai(c: Contender, unpriced: bool = False) -> Callable[[Any], Any]:
    """The GenAI-shaped trace (see `GENAI`, `GENAI_UNPRICED`) for contender ``c``."""
    request = {"model": "gpt-4o-mini", "messages": GENAI_MESSAGES}
    given = GENAI_UNPRICED_ATTRIBUTES if unpriced else GENAI_ATTRIBUTES
    mlflow_tracer = c.name == "mlflow"
    if mlflow_tracer:
        import mlflow

        attributes = {
            k: (
                json.loads(v)
                if k.startswith("mlflow.")
                and k != "mlflow.llm.model"
                and k != "mlflow.llm.provider"
                and k != "mlflow.message.format"
                else v
            )
            for k, v in given.items()
        }

        def llm_call(x: Any) -> Any:
            with mlflow.start_span("chat gpt-4o-mini", span_type="CHAT_MODEL") as span:
                span.set_inputs(request)
                span.set_attributes(attributes)
                span.set_outputs(GENAI_REPLY)
            return x
    else:
        import llmtrace

        def llm_call(x: Any) -> Any:
            with llmtrace.span("chat gpt-4o-mini", kind="LLM") as span:
                span.set_inputs(request)
                span.set_attributes(given)
                span.set_outputs(GENAI_REPLY)
            return x

    def app(x: Any) -> Any:
        return llm_call(x)

    app.__name__ = app.__qualname__ = "app"
    return c.deco(app)


def export_process_figures() -> dict[str, Any]:
    """The export process's peak RSS (VmHWM) and its write-path counters, if there is one."""
    try:
        from llmtrace import _runtime

        exporter = _runtime._pipeline.mlflow_exporter  # type: ignore[union-attr]
        out: dict[str, Any] = {"export_paths": dict(getattr(exporter, "paths", {}))}
        proc = getattr(exporter, "_proc", None)
        if proc is not None:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith(("VmHWM", "VmRSS")):
                    out[line.split(":")[0].lower() + "_mb"] = int(line.split()[1]) / 1024
        return out
    except Exception as exc:
        return {"export_process_error": repr(exc)}


class Contender:
    """How one tracer is set up in a scenario subprocess: a decorator and a flush."""

    def __init__(self, name: str, tmp: Path) -> None:
        self.name = name
        self.uri = f"sqlite:///{tmp / 'mlflow.db'}"
        self.deco: Callable[[Callable[..., Any]], Callable[..., Any]] = identity
        self.flush: Callable[[], Any] = lambda: None
        self.extra: Callable[[], dict[str, Any]] = dict
        getattr(self, "_setup_" + name.replace("-", "_"))()

    def _setup_undecorated(self) -> None:
        pass

    def _setup_otel(self) -> None:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )

        class Discard(SpanExporter):
            exported = 0

            def export(self, spans):  # type: ignore[no-untyped-def]
                Discard.exported += len(spans)
                return SpanExportResult.SUCCESS

            def shutdown(self) -> None:
                pass

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(Discard()))
        tracer = provider.get_tracer("bench")

        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            name = fn.__name__
            start = tracer.start_as_current_span

            @functools.wraps(fn)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                with start(name):
                    return fn(*args, **kwargs)

            return wrapper

        self.deco = deco
        self.flush = lambda: provider.force_flush(600_000)
        self.extra = lambda: {"exported_to_discard": Discard.exported}

    def _setup_llmtrace(self) -> None:
        import llmtrace

        llmtrace.configure(tracking_uri=self.uri, experiment=EXPERIMENT)
        self.deco = llmtrace.trace
        self.flush = lambda: llmtrace.flush(1800)

        def extra() -> dict[str, Any]:
            s = llmtrace.stats()
            return {
                "llmtrace_from": str(Path(llmtrace.__file__).resolve().parent.parent),
                "enqueued": s.enqueued,
                "exported": s.exported,
                "dropped": s.dropped,
                "failed": s.failed,
                "queued_now": s.queued,
                "last_error": s.last_error,
                **export_process_figures(),
            }

        self.extra = extra

    def _setup_llmtrace_ref(self) -> None:
        """llmtrace as another checkout has it (``--ref PATH``, put first on PYTHONPATH of
        this scenario's process and its export process): an older version in the same run."""
        self._setup_llmtrace()

    def _setup_llmtrace_oldpath(self) -> None:
        """The export process writing through MLflow's objects only (the write path before
        the direct one), to compare both in one run."""
        os.environ["LLMTRACE_EXPORT_VIA_MLFLOW"] = "1"  # read by the export process
        self._setup_llmtrace()

    # Diagnostic variants (--diagnose): llmtrace's pipeline with parts of the export removed.
    def _setup_llmtrace_nostore(self) -> None:
        """Export thread still enriches every span, but nothing is converted or written."""
        import llmtrace

        self._setup_llmtrace()
        llmtrace.configure(tracking_uri=self.uri, experiment=EXPERIMENT, export_to_mlflow=False)

    def _setup_llmtrace_inproc(self) -> None:
        """Store writes on llmtrace's export thread, in the traced process (no export process)."""
        import llmtrace

        self._setup_llmtrace()
        llmtrace.configure(tracking_uri=self.uri, experiment=EXPERIMENT, export_process=False)

    def _setup_llmtrace_paused(self) -> None:
        """Export thread never runs while timed: the decorator's hot path alone."""
        import llmtrace

        self._setup_llmtrace()
        llmtrace.configure(
            tracking_uri=self.uri,
            experiment=EXPERIMENT,
            schedule_delay_ms=10**9,
            max_export_batch_size=10**8,
            max_queue_size=10**8,
        )
        self.flush = lambda: None

    def _setup_mlflow(self) -> None:
        import mlflow

        mlflow.set_tracking_uri(self.uri)
        mlflow.set_experiment(EXPERIMENT)
        self.deco = mlflow.trace
        self.flush = mlflow.flush_trace_async_logging


def time_calls(fn: Callable[[int], Any], calls: int) -> list[float]:
    """Per-call wall time in microseconds."""
    clock = time.perf_counter_ns
    out = [0.0] * calls
    for i in range(calls):
        t0 = clock()
        fn(i)
        out[i] = (clock() - t0) / 1000.0
    return out


# -- reading back through MLflow, from a process of its own --------------------------------
def now() -> float:
    """CLOCK_MONOTONIC: one clock for the scenario process and its reader process."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


class _MlflowReads:
    """The reads themselves (run in the reader process)."""

    def __init__(self, uri: str) -> None:
        import mlflow

        self.mlflow = mlflow
        mlflow.set_tracking_uri(uri)
        exp = mlflow.MlflowClient(uri).get_experiment_by_name(EXPERIMENT)
        if exp is None:
            raise RuntimeError(f"experiment {EXPERIMENT!r} not found in {uri}")
        self.exp_id = exp.experiment_id

    def ok_traces(self, include_spans: bool = False) -> list[Any]:
        return self.mlflow.search_traces(
            locations=[self.exp_id],
            filter_string="trace.status = 'OK'",
            return_type="list",
            include_spans=include_spans,
        )

    def count(self) -> int:
        return len(self.ok_traces())

    def complete(self, spans: int) -> int:
        return sum(1 for tr in self.ok_traces(include_spans=True) if len(tr.data.spans) == spans)

    def stored_rows(self) -> int:
        """OK traces committed to the store's ``trace_info`` table (a read of a few ms)."""
        import sqlite3

        path = self.mlflow.get_tracking_uri().removeprefix("sqlite:///")
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            query = "select count(*) from trace_info where experiment_id = ? and status = 'OK'"
            return int(con.execute(query, (int(self.exp_id),)).fetchone()[0])
        finally:
            con.close()

    def wait_for(self, expected: int, settle_s: float, timeout_s: float) -> tuple[int, float]:
        """Poll until ``expected`` traces are stored, or the count stops growing; then count
        what ``mlflow.search_traces`` reads (the figure returned).

        The moment is taken from a cheap count of committed ``trace_info`` rows every 20 ms,
        not from ``search_traces`` itself, whose own duration (~0.4 s for 4,000 traces) would
        otherwise be added to every contender's time. Returns the count and when it was
        reached: when the count stopped growing (a contender that dropped traces), the time
        the last one was stored, not the end of the wait.
        """
        start = now()
        last, last_change = -1, start
        while True:
            n = self.stored_rows()
            t = now()
            if n >= expected:
                break
            if n != last:
                last, last_change = n, t
            if t - last_change > settle_s or t - start > timeout_s:
                t = last_change
                break
            time.sleep(0.02)
        return min(n, self.count()), t  # every stored trace must also be readable by MLflow


def reader_main(uri: str) -> int:
    """``--reader URI``: answer one JSON request per stdin line with one JSON line."""
    import gc

    reads = _MlflowReads(uri)
    reads.count()
    gc.collect()
    gc.freeze()  # MLflow's objects: a full collection during a timed read would take ~0.1 s
    print(json.dumps("ready"), flush=True)
    for line in sys.stdin:
        method, *args = json.loads(line)
        print(json.dumps(getattr(reads, method)(*args)), flush=True)
    return 0


class Reader:
    """Reads the store through ``mlflow.search_traces`` in a separate process.

    The reads need MLflow's SQL store, whose import leaves ~270,000 objects behind; in the
    traced process they would make each of Python's full garbage collections there ~45 ms
    longer (measured: 200 nested llmtrace calls took 0.12 s instead of 0.03 s). The observer
    must not weigh on the observed, for either contender, so it lives in its own interpreter.
    """

    def __init__(self, uri: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--reader", uri],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if self._answer() != "ready":
            raise RuntimeError("reader process did not start")

    def _answer(self) -> Any:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"reader process exited ({self.proc.wait()})")
        return json.loads(line)

    def _ask(self, *request: Any) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def count(self) -> int:
        return int(self._ask("count"))

    def complete(self, spans: int) -> int:
        """Traces readable with exactly ``spans`` spans."""
        return int(self._ask("complete", spans))

    def wait_for(self, expected: int, settle_s: float, timeout_s: float) -> tuple[int, float]:
        n, t = self._ask("wait_for", expected, settle_s, timeout_s)
        return int(n), float(t)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


# -- scenarios (each runs in its own subprocess) -------------------------------------------
def scenario_latency(contender: str, spans: int, calls: int, warmup: int) -> dict[str, Any]:
    """Added latency, timed in blocks of traced calls interleaved with undecorated ones.

    How long ``time.sleep(0.0002)`` takes drifts by up to tens of microseconds within one
    process on this VM (as much as a raw OTel span costs), so the undecorated calls that are
    subtracted are timed interleaved with the traced ones rather than once before: one
    undecorated block per three traced blocks, so the traced calls still come back to back
    three quarters of the time. That also subtracts any slowdown the tracer's background work
    inflicts on *all* code in the process; so a quiet baseline, timed before any tracer exists,
    is reported too ("added vs quiet"), and the ``bg`` diagnostic measures that slowdown alone.
    """
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-lat-{contender}-"))
    plain = build(identity, spans, WAIT_S)
    time_calls(plain, max(50, warmup // 4))
    quiet = time_calls(plain, calls)  # before any tracer exists in this process
    c = Contender(contender, tmp)
    fn = build(c.deco, spans, WAIT_S)
    time_calls(fn, warmup)
    t = time.perf_counter()
    c.flush()
    warm_flush_s = time.perf_counter() - t
    block = max(5, 50 // spans)
    samples: list[float] = []
    baseline: list[float] = []
    t = time.perf_counter()
    # Cycles of one undecorated block and TRACED_BLOCKS traced blocks, the undecorated block's
    # place rotating, so the traced function still runs back to back 3/4 of the time.
    cycle = 0
    while len(samples) < calls:
        for j in range(TRACED_BLOCKS + 1):
            if j == cycle % (TRACED_BLOCKS + 1):
                baseline.extend(time_calls(plain, block))
            elif len(samples) < calls:
                samples.extend(time_calls(fn, min(block, calls - len(samples))))
        cycle += 1
    run_s = time.perf_counter() - t
    base_med = statistics.median(baseline)
    quiet_med = statistics.median(quiet)
    added = [x - base_med for x in samples]
    return {
        "contender": contender,
        "spans": spans,
        "calls": calls,
        "warmup": warmup,
        "block": block,
        "baseline_median_us": base_med,
        "baseline_p99_us": pct(baseline, 99),
        "quiet_baseline_median_us": quiet_med,
        "call_median_us": statistics.median(samples),
        "call_p99_us": pct(samples, 99),
        "added_median_us": statistics.median(added),
        "added_p90_us": pct(added, 90),
        "added_p99_us": pct(added, 99),
        "added_max_us": max(added),
        "added_vs_quiet_median_us": statistics.median(samples) - quiet_med,
        "per_span_median_us": statistics.median(added) / spans,
        "per_span_p99_us": pct(added, 99) / spans,
        "run_s": run_s,
        "warm_flush_s": warm_flush_s,
        "after": c.extra(),
    }


def scenario_contention(spans: int, calls: int, warmup: int) -> dict[str, Any]:
    """Diagnostic: undecorated calls timed while llmtrace's export thread drains a backlog."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-bg-"))
    plain = build(identity, spans, WAIT_S)
    time_calls(plain, max(50, warmup // 4))
    baseline = time_calls(plain, calls)
    c = Contender("llmtrace", tmp)
    traced = build(c.deco, spans, 0.0)
    traced(-1)
    c.flush()
    backlog = calls * (20 if spans == 1 else 4)  # outlasts the timed calls below
    for i in range(backlog):
        traced(i)
    before = c.extra()["queued_now"]
    samples = time_calls(plain, calls)
    after = c.extra()
    base_med = statistics.median(baseline)
    added = [x - base_med for x in samples]
    return {
        "contender": "undecorated, llmtrace exporting",
        "spans": spans,
        "calls": calls,
        "backlog_traces": backlog,
        "queued_spans_before": before,
        "queued_spans_after": after["queued_now"],
        "baseline_median_us": base_med,
        "call_median_us": statistics.median(samples),
        "added_median_us": statistics.median(added),
        "added_p99_us": pct(added, 99),
        "per_span_median_us": statistics.median(added) / spans,
        "per_span_p99_us": pct(added, 99) / spans,
        "after": after,
    }


def scenario_throughput(
    contender: str,
    spans: int,
    n: int,
    settle_s: float,
    genai: bool = False,
    unpriced: bool = False,
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-tput-{contender}-"))
    c = Contender(contender, tmp)
    fn = build_genai(c, unpriced) if genai else build(c.deco, spans, 0.0)
    fn(-1)  # warm: imports, experiment, tables; not timed
    c.flush()
    reader = Reader(c.uri)
    before = reader.count()
    t0 = now()
    for i in range(n):
        fn(i)
    t_calls = now()
    c.flush()
    t_flush = now()
    stored, t_done = reader.wait_for(before + n, settle_s, timeout_s=1800)
    stored -= before
    elapsed = t_done - t0
    complete = None
    if spans > 1:
        complete = reader.complete(spans) - before
    reader.close()
    return {
        "contender": contender,
        "spans": spans,
        "workload": (GENAI_UNPRICED if unpriced else GENAI) if genai else "plain",
        "n": n,
        "stored": stored,
        "complete_traces": complete,
        "calls_s": t_calls - t0,
        "flush_s": t_flush - t_calls,
        "elapsed_s": elapsed,
        "all_readable": stored >= n,
        "traces_per_s": stored / elapsed,
        "spans_per_s": stored * spans / elapsed,
        "after": c.extra(),
    }


def scenario_burst(contender: str, n: int, settle_s: float) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-burst-{contender}-"))
    c = Contender(contender, tmp)
    fn = build(c.deco, 1, 0.0)
    fn(-1)
    c.flush()
    reader = Reader(c.uri)
    before = reader.count()
    t0 = now()
    for i in range(n):
        fn(i)
    t_calls = now()
    c.flush()
    t_flush = now()
    stored, t_done = reader.wait_for(before + n, settle_s, timeout_s=1800)
    stored -= before
    reader.close()
    return {
        "contender": contender,
        "n": n,
        "stored": stored,
        "lost": n - stored,
        "calls_s": t_calls - t0,
        "flush_s": t_flush - t_calls,
        "elapsed_s": t_done - t0,
        "after": c.extra(),
    }


IMPORT_PROBE = (
    "import sys, time, json\n"
    "t = time.perf_counter()\n"
    "import {module}\n"
    "dt = time.perf_counter() - t\n"
    "print(json.dumps({{'s': dt, 'mlflow_loaded': 'mlflow' in sys.modules, "
    "'modules': len(sys.modules)}}))\n"
)


def scenario_import(module: str, repeats: int) -> dict[str, Any]:
    probe = IMPORT_PROBE.format(module=module)
    runs = []
    for i in range(repeats + 1):
        t = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True
        )
        wall = time.perf_counter() - t
        data = json.loads(out.stdout.strip().splitlines()[-1])
        data["process_wall_s"] = wall
        if i:  # the first run only warms the bytecode cache
            runs.append(data)
    return {
        "module": module,
        "repeats": repeats,
        "import_s_median": statistics.median(r["s"] for r in runs),
        "import_s_all": [r["s"] for r in runs],
        "process_wall_s_median": statistics.median(r["process_wall_s"] for r in runs),
        "mlflow_in_sys_modules": any(r["mlflow_loaded"] for r in runs),
        "modules_loaded": runs[-1]["modules"],
    }


def reap_and_measure() -> dict[str, float]:
    """Kill and reap this process's children (e.g. llmtrace's export process), then CPU used.

    Reaping makes their CPU time part of this process's (and so the parent's) accounting; a
    child left behind by ``os._exit`` would be reparented to init and look like another
    program's load. Their unexported backlog is of no interest once the figures are taken.
    """
    import resource
    import signal

    mine = str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == mine:  # ppid
            pid = int(stat.parent.name)
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "this_process_s": me.ru_utime + me.ru_stime,
        "child_processes_s": kids.ru_utime + kids.ru_stime,
    }


def run_scenario(name: str, args: argparse.Namespace) -> dict[str, Any]:
    kind, *rest = name.split(":")
    if kind == "lat":
        contender, spans = rest[0], int(rest[1])
        calls = args.calls if spans == 1 else args.nested_calls
        return scenario_latency(contender, spans, calls, args.warmup)
    if kind == "bg":
        spans = int(rest[0])
        return scenario_contention(
            spans, args.calls if spans == 1 else args.nested_calls, args.warmup
        )
    if kind == "tput":
        if rest[1] in (GENAI, GENAI_UNPRICED):
            unpriced = rest[1] == GENAI_UNPRICED
            return scenario_throughput(
                rest[0], 2, args.tput_genai_n, args.settle, genai=True, unpriced=unpriced
            )
        contender, spans = rest[0], int(rest[1])
        n = args.tput_n if spans == 1 else args.tput_nested_n
        return scenario_throughput(contender, spans, n, args.settle)
    if kind == "burst":
        n = args.burst if rest[0] == "llmtrace" else args.mlflow_burst
        return scenario_burst(rest[0], n, args.settle)
    if kind == "import":
        return scenario_import(rest[0], args.import_repeats)
    raise SystemExit(f"unknown scenario {name!r}")


def all_scenarios() -> list[str]:
    names = [f"lat:{c}:{s}" for s in (1, NESTED_SPANS) for c in CONTENDERS]
    names += [f"tput:{c}:{s}" for s in (1, NESTED_SPANS) for c in TPUT_CONTENDERS]
    names += [f"tput:{c}:{GENAI}" for c in TPUT_CONTENDERS]
    names += ["burst:llmtrace", "burst:mlflow", "import:llmtrace", "import:mlflow"]
    return names


def diagnostic_scenarios() -> list[str]:
    """Where llmtrace's caller cost comes from (see RESULTS.md, "Why")."""
    names = []
    for spans in (1, NESTED_SPANS):
        names += [
            f"lat:llmtrace-inproc:{spans}",
            f"lat:llmtrace-paused:{spans}",
            f"lat:llmtrace-nostore:{spans}",
            f"bg:{spans}",
        ]
    return names


# -- parent: run the scenarios, collect, report --------------------------------------------
def busy_cpu_s() -> float | None:
    """CPU seconds all processes on the machine have used since boot (from /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    except (OSError, ValueError):
        return None
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def children_cpu_s() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_for_quiet(max_wait_s: float, threshold: float = 0.10, window_s: float = 30.0) -> float:
    """Wait (up to ``max_wait_s``) until other processes use < ``threshold`` of the CPUs."""
    ncpu = os.cpu_count() or 1
    start = time.perf_counter()
    while True:
        b0, t0 = busy_cpu_s(), time.perf_counter()
        time.sleep(window_s)
        b1, t1 = busy_cpu_s(), time.perf_counter()
        if b0 is None or b1 is None:
            return 0.0
        load = (b1 - b0) / ((t1 - t0) * ncpu)
        if load < threshold or t1 - start > max_wait_s:
            return load
        print(f"  machine busy ({load:.0%} of {ncpu} CPUs used by others); waiting", flush=True)


DISTURBED = 0.05  # share of the CPUs used by other processes above which a run is retried


def run_child(
    args: argparse.Namespace, name: str, out: Path, log: Path, env: dict[str, str]
) -> tuple[dict[str, Any] | None, float | None, float]:
    """Run one scenario subprocess; (its result, CPU share used by other processes, wall s)."""
    t = time.perf_counter()
    busy0, mine0 = busy_cpu_s(), children_cpu_s()
    with log.open("w") as fh:
        proc = subprocess.run(
            child_argv(args, name, out),
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=log.parent,
            env=env,
        )
    wall = time.perf_counter() - t
    busy1, mine1 = busy_cpu_s(), children_cpu_s()
    # CPU used by processes other than this benchmark while the scenario ran, as a share of
    # the machine: a disturbance indicator (0 = the machine was ours).
    foreign = None
    if busy0 is not None and busy1 is not None and wall > 0:
        other = (busy1 - busy0) - (mine1 - mine0)
        foreign = max(0.0, other) / (wall * (os.cpu_count() or 1))
    if proc.returncode != 0 or not out.exists():
        return None, foreign, wall
    return json.loads(out.read_text()), foreign, wall


def child_argv(args: argparse.Namespace, name: str, result: Path) -> list[str]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--only", name, "--result", str(result)]
    for key in (
        "calls",
        "nested_calls",
        "warmup",
        "tput_n",
        "tput_nested_n",
        "tput_genai_n",
        "burst",
        "mlflow_burst",
        "settle",
        "import_repeats",
        "tput_rounds",
    ):
        argv += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    return argv


ROUND_KEYS = {
    "tput": ("traces_per_s", "stored", "elapsed_s", "complete_traces", "foreign_cpu_share"),
    "lat": ("per_span_median_us", "added_median_us", "added_p99_us", "foreign_cpu_share"),
}


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median headline figure; every round's figures are kept in it."""
    if len(runs) == 1:
        return runs[0]
    kind = "tput" if "traces_per_s" in runs[0] else "lat"
    ordered = sorted(runs, key=lambda r: r[ROUND_KEYS[kind][0]])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["rounds"] = [{k: r.get(k) for k in ROUND_KEYS[kind]} for r in runs]
    return chosen


def source_state() -> dict[str, Any]:
    """Which llmtrace was measured: git HEAD, uncommitted files, a hash of llmtrace/ sources."""
    import hashlib

    repo = HERE.parent
    digest = hashlib.sha256()
    for path in sorted((repo / "llmtrace").rglob("*.py")):
        digest.update(str(path.relative_to(repo)).encode())
        digest.update(path.read_bytes())
    state: dict[str, Any] = {"llmtrace_sources_sha256": digest.hexdigest()[:16]}
    try:
        git = ["git", "-C", str(repo)]
        state["git_head"] = subprocess.run(
            [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            [*git, "status", "--porcelain", "--", "llmtrace"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        state["llmtrace_uncommitted"] = [line[3:] for line in status.splitlines()]
    except (OSError, subprocess.CalledProcessError):
        pass
    return state


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "nproc": os.cpu_count(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib.metadata import PackageNotFoundError, version

    for pkg in ("llmtrace", "mlflow", "opentelemetry-sdk", "sqlalchemy"):
        try:
            info[pkg] = version(pkg)
        except PackageNotFoundError:
            info[pkg] = None
    return info


def fmt(x: float | None, unit: str = "", digits: int = 0) -> str:
    if x is None:
        return "-"
    return f"{x:,.{digits}f}{unit}"


def cpu_text(r: dict[str, Any]) -> str:
    cpu = r.get("cpu")
    if not cpu:
        return "-"
    return f"{cpu['this_process_s']:.1f}+{cpu['child_processes_s']:.1f}"


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0:
        return None
    return a / b


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    s: dict[str, Any] = {}
    for spans in (1, NESTED_SPANS, GENAI):
        tl, to = (
            results.get(f"tput:llmtrace:{spans}"),
            results.get(f"tput:llmtrace-oldpath:{spans}"),
        )
        tm = results.get(f"tput:mlflow:{spans}")
        s[f"tput_paths_{spans}"] = {
            "llmtrace_over_oldpath": ratio(tl and tl["traces_per_s"], to and to["traces_per_s"]),
            "llmtrace_over_mlflow": ratio(tl and tl["traces_per_s"], tm and tm["traces_per_s"]),
            "oldpath_over_mlflow": ratio(to and to["traces_per_s"], tm and tm["traces_per_s"]),
            "worker_peak_rss_mb": tl and tl["after"].get("vmhwm_mb"),
            "oldpath_worker_peak_rss_mb": to and to["after"].get("vmhwm_mb"),
            "export_paths": tl and tl["after"].get("export_paths"),
        }
        tr = results.get(f"tput:llmtrace-ref:{spans}")
        if tr:
            s[f"tput_paths_{spans}"]["llmtrace_over_ref"] = ratio(
                tl and tl["traces_per_s"], tr["traces_per_s"]
            )
            s[f"tput_paths_{spans}"]["ref_from"] = tr["after"].get("llmtrace_from")
    for spans in (1, NESTED_SPANS):
        lat = {c: results.get(f"lat:{c}:{spans}") for c in CONTENDERS}
        per = {c: (r["per_span_median_us"] if r else None) for c, r in lat.items()}
        p99 = {c: (r["added_p99_us"] if r else None) for c, r in lat.items()}
        s[f"lat_{spans}"] = {
            "per_span_median_us": per,
            "added_p99_us": p99,
            "llmtrace_over_otel": ratio(per["llmtrace"], per["otel"]),
            "mlflow_over_llmtrace": ratio(per["mlflow"], per["llmtrace"]),
            "p99_llmtrace_over_otel": ratio(p99["llmtrace"], p99["otel"]),
            "p99_mlflow_over_llmtrace": ratio(p99["mlflow"], p99["llmtrace"]),
        }
        tl, tm = results.get(f"tput:llmtrace:{spans}"), results.get(f"tput:mlflow:{spans}")
        s[f"tput_{spans}"] = {
            "llmtrace_traces_per_s": tl and tl["traces_per_s"],
            "mlflow_traces_per_s": tm and tm["traces_per_s"],
            "llmtrace_over_mlflow": ratio(tl and tl["traces_per_s"], tm and tm["traces_per_s"]),
        }
    bl, bm = results.get("burst:llmtrace"), results.get("burst:mlflow")
    s["burst"] = {
        "llmtrace": bl and {"n": bl["n"], "stored": bl["stored"]},
        "mlflow": bm and {"n": bm["n"], "stored": bm["stored"]},
    }
    il, im = results.get("import:llmtrace"), results.get("import:mlflow")
    s["import"] = {
        "llmtrace_s": il and il["import_s_median"],
        "mlflow_s": im and im["import_s_median"],
        "mlflow_loaded_by_llmtrace": il and il["mlflow_in_sys_modules"],
    }
    ratios = [s[f"lat_{k}"]["llmtrace_over_otel"] for k in (1, NESTED_SPANS)]
    tputs = [s[f"tput_{k}"]["llmtrace_over_mlflow"] for k in (1, NESTED_SPANS)]
    s["targets"] = {
        "per_span_cost_le_1.5x_raw_otel": (
            all(r is not None and r <= 1.5 for r in ratios) if None not in ratios else None
        ),
        "persisted_throughput_ge_20x_mlflow": (
            all(r >= 20 for r in tputs) if None not in tputs else None
        ),
        "burst_stored_whole": (bl["stored"] == bl["n"]) if bl else None,
        "import_le_0.3s": (
            (il["import_s_median"] <= 0.3 and not il["mlflow_in_sys_modules"]) if il else None
        ),
    }
    return s


def table(results: dict[str, Any], summary: dict[str, Any]) -> str:
    lines: list[str] = []
    add = lines.append
    add("(a) caller-visible added latency per call (us); function waits 0.2 ms per span")
    add(
        f"{'contender':<18}{'spans':>6}{'calls':>7}{'base med':>10}{'added med':>11}"
        f"{'added p99':>11}{'per span':>10}{'span p99':>10}{'vs quiet':>10}"
    )
    for spans in (1, NESTED_SPANS):
        for c in CONTENDERS:
            r = results.get(f"lat:{c}:{spans}")
            if not r:
                continue
            add(
                f"{LABELS[c]:<18}{spans:>6}{r['calls']:>7}{fmt(r['baseline_median_us'], '', 1):>10}"
                f"{fmt(r['added_median_us'], '', 1):>11}{fmt(r['added_p99_us'], '', 1):>11}"
                f"{fmt(r['per_span_median_us'], '', 1):>10}{fmt(r['per_span_p99_us'], '', 1):>10}"
                f"{fmt(r.get('added_vs_quiet_median_us'), '', 1):>10}"
            )
            if r.get("rounds"):
                each = ", ".join(fmt(x["per_span_median_us"], "", 1) for x in r["rounds"])
                add(f"    rounds per span: {each}; median round shown")
        sm = summary[f"lat_{spans}"]
        add(
            f"  {spans}-span ratios (per-span median): llmtrace/raw-OTel = "
            f"{fmt(sm['llmtrace_over_otel'], 'x', 2)}, mlflow/llmtrace = "
            f"{fmt(sm['mlflow_over_llmtrace'], 'x', 2)}; (added p99): llmtrace/raw-OTel = "
            f"{fmt(sm['p99_llmtrace_over_otel'], 'x', 2)}, mlflow/llmtrace = "
            f"{fmt(sm['p99_mlflow_over_llmtrace'], 'x', 2)}"
        )
    add("")
    add("(b) end-to-end persisted throughput into SQLite (all N readable via search_traces)")
    add(
        f"{'contender':<18}{'spans':>6}{'N':>7}{'stored':>8}{'complete':>9}{'calls s':>9}"
        f"{'total s':>9}{'traces/s':>10}{'spans/s':>10}{'CPU s (proc+children)':>23}"
    )
    for spans in (1, NESTED_SPANS, GENAI):
        for c in (*TPUT_CONTENDERS, "llmtrace-ref"):
            r = results.get(f"tput:{c}:{spans}")
            if not r:
                continue
            add(
                f"{LABELS[c]:<18}{spans:>6}{r['n']:>7}{r['stored']:>8}"
                f"{fmt(r['complete_traces']):>9}{fmt(r['calls_s'], '', 2):>9}"
                f"{fmt(r['elapsed_s'], '', 2):>9}{fmt(r['traces_per_s'], '', 1):>10}"
                f"{fmt(r['spans_per_s'], '', 1):>10}{cpu_text(r):>23}"
            )
            if r.get("rounds"):
                each = ", ".join(
                    f"{x['traces_per_s']:.1f} ({x['stored']} stored)" for x in r["rounds"]
                )
                add(f"    rounds traces/s: {each}; median shown")
        paths = summary[f"tput_paths_{spans}"]
        add(
            f"  {spans}: traces/s llmtrace/mlflow = {fmt(paths['llmtrace_over_mlflow'], 'x', 1)}"
            f", llmtrace/old path = {fmt(paths['llmtrace_over_oldpath'], 'x', 2)}"
            f", old path/mlflow = {fmt(paths['oldpath_over_mlflow'], 'x', 1)}; export process"
            f" peak RSS {fmt(paths['worker_peak_rss_mb'], ' MB')} (old path"
            f" {fmt(paths['oldpath_worker_peak_rss_mb'], ' MB')}); paths {paths['export_paths']}"
        )
        if "llmtrace_over_ref" in paths:
            add(
                f"  {spans}: traces/s llmtrace/llmtrace at --ref = "
                f"{fmt(paths['llmtrace_over_ref'], 'x', 2)} (ref: {paths['ref_from']})"
            )
    add("")
    add("(c) burst of back-to-back 1-span traces, count stored after flush")
    add(
        f"{'contender':<18}{'N':>7}{'stored':>8}{'lost':>7}{'calls s':>9}{'total s':>9}"
        f"{'CPU s (proc+children)':>23}"
    )
    for c in ("llmtrace", "mlflow"):
        r = results.get(f"burst:{c}")
        if r:
            add(
                f"{LABELS[c]:<18}{r['n']:>7}{r['stored']:>8}{r['lost']:>7}"
                f"{fmt(r['calls_s'], '', 2):>9}{fmt(r['elapsed_s'], '', 2):>9}{cpu_text(r):>23}"
            )
    add("")
    add("(d) import time in a fresh interpreter (median)")
    for m in ("llmtrace", "mlflow"):
        r = results.get(f"import:{m}")
        if r:
            add(
                f"  import {m:<9} {r['import_s_median']:.3f} s  (runs: "
                f"{', '.join(f'{x:.3f}' for x in r['import_s_all'])}; "
                f"mlflow in sys.modules: {r['mlflow_in_sys_modules']})"
            )
    diag = [n for n in diagnostic_scenarios() if n in results]
    if diag:
        add("")
        add("diagnostics: llmtrace with parts of the export removed (added us vs undecorated)")
        add(
            f"{'variant':<34}{'spans':>6}{'added med':>11}{'added p99':>11}{'per span':>10}"
            f"{'vs quiet':>10}{'queued after':>14}"
        )
        names = {
            "llmtrace-inproc": "llmtrace, store writes in-process",
            "llmtrace-paused": "llmtrace, export thread paused",
            "llmtrace-nostore": "llmtrace, enrich only (no store)",
        }
        for spans in (1, NESTED_SPANS):
            rows = [(f"lat:llmtrace:{spans}", "llmtrace (full pipeline)")]
            rows += [(f"lat:{v}:{spans}", label) for v, label in names.items()]
            rows += [(f"bg:{spans}", "undecorated, llmtrace exporting")]
            for key, label in rows:
                r = results.get(key)
                if not r:
                    continue
                add(
                    f"{label:<34}{spans:>6}{fmt(r['added_median_us'], '', 1):>11}"
                    f"{fmt(r['added_p99_us'], '', 1):>11}{fmt(r['per_span_median_us'], '', 1):>10}"
                    f"{fmt(r.get('added_vs_quiet_median_us'), '', 1):>10}"
                    f"{fmt(r['after'].get('queued_now')):>14}"
                )
    disturbed = {
        name: r["foreign_cpu_share"]
        for name, r in results.items()
        if (r.get("foreign_cpu_share") or 0) > DISTURBED
    }
    add("")
    if disturbed:
        add(
            "WARNING: other processes used > 5% of the CPUs during: "
            + ", ".join(f"{k} ({v:.0%})" for k, v in disturbed.items())
        )
    else:
        add("other processes used <= 5% of the CPUs during every scenario")
    add("targets: " + json.dumps(summary["targets"]))
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--quick", action="store_true", help="short smoke run")
    p.add_argument("--json", type=Path, default=HERE / "results.json", help="where to write JSON")
    p.add_argument("--only", help="run one scenario in this process (e.g. lat:llmtrace:10)")
    p.add_argument("--scenarios", help="comma-separated subset of scenarios to run")
    p.add_argument("--result", type=Path, help="(with --only) write the scenario's JSON here")
    p.add_argument("--reader", help=argparse.SUPPRESS)  # internal: the reader process
    p.add_argument("--calls", type=int, help="timed calls per 1-span latency run (3000)")
    p.add_argument("--nested-calls", type=int, help="timed calls per 10-span run (2000)")
    p.add_argument("--warmup", type=int, help="untimed warm-up calls (300)")
    p.add_argument("--tput-n", type=int, help="1-span traces in the throughput run (500)")
    p.add_argument("--tput-nested-n", type=int, help="10-span traces in throughput run (200)")
    p.add_argument("--tput-genai-n", type=int, help="GenAI-shaped traces in throughput run (500)")
    p.add_argument("--burst", type=int, help="llmtrace burst size (10000)")
    p.add_argument("--mlflow-burst", type=int, help="@mlflow.trace burst size (10000)")
    p.add_argument("--settle", type=float, help="give up when the count is flat this long (s)")
    p.add_argument("--import-repeats", type=int, help="fresh interpreters per import (5)")
    p.add_argument("--tput-rounds", type=int, help="repeats of each throughput run, median (3)")
    p.add_argument("--lat-rounds", type=int, help="repeats of each latency run, median (3)")
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help="first wait up to this many seconds for other processes to leave the CPUs idle",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=0,
        help="run a scenario again (up to this many times) when other processes used more than "
        "5%% of the CPUs during it",
    )
    p.add_argument(
        "--ref",
        type=Path,
        help="a checkout of another llmtrace version, for the llmtrace-ref contender "
        "(e.g. tput:llmtrace-ref:10; make one with git worktree add)",
    )
    p.add_argument(
        "--diagnose",
        action="store_true",
        help="also run the diagnostic variants of llmtrace (paused export, no store, contention)",
    )
    args = p.parse_args(argv)
    full = dict(
        calls=3000,
        nested_calls=2000,
        warmup=300,
        tput_n=500,
        tput_nested_n=200,
        tput_genai_n=500,
        burst=10_000,
        mlflow_burst=10_000,
        settle=15.0,
        import_repeats=5,
        tput_rounds=3,
        lat_rounds=3,
    )
    quick = dict(
        calls=300,
        nested_calls=200,
        warmup=50,
        tput_n=100,
        tput_nested_n=20,
        tput_genai_n=100,
        burst=1000,
        mlflow_burst=300,
        settle=5.0,
        import_repeats=3,
        tput_rounds=1,
        lat_rounds=1,
    )
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.reader:
        return reader_main(args.reader)
    if args.only:
        result = run_scenario(args.only, args)
        result["cpu"] = reap_and_measure()
        text = json.dumps(result, indent=1)
        if args.result:
            args.result.write_text(text)
        else:
            print(text)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # skip exit-time flushes of a latency run's backlog

    names = args.scenarios.split(",") if args.scenarios else all_scenarios()
    if args.diagnose:
        names += [n for n in diagnostic_scenarios() if n not in names]
    logs = Path(tempfile.mkdtemp(prefix="bench-tracing-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "LLMTRACE_"))}
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    started = time.time()
    source_before = source_state()
    if args.wait_quiet:
        load = wait_for_quiet(args.wait_quiet)
        print(f"starting; other processes were using {load:.0%} of the CPUs", flush=True)
    for name in names:
        rounds = 1
        if name.startswith("tput:"):
            rounds = args.tput_rounds
        elif name.startswith("lat:") and name.split(":")[1] in CONTENDERS:
            rounds = args.lat_rounds
        runs = []
        for r in range(rounds):
            label = name + (f" (round {r + 1}/{rounds})" if rounds > 1 else "")
            for attempt in range(1, args.retries + 2):
                if args.wait_quiet:
                    wait_for_quiet(args.wait_quiet, window_s=5.0)
                tag = name.replace(":", "_") + (f"_r{r + 1}" if rounds > 1 else "")
                tag += f"_a{attempt}" if attempt > 1 else ""
                out, log = logs / f"{tag}.json", logs / f"{tag}.log"
                print(f"[{time.strftime('%H:%M:%S')}] {label} ...", end=" ", flush=True)
                child_env = env
                if name.split(":")[1:2] == ["llmtrace-ref"]:
                    if not args.ref:
                        raise SystemExit("llmtrace-ref scenarios need --ref PATH (a checkout)")
                    path = os.pathsep.join(filter(None, [str(args.ref), env.get("PYTHONPATH")]))
                    child_env = {**env, "PYTHONPATH": path}
                run, foreign, wall = run_child(args, name, out, log, child_env)
                if run is None:
                    errors[label] = f"failed; log: {log}"
                    print(f"FAILED ({errors[label]})", flush=True)
                    break
                run["foreign_cpu_share"] = foreign
                run["attempt"] = attempt
                print(
                    f"done in {wall:.1f}s (other processes used {fmt(foreign and 100 * foreign)}%"
                    " of the CPUs)",
                    flush=True,
                )
                if foreign is None or foreign <= DISTURBED or attempt > args.retries:
                    runs.append(run)
                    break
                print("  disturbed by other processes; running it again", flush=True)
        if runs:
            results[name] = median_run(runs)
    source_after = source_state()
    if source_after["llmtrace_sources_sha256"] != source_before["llmtrace_sources_sha256"]:
        print("WARNING: llmtrace/ sources changed while the benchmark ran", flush=True)
    summary = summarize(results)
    report = table(results, summary)
    print()
    print(report)
    payload = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "quick": args.quick,
        "machine": machine(),
        "source": source_before,
        "source_changed_during_run": (
            source_after["llmtrace_sources_sha256"] != source_before["llmtrace_sources_sha256"]
        ),
        "settings": {k: getattr(args, k) for k in vars(args) if k not in ("json", "result")},
        "wait_s": WAIT_S,
        "summary": summary,
        "results": results,
        "errors": errors,
        "logs": str(logs),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=1, default=str))
    print(f"\nJSON written to {args.json}; subprocess logs in {logs}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
