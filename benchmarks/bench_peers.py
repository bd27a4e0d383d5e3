"""llmtrace against the peer tracing SDKs: caller cost, p99, delivered throughput, memory, burst.

Run from the repository root (with llmtrace's own environment)::

    python benchmarks/bench_peers.py                  # full run: 3 interleaved rounds
    python benchmarks/bench_peers.py --quick          # smoke run: 1 round, smaller N
    python benchmarks/bench_peers.py --peers llmtrace,otel --result out.json

Contenders (each peer SDK is installed by this script into a virtualenv of its own under
``--cache``, default ``~/.cache/llmtrace-bench-peers/<peer>``; none is a dependency of
llmtrace):

- ``llmtrace``: ``@llmtrace.trace``, stored in a SQLite MLflow store (this checkout, run with
  the interpreter that runs this script);
- ``otel``: raw OpenTelemetry SDK, ``TracerProvider`` + ``BatchSpanProcessor`` + the OTLP/HTTP
  exporter, a decorator around ``start_as_current_span``;
- ``traceloop``: ``Traceloop.init(api_endpoint=<sink>)`` + ``@workflow``;
- ``phoenix``: ``phoenix.otel.register(endpoint=<sink>, batch=True)`` + ``@tracer.chain``;
- ``logfire``: ``logfire.configure(send_to_logfire=False, additional_span_processors=[batch
  processor + OTLP exporter to the sink])`` + ``@logfire.instrument``;
- ``langfuse``: ``LANGFUSE_BASE_URL=<sink>`` + ``@observe``;
- ``mlflow``: ``@mlflow.trace`` with ``mlflow.set_tracking_uri("sqlite:///...")``.

The OTLP peers send to a local OTLP/HTTP sink on 127.0.0.1 run by this script (a thread of the
parent process): it accepts every request, decodes the protobuf payload and counts spans and
traces (spans per trace). llmtrace and MLflow store into SQLite; what is delivered is counted
there (rows of MLflow's ``trace_info`` and ``spans`` tables, read with ``sqlite3``). Nothing
leaves 127.0.0.1: the peers are pointed at the sink by their documented settings and their own
telemetry is switched off (``TRACELOOP_TELEMETRY=false``, ``MLFLOW_DISABLE_TELEMETRY=true``,
``DO_NOT_TRACK=1``, ...).

Each measure runs in a fresh subprocess per contender; rounds are interleaved (round 1: every
contender, round 2: every contender in another order, ...), and the median over rounds is
reported with the range. The traced function sleeps 0.2 ms, as I/O does.

- ``lat``: added µs per call over the same function undecorated, timed in the same process
  in interleaved blocks (one untraced block for every traced one), for a 1-span trace and a
  10-span trace (root -> 3 steps -> 2 sub-steps each, every function sleeps 0.2 ms). Reported:
  median added per span and p99 added per trace.
- ``lat_threads``: ``--threads`` program threads (4) call the 10-span trace function at once,
  1,200 calls in all, untraced and then traced in the same process; reported: the median
  added per span and the p99 added per trace (traced p99 minus untraced p99), which is what a
  threaded server sees when the SDK's background work competes with several request threads.
- ``tput``: 2,000 1-span traces back to back, then the SDK's flush, then wait until all are
  delivered (sink or store); traces/s = N / (first call -> last delivered).
- ``rss``: 20,000 traces with a fresh 2 KB input each, back to back (``tight``) and paced at
  1,000 traces/s (``paced``); peak RSS growth of the traced process (``ru_maxrss`` after the
  loop and a flush, minus before the loop) and, for llmtrace, the peak RSS of its export
  process (``VmHWM``).
- ``burst``: 10,000 1-span traces back to back, flush, wait; how many were delivered.

A contender that cannot be installed or configured is reported as such; the others still run.
Ratios are printed against llmtrace (peer / llmtrace; for throughput llmtrace / peer).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

PEERS: dict[str, list[str]] = {
    "llmtrace": [],  # this checkout, this interpreter
    "otel": ["opentelemetry-sdk==1.45.*", "opentelemetry-exporter-otlp-proto-http==1.45.*"],
    # traceloop-sdk leaves its OTel contrib instrumentations unpinned; pip's resolver does not
    # find a consistent set by itself (ResolutionImpossible), so the family is pinned here.
    "traceloop": [
        "traceloop-sdk==0.62.4",
        "httpx",  # imported by traceloop.sdk, not declared by it
        "opentelemetry-sdk==1.45.1",
        "opentelemetry-api==1.45.1",
        "opentelemetry-instrumentation==0.66b1",
        "opentelemetry-semantic-conventions==0.66b1",
        *(
            f"opentelemetry-instrumentation-{name}==0.66b1"
            for name in ("logging", "redis", "requests", "sqlalchemy", "threading", "urllib3")
        ),
    ],
    "phoenix": ["arize-phoenix-otel", "openinference-instrumentation"],
    "logfire": ["logfire==5.4.0"],
    "langfuse": ["langfuse==5.0.4"],
    "mlflow": ["mlflow==3.17.2"],
}
STORED = {"llmtrace", "mlflow"}  # delivered = rows in SQLite; the others: the OTLP sink

QUIET_ENV = {
    "TRACELOOP_TELEMETRY": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "MLFLOW_MODEL_CATALOG_URI": "",
    "LOGFIRE_SEND_TO_LOGFIRE": "false",
    "LOGFIRE_CONSOLE": "false",
    "PHOENIX_TELEMETRY_ENABLED": "false",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
    "OTEL_TRACES_EXPORTER": "none",  # nothing configured by environment beyond what we set
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
    "PYTHONDONTWRITEBYTECODE": "1",
}


# -- the OTLP sink (parent process) ----------------------------------------------------------
class Sink:
    """Accepts OTLP/HTTP protobuf on any path; counts spans and distinct traces."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

        self._request_type = trace_service_pb2.ExportTraceServiceRequest
        self._response = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        self.lock = threading.Lock()
        self.reset()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                ok = sink.take(self.path, body, self.headers.get("Content-Type") or "")
                payload = sink._response if ok else b"{}"
                self.send_response(200)
                kind = "application/x-protobuf" if ok else "application/json"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                payload = json.dumps(sink.counts()).encode() if self.path == "/count" else b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self) -> None:
        with self.lock:
            self.spans = 0
            self.per_trace: dict[bytes, int] = {}
            self.requests = 0
            self.other_paths: set[str] = set()

    def take(self, path: str, body: bytes, content_type: str) -> bool:
        if not path.rstrip("/").endswith("v1/traces") or "json" in content_type:
            with self.lock:
                self.other_paths.add(path)
            return False
        request = self._request_type()
        request.ParseFromString(body)
        with self.lock:
            self.requests += 1
            for rs in request.resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        self.spans += 1
                        self.per_trace[span.trace_id] = self.per_trace.get(span.trace_id, 0) + 1
        return True

    def counts(self) -> dict[str, Any]:
        with self.lock:
            hist: dict[int, int] = {}
            for n in self.per_trace.values():
                hist[n] = hist.get(n, 0) + 1
            return {
                "spans": self.spans,
                "traces": len(self.per_trace),
                "spans_per_trace": {str(k): v for k, v in sorted(hist.items())},
                "requests": self.requests,
                "other_paths": sorted(self.other_paths),
            }


