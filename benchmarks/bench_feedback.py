"""Feedback logging and dataset building for N traces: llmtrace/evals vs MLflow one call at a time.

Run from the repository root (a fresh SQLite store in a temp folder; nothing leaves the
machine)::

    python benchmarks/bench_feedback.py                 # 1,000 traces
    python benchmarks/bench_feedback.py --traces 200    # smaller
    python benchmarks/bench_evals.py --feedback         # the same, as part of bench_evals

Setup (untimed): N traces made with llmtrace (a root span with inputs and outputs), flushed.

1. Feedback: one bool feedback per trace (with a rationale, source human).
   - ``llmtrace.log_feedback_many`` (all N in one call: one transaction on SQLite);
   - ``llmtrace.log_feedback`` one call per trace (for reference);
   - ``mlflow.log_feedback`` one call per trace (the baseline).
   Each writes a different feedback name; every one is counted back from the store with
   MLflow's client. ratio = MLflow's wall time / ``log_feedback_many``'s (target >= 10).
2. Expectations (untimed, for the datasets): ``log_expectation_many``, one per trace.
3. Dataset of all N traces with their expectations:
   - ``evals.datasets.from_traces(name=...)`` (one read, one insert of N records); its read
     step (``llmtrace.views.read_traces``: straight from the SQLite tables) is timed alone,
     and ``llmtrace.search_traces`` (MLflow's client reading the same traces) for reference;
   - ``mlflow.genai.datasets.create_dataset`` then, per trace, ``mlflow.get_trace`` and
     ``dataset.merge_records([trace])`` (the baseline).
   Both datasets are read back (record count, expectations present).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def run_feedback(n: int, folder: Path) -> dict[str, Any]:
    """The whole comparison on a fresh SQLite store in ``folder``; the figures as a dict."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import AssessmentSource

    import evals
    import llmtrace

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    llmtrace.configure(tracking_uri=uri, experiment="bench-feedback", schedule_delay_ms=20)
    mlflow.set_tracking_uri(uri)
    ids = []
    for i in range(n):
        with llmtrace.span("answer") as root:
            root.set_inputs({"question": f"question {i}?"})
            root.set_outputs(f"answer {i}")
        ids.append(root.trace_id)
    llmtrace.flush()
    # Warm-up, untimed: imports, sessions, the first statement of each path.
    warm = ids[0]
    llmtrace.log_feedback_many([{"trace_id": warm, "name": "warm", "value": True}])
    llmtrace.log_feedback(warm, "warm", True)
    mlflow.log_feedback(trace_id=warm, name="warm", value=True)

    human = AssessmentSource(source_type="HUMAN", source_id="bench")
    records = [
        {"trace_id": t, "name": "helpful_many", "value": i % 2 == 0, "rationale": f"r{i}",
         "source": "human", "source_id": "bench"}
        for i, t in enumerate(ids)
    ]  # fmt: skip
    many_s, _ = _timed(lambda: llmtrace.log_feedback_many(records))

    def one_by_one_llmtrace() -> None:
        for i, t in enumerate(ids):
            llmtrace.log_feedback(
                t, "helpful_one", i % 2 == 0, rationale=f"r{i}", source_id="bench"
            )

    def one_by_one_mlflow() -> None:
        for i, t in enumerate(ids):
            mlflow.log_feedback(
                trace_id=t, name="helpful_mlflow", value=i % 2 == 0, rationale=f"r{i}",
                source=human,
            )  # fmt: skip

    one_s, _ = _timed(one_by_one_llmtrace)
    mlflow_s, _ = _timed(one_by_one_mlflow)
    client = MlflowClient(uri)
    counts = {"helpful_many": 0, "helpful_one": 0, "helpful_mlflow": 0}
    for t in ids:
        for a in client.get_trace(t).info.assessments:
            if a.name in counts:
                counts[a.name] += 1

    llmtrace.log_expectation_many(
        [{"trace_id": t, "name": "expected_response", "value": f"answer {i}"}
         for i, t in enumerate(ids)]
    )  # fmt: skip
    ours_s, dataset = _timed(lambda: evals.datasets.from_traces(name="bench", max_results=n))
    read_s, _ = _timed(lambda: llmtrace.views.read_traces(max_results=n))  # its first step
    search_s, _ = _timed(lambda: llmtrace.search_traces(max_results=n))  # MLflow's read of it

    def mlflow_dataset() -> Any:
        ds = mlflow.genai.datasets.create_dataset(name="bench-mlflow")
        for t in ids:
            ds.merge_records([mlflow.get_trace(t)])
        return ds

    theirs_s, theirs = _timed(mlflow_dataset)
    theirs_frame = mlflow.genai.datasets.get_dataset(dataset_id=theirs.dataset_id).to_df()
    reread = evals.datasets.load("dataset:bench")
    return {
        "traces": n,
        "feedback": {
            "llmtrace_log_feedback_many_s": many_s,
            "llmtrace_log_feedback_one_by_one_s": one_s,
            "mlflow_log_feedback_one_by_one_s": mlflow_s,
            "ratio_mlflow_vs_many": mlflow_s / many_s,
            "ratio_mlflow_vs_llmtrace_one_by_one": mlflow_s / one_s,
            "stored": counts,
        },
        "dataset": {
            "evals_from_traces_s": ours_s,
            "of_which_read_traces_s": read_s,
            "mlflow_search_traces_s": search_s,
            "mlflow_merge_records_one_by_one_s": theirs_s,
            "ratio": theirs_s / ours_s,
            "evals_records": len(reread.records),
            "evals_records_with_expectations": sum(1 for r in reread.records if r["expectations"]),
            "mlflow_records": len(theirs_frame),
            "mlflow_records_with_expectations": int(
                sum(1 for e in theirs_frame["expectations"] if e)
            ),
            "evals_version": dataset.version,
        },
    }


