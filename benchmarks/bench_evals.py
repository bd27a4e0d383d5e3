"""Benchmark `evals.evaluate` against `mlflow.genai.evaluate`, and the judge's concurrency/cache.

Run from the repository root (loopback only; nothing leaves the machine)::

    python benchmarks/bench_evals.py                    # full run (~10 min: MLflow is slow)
    python benchmarks/bench_evals.py --quick            # smoke run
    python benchmarks/bench_evals.py --json out.json    # also write the results
    python benchmarks/bench_evals.py --feedback         # feedback + datasets, 1,000 traces

(a) Deterministic metrics, MLflow logging included. ``evals.evaluate`` scores ``--rows``
    (10,000) rows with exact match, token F1 and ROUGE-L and logs the run to a fresh SQLite
    store (params, aggregates, the per-row table artifact); rows/s = rows / wall time of the
    ``evaluate`` call (the first large one in the process; the JSON also has the same call
    without logging, and a second logged call). Then it is checked that nothing was lost: the
    run's ``eval/rows`` metric, each metric's ``n_scored`` and the rows of the
    ``eval/rows.json`` artifact, read back with MLflow's client. ``mlflow.genai.evaluate`` gets
    the first ``--mlflow-rows`` (200) rows with three ``@scorer`` functions computing the same
    numbers (the same exact-match test, SQuAD token F1 and rouge-score's ROUGE-L), once with
    ``MLFLOW_GENAI_EVAL_MAX_WORKERS=1`` and once with its default workers; it stores a trace per
    row and one assessment per score, which are counted back
    (``mlflow.search_traces(run_id=...)``). The scores of both tools on those rows are compared
    value by value. ratio = evals rows/s / MLflow's best rows/s (target >= 1,000). Each
    contender first runs on 20 rows untimed (imports, table creation). For reference, evals also
    scores the same 200 rows from traces made by llmtrace (search, score, one assessment per
    score on each trace, traces linked to the run).
(b) A judge metric on ``--judge-rows`` (1,000) rows against a local OpenAI-compatible server in
    a separate process (this script with ``--serve``) that answers each request after
    ``--latency`` (0.1) s. The metric is `evals.criteria` with fixed evaluation steps, so one
    judge call per row; judge and evaluate both at ``--concurrency`` (8). Ideal wall time =
    calls x latency / concurrency; target: measured within 1.3x of it. Judge calls are traced
    (EVALUATOR traces into the SQLite store) and the run is logged, as by default. Before it,
    2 x concurrency other rows warm up (imports, llmtrace's export process, connections; its
    time is in the JSON). Then the same rows again with the on-disk cache: zero calls (counted
    by the judge and by the server).

Each contender runs in its own subprocess with a fresh temp folder (MLflow keeps process-global
state). The load average before and after each part is recorded: other engineers run tests on
this 2-core machine, and these are wall-time figures.
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
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODEL = "bench-judge"
VOCAB = (
    "the a of river city museum tower bridge north south old new king queen year built "
    "opened closed visitors million metres tall long wide capital population language "
    "french german spanish italian famous painting library garden park station harbour"
).split()
#: Child processes: no MLflow telemetry, no remote model catalog; loopback only.
CHILD_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_MODEL_CATALOG_URI": "",
    "NO_PROXY": "127.0.0.1,localhost",
    "PYTHONPATH": str(ROOT),
}


# -- data ------------------------------------------------------------------------------------
def make_rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """QA rows: a quarter exact answers, the rest edited copies (words dropped/replaced)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        expected = " ".join(rng.choices(VOCAB, k=rng.randint(4, 16)))
        words = expected.split()
        if i % 4:
            for _ in range(rng.randint(1, 4)):
                j = rng.randrange(len(words))
                if rng.random() < 0.5 and len(words) > 1:
                    del words[j]
                else:
                    words[j] = rng.choice(VOCAB)
        rows.append({"question": f"question {i}?", "answer": " ".join(words), "expected": expected})
    return rows


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# -- (a) evals -------------------------------------------------------------------------------
def run_evals(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from mlflow import MlflowClient

    import evals
    import llmtrace
    from evals import metrics

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    llmtrace.configure(tracking_uri=uri, experiment="bench-evals")
    rows = make_rows(args.rows)

    def chosen() -> list[Any]:
        return [metrics.exact_match(), metrics.token_f1(), metrics.rouge_l()]

    evals.evaluate(rows[:20], chosen(), run_name="warm-up", progress=False)
    start = time.perf_counter()
    result = evals.evaluate(rows, chosen(), run_name="bench", progress=False)
    wall = time.perf_counter() - start
    start = time.perf_counter()
    evals.evaluate(rows, chosen(), log_to_mlflow=False, progress=False)
    compute_only = time.perf_counter() - start
    start = time.perf_counter()  # again, logged: a process that has evaluated before
    evals.evaluate(rows, chosen(), run_name="bench-again", progress=False)
    second = time.perf_counter() - start

    client = MlflowClient(uri)
    run = client.get_run(result.run_id)
    local = client.download_artifacts(result.run_id, "eval/rows.json", str(folder))
    table = json.loads(Path(local).read_text())
    names = ("exact_match", "token_f1", "rougeL")
    scored = {n: int(run.data.metrics[f"{n}/n_scored"]) for n in names}
    errors = {n: int(run.data.metrics[f"{n}/n_errors"]) for n in names}
    head = result.table.iloc[: args.mlflow_rows]
    return {
        "rows": args.rows,
        "wall_s": wall,
        "rows_per_s": args.rows / wall,
        "compute_only_s": compute_only,
        "second_run_wall_s": second,
        "second_run_rows_per_s": args.rows / second,
        "logged_rows": int(run.data.metrics["eval/rows"]),
        "artifact_rows": len(table["data"]),
        "n_scored": scored,
        "n_errors": errors,
        "run_status": run.info.status,
        "values": {
            q: [float(head.loc[i, f"{n}/value"]) for n in names]
            for i, q in zip(head.index, head["question"], strict=True)
        },
    }


# -- (a') evals from traces ------------------------------------------------------------------
def run_evals_traces(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from mlflow import MlflowClient

    import evals
    import llmtrace
    from evals import metrics

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    llmtrace.configure(tracking_uri=uri, experiment="bench-traces")
    rows = make_rows(args.mlflow_rows + 20)
    answers = {r["question"]: r["answer"] for r in rows}
    expected = {r["question"]: r["expected"] for r in rows}

    @llmtrace.trace(kind="CHAIN")
    def app(question: str) -> str:
        return answers[question]

    def evaluate(batch: list[dict[str, Any]], name: str) -> tuple[Any, float]:
        with llmtrace.session(name):
            for r in batch:
                app(r["question"])
        start = time.perf_counter()
        found = llmtrace.search_traces(
            f"metadata.`mlflow.trace.session` = '{name}'",
            max_results=len(batch),
            return_type="pandas",
        )
        found["expected"] = [expected[req["question"]] for req in found["request"]]
        result = evals.evaluate(
            found,
            [metrics.exact_match(), metrics.token_f1(), metrics.rouge_l()],
            run_name=name,
            progress=False,
        )
        return result, time.perf_counter() - start

    evaluate(rows[:20], "warm-up")
    result, wall = evaluate(rows[20:], "bench")
    client = MlflowClient(uri)
    linked = client.search_traces(
        locations=[result.experiment_id], run_id=result.run_id, max_results=10 * len(rows)
    )
    assessments = sum(len(t.info.assessments) for t in linked)
    return {
        "rows": args.mlflow_rows,
        "wall_s": wall,
        "rows_per_s": args.mlflow_rows / wall,
        "traces_linked": len(linked),
        "assessments": assessments,
    }


# -- (a) mlflow.genai.evaluate ----------------------------------------------------------------
def run_mlflow(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    import mlflow
    from mlflow.genai.scorers import scorer
    from rouge_score.rouge_scorer import RougeScorer

    from evals.metrics._text import _f1

    rouge = RougeScorer(["rougeL"])

    @scorer
    def exact_match(outputs: str, expectations: dict[str, Any]) -> float:
        return float(outputs == expectations["expected_response"])

    @scorer
    def token_f1(outputs: str, expectations: dict[str, Any]) -> float:
        return _f1(outputs, expectations["expected_response"])

    @scorer
    def rougeL(outputs: str, expectations: dict[str, Any]) -> float:
        return float(rouge.score(expectations["expected_response"], outputs)["rougeL"].fmeasure)

    def data(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                "inputs": {"question": r["question"]},
                "outputs": r["answer"],
                "expectations": {"expected_response": r["expected"]},
            }
            for r in rows
        ]

    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    mlflow.set_experiment("bench-mlflow")
    rows = make_rows(args.mlflow_rows)
    scorers = [exact_match, token_f1, rougeL]
    mlflow.genai.evaluate(data=data(rows[:20]), scorers=scorers)  # warm-up
    start = time.perf_counter()
    result = mlflow.genai.evaluate(data=data(rows), scorers=scorers)
    wall = time.perf_counter() - start
    traces = mlflow.search_traces(
        run_id=result.run_id, max_results=10 * len(rows), return_type="list"
    )
    values: dict[str, list[float | None]] = {}
    complete = 0
    for trace in traces:
        question = trace.data.spans[0].inputs["question"] if trace.data.spans else None
        found = {
            a.name: a.value
            for a in trace.info.assessments
            if a.name in ("exact_match", "token_f1", "rougeL")
        }
        if len(found) == 3 and all(v is not None for v in found.values()):
            complete += 1
        if question is not None:
            values[question] = [found.get(n) for n in ("exact_match", "token_f1", "rougeL")]
    return {
        "workers": os.environ.get("MLFLOW_GENAI_EVAL_MAX_WORKERS", "default (10)"),
        "rows": len(rows),
        "wall_s": wall,
        "rows_per_s": len(rows) / wall,
        "traces_stored": len(traces),
        "rows_with_all_scores": complete,
        "values": values,
    }


# -- (b) judge server --------------------------------------------------------------------------
def serve(latency: float) -> None:
    """The local judge server (its own process): prints its port, answers after ``latency``."""
    from llmtrace.testing import Reply, StandIn, Usage, judge_reply

    def reply(body: dict[str, Any]) -> Reply:  # schema-valid criteria scores, a fixed usage
        return Reply(judge_reply(body), usage=Usage(prompt_tokens=200, completion_tokens=20))

    with StandIn(reply, model=MODEL, delay=latency) as server:
        print(server.port, flush=True)
        threading.Event().wait()  # until terminated


def served(url: str) -> int:
    """How many chat requests the judge server answered (its ``GET /stand-in/stats``)."""
    import urllib.request

    stats = url.removesuffix("/v1") + "/stand-in/stats"
    with urllib.request.urlopen(stats, timeout=5) as response:
        return int(json.loads(response.read())["counts"].get("chat", 0))


def run_judge(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    import evals
    import llmtrace
    import llmtrace.openai

    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--latency", str(args.latency)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **CHILD_ENV},
    )
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}/v1"
        llmtrace.configure(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}", experiment="bench")
        llmtrace.openai.set_price(MODEL, input=0.15, output=0.6)  # a price: cost is counted
        metric = evals.criteria(
            "on_topic",
            "The response answers the question asked.",
            evaluation_steps=["Read the question.", "Check the response answers it."],
            inputs=("question", "answer"),
        )
        rows = make_rows(args.judge_rows, seed=1)

        def judge() -> evals.OpenAIJudge:
            return evals.OpenAIJudge(
                MODEL,
                base_url=url,
                max_concurrency=args.concurrency,
                cache_path=folder / "judge_cache.sqlite",
            )

        def once(batch: list[dict[str, Any]]) -> tuple[float, dict[str, Any], int]:
            before = served(url)
            start = time.perf_counter()
            result = evals.evaluate(
                batch, [metric], judge=judge(), max_concurrency=args.concurrency, progress=False
            )
            wall = time.perf_counter() - start
            assert result.aggregates["on_topic"]["n_errors"] == 0, result.aggregates
            return wall, result.judge_usage, served(url) - before

        # warm-up on other rows: imports, the export process, connections (not cached below)
        warm_wall, _, _ = once(make_rows(2 * args.concurrency, seed=2))
        wall, usage, server_calls = once(rows)
        ideal = usage["calls"] * args.latency / args.concurrency
        llmtrace.flush()
        rerun_wall, rerun_usage, rerun_server_calls = once(rows)
        return {
            "rows": len(rows),
            "latency_s": args.latency,
            "concurrency": args.concurrency,
            "warm_up_rows": 2 * args.concurrency,
            "warm_up_wall_s": warm_wall,
            "wall_s": wall,
            "judge_calls": usage["calls"],
            "server_requests": server_calls,
            "ideal_s": ideal,
            "ratio_to_ideal": wall / ideal,
            "cost_usd": usage.get("cost_usd"),
            "rerun_wall_s": rerun_wall,
            "rerun_judge_calls": rerun_usage["calls"],
            "rerun_cached_calls": rerun_usage["cached_calls"],
            "rerun_server_requests": rerun_server_calls,
        }
    finally:
        server.terminate()
        server.wait(timeout=10)


# -- driver ----------------------------------------------------------------------------------
SCENARIOS = {
    "evals": run_evals,
    "evals-traces": run_evals_traces,
    "mlflow": run_mlflow,
    "judge": run_judge,
}


def child(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-evals-") as tmp:
        os.chdir(tmp)
        result = SCENARIOS[args.only](args, Path(tmp))
    Path(args.result).write_text(json.dumps(result))
    sys.stdout.flush()
    os._exit(0)  # no exit-time work timed or waited for


def spawn(args: argparse.Namespace, name: str, extra_env: dict[str, str]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    argv = [sys.executable, __file__, "--only", name, "--result", str(out)]
    for flag in ("rows", "mlflow_rows", "judge_rows", "latency", "concurrency"):
        argv += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    load_before = load()
    start = time.perf_counter()
    done = subprocess.run(
        argv,
        env={**os.environ, **CHILD_ENV, **extra_env},
        capture_output=True,
        text=True,
        timeout=args.timeout,
    )
    if done.returncode != 0 or not out.read_text():
        raise RuntimeError(f"{name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    out.unlink()
    result["process_wall_s"] = time.perf_counter() - start
    result["load_before"], result["load_after"] = load_before, load()
    print(f"  {name} {extra_env or ''}: done in {result['process_wall_s']:.1f} s", flush=True)
    return result


def compare_values(ours: dict[str, list[float]], theirs: dict[str, list[Any]]) -> dict[str, int]:
    same = differ = missing = 0
    for question, values in ours.items():
        other = theirs.get(question)
        if other is None or any(v is None for v in other):
            missing += 1
        elif all(abs(a - float(b)) <= 1e-12 for a, b in zip(values, other, strict=True)):
            same += 1
        else:
            differ += 1
    return {"same": same, "differ": differ, "missing": missing}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--mlflow-rows", type=int, default=200)
    parser.add_argument("--judge-rows", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--skip-mlflow-default", action="store_true")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--json", help="write the results here too")
    parser.add_argument(
        "--feedback", action="store_true", help="only feedback + datasets (bench_feedback.py)"
    )
    parser.add_argument("--feedback-traces", type=int, default=1000)
    parser.add_argument("--only", choices=sorted(SCENARIOS), help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.latency)
    if args.only:
        return child(args)
    if args.quick:
        args.rows, args.mlflow_rows, args.judge_rows = 1000, 40, 100
    if args.feedback:  # feedback logging and dataset building: benchmarks/bench_feedback.py
        feedback = [sys.executable, str(Path(__file__).with_name("bench_feedback.py"))]
        feedback += ["--traces", str(args.feedback_traces)]
        feedback += ["--json", args.json] if args.json else []
        subprocess.run(feedback, env={**os.environ, **CHILD_ENV}, check=True)
        return None

    print(f"bench_evals: load average {load()} on {os.cpu_count()} CPUs", flush=True)
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "settings": {k: getattr(args, k) for k in ("rows", "mlflow_rows", "judge_rows")},
    }
    ours = spawn(args, "evals", {})
    from_traces = spawn(args, "evals-traces", {})
    contenders = [spawn(args, "mlflow", {"MLFLOW_GENAI_EVAL_MAX_WORKERS": "1"})]
    if not args.skip_mlflow_default:
        contenders.append(spawn(args, "mlflow", {}))
    judge = spawn(args, "judge", {})
    best = max(contenders, key=lambda c: c["rows_per_s"])
    for contender in contenders:
        contender["same_scores_as_evals"] = compare_values(ours["values"], contender["values"])
        contender.pop("values")
    ours.pop("values")
    results.update(
        evals=ours,
        mlflow=contenders,
        ratio_vs_mlflow_best=ours["rows_per_s"] / best["rows_per_s"],
        evals_from_traces=from_traces,
        judge=judge,
    )

    lost = ours["rows"] - min(
        ours["logged_rows"], ours["artifact_rows"], *ours["n_scored"].values()
    )
    print(f"\n(a) {ours['rows']:,} rows x exact match, token F1, ROUGE-L, MLflow logging included")
    print(f"{'contender':44} {'rows':>6} {'wall s':>8} {'rows/s':>10}  nothing lost?")
    print(
        f"{'evals.evaluate':44} {ours['rows']:>6} {ours['wall_s']:>8.2f} "
        f"{ours['rows_per_s']:>10.1f}  {ours['rows'] - lost}/{ours['rows']} rows scored and "
        f"logged, {sum(ours['n_errors'].values())} errors"
    )
    for c in contenders:
        label = f"mlflow.genai.evaluate, workers={c['workers']}"
        print(
            f"{label:44} {c['rows']:>6} {c['wall_s']:>8.2f} {c['rows_per_s']:>10.2f}  "
            f"{c['traces_stored']}/{c['rows']} traces stored, {c['rows_with_all_scores']} with "
            f"all 3 scores; same scores as evals: {c['same_scores_as_evals']}"
        )
    t = from_traces
    print(
        f"{'evals.evaluate from traces, feedback per score':44} {t['rows']:>6} "
        f"{t['wall_s']:>8.2f} {t['rows_per_s']:>10.2f}  {t['traces_linked']}/{t['rows']} traces "
        f"linked, {t['assessments']}/{3 * t['rows']} assessments stored"
    )
    print(
        f"ratio evals / MLflow's best: {results['ratio_vs_mlflow_best']:,.0f}x (target >= 1,000x)"
    )
    print(
        f"\n(b) {judge['rows']} rows x 1 judge metric, server latency {judge['latency_s']} s, "
        f"concurrency {judge['concurrency']}"
    )
    print(
        f"  wall {judge['wall_s']:.2f} s for {judge['judge_calls']} calls "
        f"({judge['server_requests']} reached the server); ideal {judge['ideal_s']:.2f} s; "
        f"ratio {judge['ratio_to_ideal']:.2f}x (target <= 1.3x)"
    )
    print(
        f"  rerun with cache: {judge['rerun_judge_calls']} calls "
        f"({judge['rerun_server_requests']} reached the server), "
        f"{judge['rerun_cached_calls']} from cache, wall {judge['rerun_wall_s']:.2f} s"
    )
    print("\n" + json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