# -- virtualenvs -----------------------------------------------------------------------------
def ensure_env(peer: str, cache: Path) -> tuple[str | None, str]:
    """The interpreter to run ``peer`` with, or None and why not."""
    if not PEERS[peer]:
        return sys.executable, "this checkout"
    folder = cache / peer
    marker = folder / ".installed"
    spec = " ".join(PEERS[peer])
    python = folder / "bin" / "python"
    if marker.exists() and marker.read_text().strip() == spec and python.exists():
        return str(python), _versions(str(python), peer)
    print(f"[install] {peer}: {spec} into {folder}", flush=True)
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        env = dict(os.environ)
        proc = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
            + PEERS[peer],
            capture_output=True,
            text=True,
            env=env,
            timeout=1800,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"could not create its virtualenv: {exc!r}"
    if proc.returncode != 0:
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("ERROR")]
        return None, "pip install failed: " + " / ".join(errors[:2] or [proc.stderr[-300:]])
    marker.write_text(spec + "\n")
    return str(python), _versions(str(python), peer)


def _versions(python: str, peer: str) -> str:
    names = {
        "otel": "opentelemetry-sdk",
        "traceloop": "traceloop-sdk",
        "phoenix": "arize-phoenix-otel",
        "logfire": "logfire",
        "langfuse": "langfuse",
        "mlflow": "mlflow",
    }
    code = (
        "import importlib.metadata as m, sys; "
        f"print(m.version({names[peer]!r}), m.version('opentelemetry-sdk'))"
    )
    out = subprocess.run([python, "-c", code], capture_output=True, text=True)
    parts = out.stdout.split()
    return f"{names[peer]} {parts[0]} (opentelemetry-sdk {parts[1]})" if len(parts) == 2 else "?"