def report(result: dict[str, Any]) -> None:
    """Print the figures as a small table."""
    f, d, n = result["feedback"], result["dataset"], result["traces"]
    stored = f["stored"]
    rows = [
        (f"feedback on {n:,} traces (SQLite)", "wall s", "stored"),
        ("  llmtrace.log_feedback_many (one call)", f["llmtrace_log_feedback_many_s"],
         f"{stored['helpful_many']}/{n}"),
        ("  llmtrace.log_feedback, one call per trace", f["llmtrace_log_feedback_one_by_one_s"],
         f"{stored['helpful_one']}/{n}"),
        ("  mlflow.log_feedback, one call per trace", f["mlflow_log_feedback_one_by_one_s"],
         f"{stored['helpful_mlflow']}/{n}"),
        (f"dataset of {n:,} traces + expectations", "wall s", "records (with expectations)"),
        ("  evals.datasets.from_traces", d["evals_from_traces_s"],
         f"{d['evals_records']} ({d['evals_records_with_expectations']})"),
        ("  mlflow get_trace + merge_records per trace", d["mlflow_merge_records_one_by_one_s"],
         f"{d['mlflow_records']} ({d['mlflow_records_with_expectations']})"),
    ]  # fmt: skip
    for label, wall, what in rows:
        wall_text = f"{wall:8.2f}" if isinstance(wall, float) else f"{wall:>8}"
        print(f"{label:46} {wall_text}   {what}")
    print(f"ratio MLflow / log_feedback_many: {f['ratio_mlflow_vs_many']:.1f}x (target >= 10x)")
    print(f"ratio MLflow / from_traces: {d['ratio']:.1f}x (target >= 10x); its read alone: "
          f"{d['of_which_read_traces_s']:.2f} s (llmtrace.search_traces, through MLflow: "
          f"{d['mlflow_search_traces_s']:.2f} s)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traces", type=int, default=1000)
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    print(f"bench_feedback: load average {os.getloadavg()} on {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-feedback-") as tmp:
        os.chdir(tmp)
        result = run_feedback(args.traces, Path(tmp))
    result["load_after"] = os.getloadavg()
    report(result)
    print("\n" + json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
