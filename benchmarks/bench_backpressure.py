"""Backpressure: what a tight tracing loop and then big payloads do to the traced process.

Run from the repository root::

    python benchmarks/bench_backpressure.py                    # this checkout, 60 s loop
    python benchmarks/bench_backpressure.py --seconds 10       # shorter
    python benchmarks/bench_backpressure.py --before PATH      # also a checkout of an older
                                                               # commit (git worktree), same run

Each variant runs in a fresh subprocess against a SQLite store in a temp folder (llmtrace's
default pipeline: export threads plus the export process):

1. the fastest tracing loop for ``--seconds`` seconds: ``@llmtrace.trace`` on a function that
   returns at once, called back to back (llmtrace's caller is cheaper than the store is fast,
   so a backlog builds and the queue's bound decides what is dropped);
2. then 1,000 calls whose input is a fresh 2 MB string.

Reported per phase: calls, caller time per call (median and p99, µs), peak RSS of the traced
process (MB, ``ru_maxrss``), and ``llmtrace.stats()`` after the phase (enqueued, exported,
dropped, failed, queued) — then after a final flush. Printed as a table and written as JSON
(``--result``). Ratios are "after / before" when ``--before`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    import llmtrace

    seconds, folder = float(sys.argv[1]), sys.argv[2]
    llmtrace.configure(tracking_uri=f"sqlite:///{folder}/mlflow.db", experiment="bp")

    @llmtrace.trace
    def fast(i):
        return i

    @llmtrace.trace
    def big(payload):
        return len(payload)

    def rss_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def stats():
        s = llmtrace.stats()
        return {k: getattr(s, k) for k in ("enqueued", "exported", "dropped", "failed", "queued")}

    def summary(times):
        times.sort()
        n = len(times)
        median, p99 = times[n // 2] / 1000, times[int(n * 0.99)] / 1000
        return {"calls": n, "median_us": median, "p99_us": p99}

    fast(-1); llmtrace.flush(120)  # warm: imports, the export process, the schema
    out = {}
    times = []
    clock = time.perf_counter_ns
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        t0 = clock(); fast(i); times.append(clock() - t0); i += 1
    out["loop"] = {**summary(times), "rss_mb": rss_mb(), **stats()}
    times = []
    for j in range(1000):
        payload = "x" * (2 * 1024 * 1024 - 8) + f"{j:08d}"
        t0 = clock(); big(payload); times.append(clock() - t0)
        del payload
    out["big"] = {**summary(times), "rss_mb": rss_mb(), **stats()}
    t0 = time.monotonic(); flushed = llmtrace.flush(600)
    out["flush"] = {"seconds": time.monotonic() - t0, "flushed": flushed, "rss_mb": rss_mb(),
                    **stats()}
    print(json.dumps(out))
    """
)


def run(checkout: Path, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "PYTHONPATH": str(checkout)}
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(seconds), folder],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=seconds + 1800,
        )
        if proc.returncode != 0:
            raise SystemExit(f"{checkout}: child failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def table(results: dict[str, dict[str, Any]]) -> str:
    cols = ("calls", "median_us", "p99_us", "rss_mb", "enqueued", "exported", "dropped", "queued")
    lines = [f"{'variant':<8} {'phase':<6} " + " ".join(f"{c:>10}" for c in cols)]
    for name, phases in results.items():
        for phase, row in phases.items():
            cells = []
            for c in cols:
                v = row.get(c, "")
                cells.append(f"{v:>10.1f}" if isinstance(v, float) else f"{v!s:>10}")
            lines.append(f"{name:<8} {phase:<6} " + " ".join(cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--before", type=Path, help="checkout of an older commit to compare")
    parser.add_argument("--result", type=Path, default=None)
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    if args.before is not None:
        results["before"] = run(args.before.resolve(), args.seconds)
    results["after"] = run(ROOT, args.seconds)
    print(table(results))
    if "before" in results:
        for phase in ("loop", "big"):
            b, a = results["before"][phase], results["after"][phase]
            print(
                f"{phase}: peak RSS after/before {a['rss_mb'] / b['rss_mb']:.2f}x, "
                f"caller p99 after/before {a['p99_us'] / b['p99_us']:.2f}x"
            )
    if args.result:
        args.result.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