# -- the child: one contender, one measure ---------------------------------------------------
CHILD = r'''
import gc, json, os, resource, sqlite3, statistics, sys, time, urllib.request

peer, measure, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sink, folder = params["sink"], params["folder"]
db = os.path.join(folder, "mlflow.db")
clock = time.perf_counter_ns


def work(x=None):
    time.sleep(0.0002)
    return 1


def setup():
    """Returns (decorate(fn, name) -> traced fn, flush(), delivered() -> (traces, spans))."""
    if peer == "llmtrace":
        import llmtrace
        llmtrace.configure(tracking_uri=f"sqlite:///{db}", experiment="bench")
        return (lambda fn, name: llmtrace.trace(name=name)(fn)), lambda: llmtrace.flush(600), stored
    if peer == "mlflow":
        import mlflow
        mlflow.set_tracking_uri(f"sqlite:///{db}")
        mlflow.set_experiment("bench")
        flush = mlflow.flush_trace_async_logging
        return (lambda fn, name: mlflow.trace(name=name)(fn)), flush, stored
    endpoint = sink + "/v1/traces"
    if peer == "otel":
        import functools
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        tracer = provider.get_tracer("bench")

        def decorate(fn, name):
            @functools.wraps(fn)
            def wrapper(*a, **k):
                with tracer.start_as_current_span(name):
                    return fn(*a, **k)
            return wrapper
        return decorate, provider.force_flush, received
    if peer == "traceloop":
        from opentelemetry import trace
        from traceloop.sdk import Traceloop
        from traceloop.sdk.decorators import workflow
        Traceloop.init(app_name="bench", api_endpoint=sink, disable_batch=False,
                       telemetry_enabled=False)
        flush = trace.get_tracer_provider().force_flush
        return (lambda fn, name: workflow(name=name)(fn)), flush, received
    if peer == "phoenix":
        from phoenix.otel import register
        provider = register(endpoint=endpoint, protocol="http/protobuf", batch=True,
                            project_name="bench", verbose=False, set_global_tracer_provider=False)
        tracer = provider.get_tracer("bench")
        return (lambda fn, name: tracer.chain(name=name)(fn)), provider.force_flush, received
    if peer == "logfire":
        import logfire
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        logfire.configure(send_to_logfire=False, console=False, service_name="bench",
                          additional_span_processors=[BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint))])
        return (lambda fn, name: logfire.instrument(name)(fn)), logfire.force_flush, received
    if peer == "langfuse":
        os.environ.update(LANGFUSE_PUBLIC_KEY="pk-lf-bench", LANGFUSE_SECRET_KEY="sk-lf-bench",
                          LANGFUSE_BASE_URL=sink, LANGFUSE_HOST=sink)
        from langfuse import get_client, observe
        client = get_client()
        return (lambda fn, name: observe(name=name)(fn)), client.flush, received
    raise SystemExit(f"unknown peer {peer}")


def received():
    with urllib.request.urlopen(sink + "/count", timeout=10) as r:
        c = json.loads(r.read())
    return c["traces"], c["spans"]


def stored():
    if not os.path.exists(db):
        return 0, 0
    con = sqlite3.connect(db, timeout=30)
    try:
        traces = con.execute("select count(*) from trace_info where status = 'OK'").fetchone()[0]
        spans = con.execute("select count(*) from spans").fetchone()[0]
    except sqlite3.OperationalError:
        return 0, 0
    finally:
        con.close()
    return traces, spans


decorate, flush, delivered = setup()


def shape(spans, traced):
    """A traced (or plain) 1-span or 10-span trace function."""
    wrap = decorate if traced else (lambda fn, name: fn)
    if spans == 1:
        return wrap(work, "root")
    sub = wrap(lambda: work(), "sub")

    def step_fn():
        work(); sub(); sub()
    step = wrap(step_fn, "step")

    def root_fn(x=None):
        work(); step(); step(); step()
    return wrap(root_fn, "root")


def wait_delivered(n_traces, timeout):
    t_end = time.monotonic() + timeout
    last, stable_since = None, time.monotonic()
    while time.monotonic() < t_end:
        got = delivered()
        if got[0] >= n_traces:
            return got, time.perf_counter()
        if got != last:
            last, stable_since = got, time.monotonic()
        elif time.monotonic() - stable_since > params.get("stall_s", 30):
            break  # nothing new for a while: the rest was lost
        time.sleep(0.005)
    return delivered(), time.perf_counter()


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_hwm_mb():
    me, total = os.getpid(), 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            if ppid != me:
                continue
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1]) / 1024
        except (OSError, ValueError, IndexError):
            pass
    return total


out = {"peer": peer, "measure": measure}
WARM = 20
warm = shape(1, True)
for _ in range(WARM):
    warm()
flush()
wait_delivered(WARM, 120)  # imports, connections, tables: not timed

if measure == "lat":
    for spans in (1, 10):
        traced, plain = shape(spans, True), shape(spans, False)
        n, block = params["lat_calls"][str(spans)], params["block"]
        for _ in range(block):  # warm this shape
            traced(); plain()
        base, added = [], []
        while len(added) < n:
            t = []
            for _ in range(block):
                t0 = clock(); plain(); t.append(clock() - t0)
            base.extend(t)
            mid = statistics.median(t)
            for _ in range(block):
                t0 = clock(); traced(); added.append(clock() - t0 - mid)
        added.sort()
        med = added[len(added) // 2] / 1000
        out[f"lat{spans}"] = {
            "calls": len(added),
            "added_median_us": med,
            "added_per_span_us": med / spans,
            "added_p99_us": added[int(len(added) * 0.99)] / 1000,
            "baseline_median_us": statistics.median(base) / 1000,
        }
elif measure == "lat_threads":
    import threading
    n_threads = params["threads"]
    per = params["threads_calls"] // n_threads
    out["lat_threads"] = {"threads": n_threads, "calls": per * n_threads}
    for traced_flag in (False, True):  # the same threads untraced first: the baseline
        fn = shape(10, traced_flag)
        for _ in range(20):
            fn()
        times, lock = [], threading.Lock()

        def run():
            mine = []
            for _ in range(per):
                t0 = clock(); fn(); mine.append(clock() - t0)
            with lock:
                times.extend(mine)
        threads = [threading.Thread(target=run) for _ in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        times.sort()
        kind = "traced" if traced_flag else "plain"
        out["lat_threads"][f"{kind}_median_us"] = times[len(times) // 2] / 1000
        out["lat_threads"][f"{kind}_p99_us"] = times[int(len(times) * 0.99)] / 1000
    lt = out["lat_threads"]
    lt["added_per_span_us"] = (lt["traced_median_us"] - lt["plain_median_us"]) / 10
    lt["added_p99_us"] = lt["traced_p99_us"] - lt["plain_p99_us"]
    flush()
elif measure == "tput":
    n = params["tput_n"]
    fn = shape(1, True)
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    issued = time.perf_counter() - t0
    flush()
    got, t1 = wait_delivered(n + WARM, params["timeout"])
    out["tput"] = {"n": n, "delivered_traces": got[0] - WARM, "delivered_spans": got[1] - WARM,
                   "seconds": t1 - t0, "traces_per_s": (got[0] - WARM) / (t1 - t0),
                   "issued_per_s": n / issued}
elif measure in ("rss", "rss_paced"):
    n = params["rss_n"]
    fn = shape(1, True)
    gc.collect()
    before = rss_mb()
    t0 = time.perf_counter()
    for i in range(n):
        fn(f"{i:08d}" + "x" * 2040)
        if measure == "rss_paced":
            d = t0 + (i + 1) / 1000 - time.perf_counter()
            if d > 0:
                time.sleep(d)
    loop_s = time.perf_counter() - t0
    peak_loop = rss_mb()
    flush()
    got, _ = wait_delivered(n + WARM, params["timeout"])
    out[measure] = {"n": n, "rate": n / loop_s, "rss_before_mb": before,
                    "growth_in_loop_mb": peak_loop - before, "growth_mb": rss_mb() - before,
                    "delivered_traces": got[0] - WARM, "export_process_hwm_mb": children_hwm_mb()}
elif measure == "burst":
    n = params["burst_n"]
    fn = shape(1, True)
    for _ in range(n):
        fn()
    flush()
    got, _ = wait_delivered(n + WARM, params["timeout"])
    out["burst"] = {"n": n, "delivered_traces": got[0] - WARM, "delivered_spans": got[1] - WARM}
if peer == "llmtrace":
    s = __import__("llmtrace").stats()
    keys = ("enqueued", "exported", "dropped", "failed", "queued")
    out["stats"] = {k: getattr(s, k) for k in keys}
print("RESULT " + json.dumps(out), flush=True)
sys.stdout.flush()
os._exit(0)
'''


