"""`llmtrace monitor` and `llmtrace report` on stores of 10,000 and 100,000 traces.

Each store holds agent traces over the last 7 days (root AGENT span with session and user, a
CHAT_MODEL child with model, tokens and cost, a TOOL child on every other trace, ~5% errors),
written by llmtrace's `MlflowSpanExporter` (bulk SQL path). Timed, in the same run:

- monitor ``--by span`` and ``--by user`` (`summarise`) and the whole report (`collect` +
  `render_html`), on the read-only SQLite path;
- the same figures through MLflow's client (`MlflowClient.search_traces`, which
  `mlflow.search_traces` wraps; the fallback path of `_monitor_client`), and, for reference,
  `mlflow.search_traces` itself returning the traces as a DataFrame (no figures computed);
- every pair is checked to give the same totals.

Usage:
    python benchmarks/bench_monitor.py --sizes 10000 100000 --json benchmarks/results_monitor.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import llmtrace
from llmtrace.views._monitor import summarise
from llmtrace.views._report import collect, render_html
from llmtrace.views._store import Store
from tests.views.monitor_store import T0_MS, Call, spans_of

DAY_MS = 86_400_000


def build(uri: str, n: int, now_ms: int) -> float:
    """Write ``n`` traces spread over the 7 days before ``now_ms``; returns the seconds taken."""
    rng = random.Random(n)
    exporter = llmtrace.MlflowSpanExporter(uri, "bench")
    start = time.perf_counter()
    batch = []
    for i in range(1, n + 1):
        at = now_ms - rng.randrange(7 * DAY_MS) - T0_MS
        call = Call(
            at, rng.randrange(50, 3000), error=rng.random() < 0.05,
            session=f"s{rng.randrange(n // 5 + 1)}", user=f"user{rng.randrange(50)}",
            model=rng.choice(["gpt-4o-mini", "gpt-4o", "o3-mini"]), tokens=rng.randrange(50, 2000),
            cost=rng.randrange(1, 100) / 10_000, chat_error=rng.random() < 0.02,
            tool="search" if i % 2 else None, tool_ms=rng.randrange(5, 400),
            tool_error=rng.random() < 0.03,
        )  # fmt: skip
        batch.extend(spans_of(call, i))
        if len(batch) >= 3000:
            exporter.export(batch)
            batch = []
    if batch:
        exporter.export(batch)
    exporter.shutdown()
    return time.perf_counter() - start


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def same(a: Any, b: Any) -> bool:
    ta, tb = a.total, b.total
    return (ta.count, ta.errors, ta.p50_ms, ta.p95_ms, ta.p99_ms, ta.tokens) == (
        tb.count, tb.errors, tb.p50_ms, tb.p95_ms, tb.p99_ms, tb.tokens,
    ) and abs(ta.cost_usd - tb.cost_usd) < 1e-6 and len(a.groups) == len(b.groups)  # fmt: skip


def run(n: int, folder: Path, client_max: int) -> dict[str, Any]:
    uri = f"sqlite:///{folder / f'bench_{n}.db'}"
    now_ms = int(time.time() * 1000)
    write_s = build(uri, n, now_ms)
    store = Store(uri, "bench")
    out: dict[str, Any] = {"traces": n, "write_s": round(write_s, 2)}
    window = {"since": "7d", "until_ms": now_ms + 1}
    for by in ("span", "user"):
        seconds, sql = timed(lambda by=by: summarise(store, by=by, use_sql=True, **window))
        out[f"monitor_{by}_sql_s"] = round(seconds, 3)
        assert sql.total.count == n
        if n <= client_max or by == "user":  # trace-level figures: the client is timed always
            seconds, client = timed(
                lambda by=by: summarise(Store(uri, "bench"), by=by, use_sql=False, **window)
            )
            out[f"monitor_{by}_client_s"] = round(seconds, 3)
            out[f"monitor_{by}_same"] = same(sql, client)
    seconds, page = timed(lambda: render_html(collect(store, use_sql=True, **window)))
    out["report_sql_s"] = round(seconds, 3)
    out["report_bytes"] = len(page)
    if n <= client_max:
        seconds, data = timed(lambda: collect(Store(uri, "bench"), use_sql=False, **window))
        out["report_client_s"] = round(seconds, 3)
        out["report_same"] = same(collect(store, use_sql=True, **window).over_time, data.over_time)
    import mlflow

    mlflow.set_tracking_uri(uri)
    exp = mlflow.get_experiment_by_name("bench").experiment_id
    seconds, frame = timed(
        lambda: mlflow.search_traces(locations=[exp], max_results=n + 10, include_spans=False)
    )
    out["mlflow_search_traces_df_no_spans_s"] = round(seconds, 3)
    assert len(frame) == n
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument(
        "--client-max",
        type=int,
        default=10_000,
        help="Largest store whose span figures and report are timed via the client too.",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for n in args.sizes:
            result = run(n, Path(folder), args.client_max)
            print(json.dumps(result), flush=True)
            results.append(result)
    meta = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parents[1],
        ).stdout.strip(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_avg": os.getloadavg(),
    }
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
