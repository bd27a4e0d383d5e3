"""Load and fault benchmark for a team setup: many writers, a server that goes away, nothing lost.

Run from the repository root (loopback only; bounded in count and time)::

    python benchmarks/bench_team.py                    # both modes below, default sizes
    python benchmarks/bench_team.py --mode postgres    # PostgreSQL-backed mlflow server + outage
    python benchmarks/bench_team.py --mode sqlite      # embedded SQLite, several writer processes
    python benchmarks/bench_team.py --quick            # small smoke run (figures mean little)

``postgres`` mode starts the team stack with the scripts in ``deploy/`` (``deploy/team.sh up``:
PostgreSQL from the OS packages in a temp folder, ``mlflow server --workers 4`` on it), then
``--procs`` client processes x ``--threads`` threads each trace ``--traces`` nested traces in
total (5 spans: CHAIN → RETRIEVER, RERANKER, LLM → TOOL; the LLM step waits ``--think-ms`` as
an API call would). ``--outage-at`` seconds after the start the server is stopped
(``deploy/mlflow-server.sh stop``), left down for ``--outage`` seconds, and started again
(``deploy/mlflow-server.sh start``, which waits for ``/health``). Clients use the on-disk spool
(``LLMTRACE_SPOOL_DIR``, one folder shared by all clients; ``--no-spool`` to compare). Each
client, after its last call, waits until its queue and its spool are empty (bounded by
``--drain-timeout``) and reports its trace ids, per-call latencies and ``llmtrace.stats()``.

``sqlite`` mode runs the same clients against one new SQLite file (no server, no outage): the
processes race to create the schema and then write at once (each through its export process).

Afterwards every trace id the clients reported is looked up with ``MlflowClient.search_traces``
and must be there with all 5 spans. Printed: traces/s sustained (traces / time from the start
until the last client had everything stored), the rate at which calls were issued, caller-visible
latency p50/p99 (whole call, and added = call minus the requested think time; split into calls
made while the server was down and the others), retries, drops, failures, spooled and replayed
spans, and the verification.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
SPANS_PER_TRACE = 5


# --- client process -------------------------------------------------------------------------
def run_client(a: argparse.Namespace) -> int:
    import llmtrace

    llmtrace.configure(
        tracking_uri=a.uri,
        experiment=a.experiment,
        spool_dir=a.spool_dir or None,
        schedule_delay_ms=100,
    )
    think = a.think_ms / 1000.0

    @llmtrace.trace(kind="RETRIEVER")
    def retrieve(q: str) -> list[dict[str, Any]]:
        return [{"content": f"passage {i} for {q}", "score": 1.0 - i / 10} for i in range(3)]

    @llmtrace.trace(kind="RERANKER")
    def rerank(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(docs, key=lambda d: -d["score"])[:2]

    @llmtrace.trace(kind="TOOL")
    def count_tokens(text: str) -> int:
        return len(text.split())

    @llmtrace.trace(kind="LLM")
    def generate(q: str, docs: list[dict[str, Any]]) -> str:
        time.sleep(think)  # the model API call
        reply = f"answer to {q} from {len(docs)} passages"
        count_tokens(reply)
        return reply

    @llmtrace.trace(kind="CHAIN")
    def handle(q: str) -> tuple[str, str]:
        reply = generate(q, rerank(retrieve(q)))
        return reply, llmtrace.current_span().trace_id

    # One warm-up trace before the clock starts, as a running service has sent before: it
    # starts the pipeline and makes the export thread import MLflow (seconds of GIL time,
    # once per process) and look the experiment up. Not counted, not verified.
    with llmtrace.span("warm-up"):
        pass
    llmtrace.flush(120)
    Path(a.ready).touch()
    while not os.path.exists(a.go):
        time.sleep(0.005)

    share = [a.traces // a.threads + (t < a.traces % a.threads) for t in range(a.threads)]
    calls: list[list[tuple[float, float, str]]] = [[] for _ in range(a.threads)]

    def worker(t: int) -> None:
        for i in range(share[t]):
            started = time.time()
            t0 = time.perf_counter()
            _, trace_id = handle(f"{a.name}-{t}-{i}")
            calls[t].append((started, time.perf_counter() - t0, trace_id))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(a.threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    issued = time.time()
    deadline = time.monotonic() + a.drain_timeout
    while time.monotonic() < deadline:  # a service keeps running: wait until all is stored
        llmtrace.flush(10)
        s = llmtrace.stats()
        if s.queued == 0 and s.spool_pending == 0:
            break
        time.sleep(0.5)
    done = time.time()
    s = llmtrace.stats()
    result = {
        "name": a.name,
        "calls": [c for per in calls for c in per],
        "issued": issued,
        "done": done,
        "stats": {k: getattr(s, k) for k in s.__dataclass_fields__},
    }
    Path(a.out).write_text(json.dumps(result))
    return 0


# --- orchestration --------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_clients(
    a: argparse.Namespace, work: Path, uri: str, experiment: str, spool: str | None
) -> tuple[list[subprocess.Popen[bytes]], list[Path], float]:
    go = work / "go"
    procs, outs = [], []
    per_proc = [a.traces // a.procs + (1 if p < a.traces % a.procs else 0) for p in range(a.procs)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_PROXY": "127.0.0.1,localhost"}
    for p in range(a.procs):
        out, ready = work / f"client{p}.json", work / f"client{p}.ready"
        argv = [
            sys.executable,
            __file__,
            "--client",
            "--name",
            f"p{p}",
            "--uri",
            uri,
            "--experiment",
            experiment,
            "--threads",
            str(a.threads),
            "--traces",
            str(per_proc[p]),
            "--think-ms",
            str(a.think_ms),
            "--go",
            str(go),
            "--ready",
            str(ready),
            "--out",
            str(out),
            "--drain-timeout",
            str(a.drain_timeout),
        ]
        if spool:
            argv += ["--spool-dir", spool]
        log = open(work / f"client{p}.log", "wb")
        procs.append(subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT))
        outs.append(out)
    deadline = time.monotonic() + 300
    while not all((work / f"client{p}.ready").exists() for p in range(a.procs)):
        if time.monotonic() > deadline or any(pr.poll() is not None for pr in procs):
            raise RuntimeError(f"clients did not start; see {work}/client*.log")
        time.sleep(0.05)
    start = time.time()
    go.touch()
    return procs, outs, start


def wait_clients(
    procs: list[subprocess.Popen[bytes]], outs: list[Path], timeout: float
) -> list[Any]:
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return [json.loads(out.read_text()) for out in outs if out.exists()]


def stored_span_counts(uri: str, experiment: str) -> dict[str, int]:
    """Span count of every trace of the experiment, read back with MLflow's client."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return {}
    counts: dict[str, int] = {}
    token = None
    while True:
        page = client.search_traces(
            locations=[found.experiment_id], max_results=500, page_token=token, include_spans=True
        )
        for trace in page:
            counts[trace.info.trace_id] = len(trace.data.spans)
        token = page.token
        if not token:
            return counts


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarize(
    label: str,
    a: argparse.Namespace,
    start: float,
    results: list[Any],
    counts: dict[str, int],
    outage: tuple[float, float] | None,
    extra: dict[str, Any],
) -> dict[str, Any]:
    calls = [c for r in results for c in r["calls"]]
    ids = [c[2] for c in calls]
    missing = [t for t in ids if t not in counts]
    incomplete = [t for t in ids if t in counts and counts[t] != SPANS_PER_TRACE]
    think = a.think_ms / 1000.0
    during = [c for c in calls if outage and outage[0] <= c[0] <= outage[1]]
    outside = [c for c in calls if not (outage and outage[0] <= c[0] <= outage[1])]
    stats = {
        k: sum(r["stats"][k] for r in results)
        for k in (
            "enqueued",
            "exported",
            "dropped",
            "failed",
            "retries",
            "spooled",
            "replayed",
            "spool_pending",
        )
    }
    done = max((r["done"] for r in results), default=start)
    issued = max((r["issued"] for r in results), default=start)
    summary = {
        "label": label,
        "procs": a.procs,
        "threads": a.threads,
        "traces_requested": a.traces,
        "traces_reported": len(ids),
        "clients_finished": len(results),
        "stored_ok": len(ids) - len(missing) - len(incomplete),
        "missing": len(missing),
        "incomplete": len(incomplete),
        "extra_in_store": len(set(counts) - set(ids)),  # the clients' warm-up traces
        "seconds_to_all_stored": done - start,
        "traces_per_s_sustained": len(ids) / (done - start) if done > start else float("nan"),
        "traces_per_s_issued": len(ids) / (issued - start) if issued > start else float("nan"),
        "latency_ms": {
            "p50": 1000 * pct([c[1] for c in calls], 0.50),
            "p99": 1000 * pct([c[1] for c in calls], 0.99),
            "added_p50": 1000 * pct([c[1] - think for c in calls], 0.50),
            "added_p99": 1000 * pct([c[1] - think for c in calls], 0.99),
            "added_p99_server_down": 1000 * pct([c[1] - think for c in during], 0.99),
            "added_p99_server_up": 1000 * pct([c[1] - think for c in outside], 0.99),
            "calls_server_down": len(during),
        },
        "stats": stats,
        **extra,
    }
    return summary