def run_child(
    peer: str, python: str, measure: str, params: dict[str, Any], sink: Sink
) -> dict[str, Any]:
    sink.reset()
    with tempfile.TemporaryDirectory(prefix=f"peers-{peer}-") as folder:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMTRACE_"))}
        env.update(QUIET_ENV)
        if peer == "llmtrace":
            env["PYTHONPATH"] = str(ROOT)
        else:
            env.pop("PYTHONPATH", None)
        p = {**params, "sink": sink.url, "folder": folder}
        try:
            proc = subprocess.run(
                [python, "-c", CHILD, peer, measure, json.dumps(p)],
                cwd=folder,
                env=env,
                capture_output=True,
                text=True,
                timeout=params["timeout"] * 3 + 600,
            )
        except subprocess.TimeoutExpired:
            return {"error": "timed out"}
        for line in proc.stdout.splitlines():
            if line.startswith("RESULT "):
                result = json.loads(line[7:])
                result["sink"] = sink.counts() if peer not in STORED else None
                return result
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# -- report ----------------------------------------------------------------------------------
ROWS = [
    ("added µs per span, 1-span, median", "lat", ("lat1", "added_per_span_us"), "low"),
    ("added µs, 1-span, p99", "lat", ("lat1", "added_p99_us"), "low"),
    ("added µs per span, 10-span, median", "lat", ("lat10", "added_per_span_us"), "low"),
    ("added µs, 10-span trace, p99", "lat", ("lat10", "added_p99_us"), "low"),
    ("added µs per span, 10-span, median, N threads", "lat_threads",
     ("lat_threads", "added_per_span_us"), "low"),
    ("added µs, 10-span trace, p99, N threads", "lat_threads", ("lat_threads", "added_p99_us"),
     "low"),
    ("traces/s until delivered (2,000 1-span)", "tput", ("tput", "traces_per_s"), "high"),
    ("RSS growth MB, 20,000 x 2 KB, tight", "rss", ("rss", "growth_mb"), "low"),
    ("RSS growth MB, 20,000 x 2 KB, 1,000/s", "rss_paced", ("rss_paced", "growth_mb"), "low"),
    ("burst of 10,000: delivered", "burst", ("burst", "delivered_traces"), "high"),
]