def deploy(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.monotonic()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return time.monotonic() - t0


def run_postgres(a: argparse.Namespace) -> dict[str, Any]:
    team_dir = Path(tempfile.mkdtemp(prefix="llmtrace-bench-team-"))
    os.chmod(team_dir, 0o755)  # as root, the postgres user must reach its data folder
    port = free_port()
    env = {
        **os.environ,
        "TEAM_DIR": str(team_dir),
        "PG_PORT": str(free_port()),
        "MLFLOW_PORT": str(port),
        "MLFLOW_WORKERS": str(a.workers),
        "MLFLOW": shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow",
        "PYTHON": sys.executable,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    url = f"http://127.0.0.1:{port}"
    try:
        up_s = deploy([str(DEPLOY / "team.sh"), "up"], env)
        print(f"[postgres] team stack up in {up_s:.1f} s at {url} ({a.workers} workers)")
        experiment = f"bench-team-{int(time.time())}"
        spool = None if a.no_spool else str(team_dir / "spool")
        procs, outs, start = start_clients(a, team_dir, url, experiment, spool)
        window = None
        extra: dict[str, Any] = {"spool": spool is not None, "server_workers": a.workers}
        if a.outage > 0:
            time.sleep(a.outage_at)
            down_at = time.time()
            stop_s = deploy([str(DEPLOY / "mlflow-server.sh"), "stop"], env)
            time.sleep(a.outage)  # stopped, nothing listening, for --outage seconds
            restart_s = deploy([str(DEPLOY / "mlflow-server.sh"), "start"], env)
            up_at = time.time()
            window = (down_at, up_at)
            extra["outage"] = {
                "at_s": down_at - start,
                "stop_s": stop_s,
                "stopped_s": a.outage,
                "restart_s": restart_s,
                "unreachable_s": up_at - down_at,
            }
            print(
                f"[postgres] server stop issued at +{down_at - start:.1f} s (took {stop_s:.1f} s),"
                f" down {a.outage:.0f} s, then {restart_s:.1f} s to answer /health again"
            )
        results = wait_clients(procs, outs, a.drain_timeout + 300)
        counts = stored_span_counts(url, experiment)
        if window is not None and results:
            done = max(r["done"] for r in results)
            replayed = sum(r["stats"]["replayed"] for r in results)
            extra["catch_up_traces_per_s"] = (
                replayed / SPANS_PER_TRACE / (done - window[1]) if done > window[1] else None
            )
        label = "postgres + outage" if window else "postgres, no outage"
        return summarize(label, a, start, results, counts, window, extra)
    finally:
        subprocess.run([str(DEPLOY / "team.sh"), "down"], env=env, capture_output=True, timeout=120)
        if not a.keep:
            shutil.rmtree(team_dir, ignore_errors=True)
        else:
            print(f"[postgres] kept {team_dir}")


def run_sqlite(a: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="llmtrace-bench-sqlite-"))
    try:
        uri = f"sqlite:///{work / 'team.db'}"  # new file: the writers race to create it too
        experiment = f"bench-sqlite-{int(time.time())}"
        procs, outs, start = start_clients(a, work, uri, experiment, None)
        results = wait_clients(procs, outs, a.drain_timeout + 300)
        counts = stored_span_counts(uri, experiment)
        return summarize("sqlite", a, start, results, counts, None, {})
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"[sqlite] kept {work}")