def cell(values: list[float]) -> str:
    if not values:
        return "—"
    med = statistics.median(values)
    fmt = (lambda v: f"{v:,.0f}") if med >= 100 else (lambda v: f"{v:,.1f}")
    if len(values) == 1 or min(values) == max(values):
        return fmt(med)
    return f"{fmt(med)} ({fmt(min(values))}-{fmt(max(values))})"


def summarize(results: dict[str, dict[str, list[dict[str, Any]]]], peers: list[str]) -> str:
    head = "| measure | " + " | ".join(peers) + " |"
    lines = [head, "|---" * (len(peers) + 1) + "|"]
    medians: dict[tuple[str, str], float] = {}
    threads = {
        r["lat_threads"]["threads"]
        for by in results.values()
        for r in by.get("lat_threads", [])
        if "lat_threads" in r
    }
    n_threads = ",".join(str(t) for t in sorted(threads)) or "N"
    rows = [(label.replace("N threads", f"{n_threads} threads"), *rest) for label, *rest in ROWS]
    for label, measure, (key, field), _ in rows:
        cells = []
        for peer in peers:
            vals = [r[key][field] for r in results.get(peer, {}).get(measure, []) if key in r]
            if vals:
                medians[(label, peer)] = statistics.median(vals)
            errs = [r["error"] for r in results.get(peer, {}).get(measure, []) if "error" in r]
            cells.append(cell(vals) if vals else ("error" if errs else "—"))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    # ratios vs llmtrace
    if "llmtrace" in peers:
        lines += [
            "",
            "| ratio (peer / llmtrace; throughput and burst: llmtrace / peer) | "
            + " | ".join(peers)
            + " |",
            "|---" * (len(peers) + 1) + "|",
        ]
        for label, _, _, better in rows:
            ref = medians.get((label, "llmtrace"))
            cells = []
            for peer in peers:
                v = medians.get((label, peer))
                if ref is None or v is None or v == 0 or ref == 0:
                    cells.append("—")
                else:
                    cells.append(f"{(v / ref if better == 'low' else ref / v):.2f}x")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 round, smaller N")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated contenders")
    parser.add_argument(
        "--measures",
        default="lat,lat_threads,tput,rss,rss_paced,burst",
        help="comma-separated measures",
    )
    parser.add_argument(
        "--threads", type=int, default=4, help="program threads of the lat_threads measure"
    )
    cache = Path.home() / ".cache" / "llmtrace-bench-peers"
    parser.add_argument("--cache", type=Path, default=cache)
    parser.add_argument("--result", type=Path, default=None, help="write all results as JSON")
    args = parser.parse_args()
    peers = [p for p in args.peers.split(",") if p]
    for p in peers:
        if p not in PEERS:
            raise SystemExit(f"unknown contender {p!r}: choose from {', '.join(PEERS)}")
    measures = [m for m in args.measures.split(",") if m]
    rounds = args.rounds or (1 if args.quick else 3)
    q = args.quick
    params = {
        "lat_calls": {"1": 600 if q else 3000, "10": 200 if q else 1000},
        "block": 50 if q else 100,
        "threads": args.threads,
        "threads_calls": 400 if q else 1200,
        "tput_n": 500 if q else 2000,
        "rss_n": 5000 if q else 20000,
        "burst_n": 2000 if q else 10000,
        "timeout": 300 if q else 900,
        "stall_s": 20 if q else 60,
    }
    args.cache.mkdir(parents=True, exist_ok=True)
    pythons: dict[str, str] = {}
    info: dict[str, str] = {}
    for peer in peers:
        python, why = ensure_env(peer, args.cache)
        info[peer] = why
        if python is None:
            print(f"[skip] {peer}: {why}", flush=True)
        else:
            pythons[peer] = python
            print(f"[ok] {peer}: {why}", flush=True)
    sink = Sink()
    results: dict[str, dict[str, list[dict[str, Any]]]] = {p: {} for p in pythons}
    loads: list[str] = []
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    order = list(pythons)
    for r in range(rounds):
        for measure in measures:
            run_order = order[r % len(order) :] + order[: r % len(order)]
            for peer in run_order:
                loads.append(load())
                t0 = time.monotonic()
                res = run_child(peer, pythons[peer], measure, params, sink)
                res["load_before"] = loads[-1]
                results[peer].setdefault(measure, []).append(res)
                keys = (*(k for _, _, (k, _), _ in ROWS), "stats")
                brief = res.get("error") or json.dumps({k: res[k] for k in keys if k in res})
                took = time.monotonic() - t0
                tag = f"[round {r + 1} {measure} {peer} {took:.0f}s load {loads[-1]}]"
                print(tag, brief, flush=True)
    shown = [p for p in peers if p in pythons]
    table = summarize(results, shown)
    print()
    seen = f"{loads[0]} .. {loads[-1]}" if loads else "?"
    mode = "--quick " if q else ""
    print(f"bench_peers {mode}started {started}, {rounds} round(s); load averages: {seen}")
    for peer in peers:
        print(f"  {peer}: {info[peer]}")
    print()
    print(table)
    if args.result:
        args.result.write_text(
            json.dumps(
                {
                    "started": started,
                    "quick": q,
                    "rounds": rounds,
                    "params": params,
                    "contenders": info,
                    "loads": loads,
                    "results": results,
                    "table": table,
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