def report(s: dict[str, Any]) -> None:
    lat, st = s["latency_ms"], s["stats"]
    print(
        f"\n== {s['label']}: {s['procs']} processes x {s['threads']} threads, "
        f"{s['traces_requested']} traces of {SPANS_PER_TRACE} spans"
        + (
            f", spool {'on' if s['spool'] else 'off'}, {s['server_workers']} server workers"
            if "spool" in s
            else ""
        )
    )
    if "outage" in s:
        o = s["outage"]
        print(
            f"  outage: stop issued at +{o['at_s']:.1f} s (stopping took {o['stop_s']:.1f} s), "
            f"down {o['stopped_s']:.0f} s, restart {o['restart_s']:.1f} s: unreachable "
            f"{o['unreachable_s']:.1f} s in all"
        )
    print(
        f"  verified: {s['stored_ok']}/{s['traces_reported']} reported traces stored with "
        f"{SPANS_PER_TRACE} spans; missing {s['missing']}, incomplete {s['incomplete']}, "
        f"clients finished {s['clients_finished']}/{s['procs']}"
    )
    print(
        f"  throughput: {s['traces_per_s_sustained']:.1f} traces/s sustained "
        f"({s['seconds_to_all_stored']:.1f} s until all stored); calls issued at "
        f"{s['traces_per_s_issued']:.1f} traces/s"
    )
    if s.get("catch_up_traces_per_s"):
        rate = s["catch_up_traces_per_s"]
        print(f"    after the restart, spooled traces went in at {rate:.1f}/s")
    print(
        f"  caller latency: p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms per call; added "
        f"over the think time p50 {lat['added_p50']:.2f} ms, p99 {lat['added_p99']:.2f} ms"
    )
    if lat["calls_server_down"]:
        print(
            f"    added p99 while the server was down: {lat['added_p99_server_down']:.2f} ms "
            f"({lat['calls_server_down']} calls); otherwise {lat['added_p99_server_up']:.2f} ms"
        )
    print(
        f"  llmtrace.stats() summed: enqueued {st['enqueued']}, exported {st['exported']}, "
        f"retries {st['retries']}, dropped {st['dropped']}, failed {st['failed']}, spooled "
        f"{st['spooled']}, replayed {st['replayed']}, still spooled {st['spool_pending']}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=["postgres", "sqlite", "both"], default="both")
    parser.add_argument("--procs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--traces", type=int, default=4000, help="in total, over all clients")
    parser.add_argument("--think-ms", type=float, default=200.0, help="the LLM step's wait")
    parser.add_argument("--workers", type=int, default=4, help="mlflow server workers")
    parser.add_argument("--outage-at", type=float, default=5.0)
    parser.add_argument("--outage", type=float, default=10.0)
    parser.add_argument("--no-spool", action="store_true")
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--keep", action="store_true", help="keep the temp folders")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", help="also write the summaries here")
    # client-only arguments
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    for name in ("--name", "--uri", "--experiment", "--go", "--ready", "--out", "--spool-dir"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    a = parser.parse_args(argv)
    if a.client:
        return run_client(a)
    if a.quick:
        a.traces, a.think_ms, a.outage_at, a.outage = 400, 50.0, 1.0, 3.0
    summaries = []
    if a.mode in ("postgres", "both"):
        summaries.append(run_postgres(a))
        report(summaries[-1])
    if a.mode in ("sqlite", "both"):
        summaries.append(run_sqlite(a))
        report(summaries[-1])
    if a.json:
        Path(a.json).write_text(json.dumps(summaries, indent=2))
    ok = all(
        s["missing"] == 0
        and s["incomplete"] == 0
        and s["stats"]["dropped"] == 0
        and s["clients_finished"] == s["procs"]
        for s in summaries
    )
    print("\nRESULT:", "every reported trace stored whole, nothing dropped" if ok else "LOSSES")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
