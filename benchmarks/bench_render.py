"""How long `llmtrace traces show` takes to render traces of 100, 1,000 and 5,000 spans.

Run from the repository root::

    python benchmarks/bench_render.py                   # 100, 1,000, 5,000 spans
    python benchmarks/bench_render.py --sizes 100 --repeat 3

Each trace is made by llmtrace itself into a SQLite store in a temp folder: a root AGENT span,
then steps (CHAIN) of 9 children alternating an LLM call (chat messages, token usage, cost,
recorded as `llmtrace.openai` does), a RETRIEVER (3 scored documents) and a TOOL call, with
inputs and outputs on every span; every 50th tool call fails. Then, for each size, the median
of ``--repeat`` runs of each stage, all in this process after one untimed warm-up:

- ``fetch``: `MlflowClient.get_trace` from SQLite (MLflow's own read and span decoding);
- ``model``: the MLflow trace turned into llmtrace's view tree (`views._model.build`);
- ``terminal``: the tree rendered and printed on a 120-column rich console into a buffer, as
  ``traces show`` does by default (repeated siblings collapsed) -- the < 1 s target;
- ``terminal --collapse 0``: every span printed;
- ``html``: the self-contained HTML page (`traces export --html`), and its size.

Finally ``cli``: the wall time of one ``llmtrace traces show ID`` in a fresh process (Python
start, imports, read, render), for the largest size.

``--part views`` (also part of the default ``all``) times the view commands as whole CLI
processes on stores of ``--stores`` traces (default 100, 10,000, 100,000), against MLflow's own
route on the same store in the same run::

    python benchmarks/bench_render.py --part views --stores 100 10000 100000

Each store is a real MLflow SQLite store: 8 template turns traced by llmtrace (session, user,
a RETRIEVER with documents, an LLM call with messages, tokens and cost, a TOOL call, every 4th
failing), then copied row for row through MLflow's schema (new trace ids in every row and span
document, older start times, sessions of 4 turns) until the store holds the size asked for.
Wall time, median of ``--repeat`` runs after one untimed run, of:

- ``llmtrace traces list`` (20 newest), ``llmtrace traces show ID``, ``llmtrace sessions list``;
- MLflow: ``mlflow traces search --max-results 20``, ``mlflow traces get --trace-id ID``, and
  a ``mlflow.search_traces`` script reading what ``sessions list`` reads (up to 2,000 traces
  with a session).

CPU time (user + system of the process) is recorded too: it varies less on a shared machine.

Prints a table, then the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from io import StringIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_trace(spans: int) -> str:
    """Trace ``spans`` spans through llmtrace (configured already); returns the trace id."""
    import llmtrace
    from llmtrace import _semconv as sc
    from llmtrace.openai._request import chat_input_messages
    from llmtrace.openai._response import chat_output_messages, record_usage

    made = 1
    call = 0
    with llmtrace.span("agent", kind="AGENT", inputs={"task": "benchmark"}) as root:
        while made < spans:
            with llmtrace.span("step", kind="CHAIN", inputs={"step": made}) as step:
                made += 1
                for i in range(9):
                    if made >= spans:
                        break
                    made += 1
                    call += 1
                    if i % 3 == 0:
                        with llmtrace.span("chat gpt-4o-mini", kind="LLM") as llm:
                            messages = [
                                {"role": "system", "content": "You are a helpful agent."},
                                {"role": "user", "content": f"What is step {call}?"},
                            ]
                            result = {
                                "model": "gpt-4o-mini",
                                "choices": [
                                    {
                                        "message": {
                                            "role": "assistant",
                                            "content": f"Step {call} is fine.",
                                        }
                                    }
                                ],
                            }
                            llm.set_inputs({"model": "gpt-4o-mini", "messages": messages})
                            llm.set_attribute(
                                sc.GEN_AI_INPUT_MESSAGES, chat_input_messages(messages)
                            )
                            llm.set_outputs(result)
                            llm.set_attribute(
                                sc.GEN_AI_OUTPUT_MESSAGES, chat_output_messages(result)
                            )
                            usage = {"input_tokens": 40, "output_tokens": 10, "total_tokens": 50}
                            record_usage(llm, usage, ("gpt-4o-mini",))  # type: ignore[arg-type]
                    elif i % 3 == 1:
                        with llmtrace.span("retrieve", kind="RETRIEVER") as ret:
                            ret.set_inputs({"query": f"step {call}"})
                            ret.set_outputs(
                                [
                                    {"content": f"Document {k} about step {call}.", "score": 0.9}
                                    for k in range(3)
                                ]
                            )
                    else:
                        try:
                            with llmtrace.span("tool", kind="TOOL") as tool:
                                tool.set_inputs({"call": call})
                                if call % 50 == 0:
                                    raise TimeoutError(f"tool call {call} timed out")
                                tool.set_outputs({"ok": True, "call": call})
                        except TimeoutError:
                            pass
                step.set_outputs("done")
        trace_id = root.trace_id
    assert trace_id is not None
    return trace_id


def _median(fn: Any, repeat: int) -> tuple[float, Any]:
    fn()  # warm-up: imports, caches
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def measure(uri: str, trace_id: str, repeat: int) -> dict[str, Any]:
    from mlflow.tracking import MlflowClient
    from rich.console import Console

    from llmtrace.views._html import html_document
    from llmtrace.views._lines import Lines
    from llmtrace.views._model import build
    from llmtrace.views._terminal import TreeOptions, tree_lines

    client = MlflowClient(tracking_uri=uri)
    fetch_s, trace = _median(lambda: client.get_trace(trace_id, display=False), repeat)
    model_s, view = _median(lambda: build(trace), repeat)

    def terminal(collapse: int) -> int:
        buffer = StringIO()
        console = Console(file=buffer, width=120, force_terminal=True, color_system="truecolor")
        console.print(Lines(tree_lines(view, 120, TreeOptions(collapse=collapse))))
        return buffer.getvalue().count("\n")

    term_s, lines = _median(lambda: terminal(5), repeat)
    full_s, full_lines = _median(lambda: terminal(0), repeat)
    html_s, page = _median(lambda: html_document(view), repeat)
    return {
        "spans": len(trace.data.spans),
        "fetch_s": fetch_s,
        "model_s": model_s,
        "terminal_s": term_s,
        "terminal_lines": lines,
        "show_total_s": fetch_s + model_s + term_s,
        "terminal_all_s": full_s,
        "terminal_all_lines": full_lines,
        "html_s": html_s,
        "html_bytes": len(page.encode()),
    }


def cli_wall(uri: str, trace_id: str) -> float:
    exe = Path(sys.executable).parent / "llmtrace"
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "llmtrace.cli"]
    env = {**os.environ, "COLUMNS": "120"}
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(
            [*command, "traces", "show", trace_id, "--tracking-uri", uri],
            check=True,
            stdout=subprocess.DEVNULL,
            env=env,
        )
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def make_turns(count: int) -> None:
    """``count`` chat turns traced by llmtrace (configured already), as an app makes them."""
    import llmtrace
    from llmtrace import _semconv as sc
    from llmtrace.openai._request import chat_input_messages
    from llmtrace.openai._response import chat_output_messages, record_usage

    for i in range(count):
        with llmtrace.session(f"conv-{i // 4}", user=f"user-{i % 3}"):
            try:
                with llmtrace.span("chat_turn", kind="AGENT", inputs={"text": f"Q{i}?"}) as root:
                    with llmtrace.span(
                        "retrieve", kind="RETRIEVER", inputs={"query": f"Q{i}"}
                    ) as r:
                        r.set_outputs(
                            [{"content": f"Doc {k} for {i}.", "score": 0.8} for k in range(3)]
                        )
                    with llmtrace.span("chat gpt-4o-mini", kind="LLM") as llm:
                        messages = [
                            {"role": "system", "content": "You answer questions."},
                            {"role": "user", "content": f"Q{i}?"},
                        ]
                        result = {
                            "model": "gpt-4o-mini",
                            "choices": [{"message": {"role": "assistant", "content": f"A{i}."}}],
                        }
                        llm.set_inputs({"model": "gpt-4o-mini", "messages": messages})
                        llm.set_attribute(sc.GEN_AI_INPUT_MESSAGES, chat_input_messages(messages))
                        llm.set_outputs(result)
                        llm.set_attribute(sc.GEN_AI_OUTPUT_MESSAGES, chat_output_messages(result))
                        usage = {"input_tokens": 40, "output_tokens": 10, "total_tokens": 50}
                        record_usage(llm, usage, ("gpt-4o-mini",))  # type: ignore[arg-type]
                    with llmtrace.span("lookup", kind="TOOL", inputs={"id": i}) as tool:
                        if i % 4 == 3:
                            raise TimeoutError("lookup timed out")
                        tool.set_outputs({"ok": True})
                    root.set_outputs(f"A{i}.")
            except TimeoutError:
                pass


def replicate(path: str, total: int) -> tuple[str, str]:
    """Copy the store's traces row for row until it holds ``total``; (experiment id, a copy)."""
    import base64
    import secrets
    import sqlite3

    conn = sqlite3.connect(path)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(trace_info)")]
    templates = conn.execute(
        f"SELECT {', '.join(columns)} FROM trace_info ORDER BY timestamp_ms"
    ).fetchall()
    experiment_id = str(templates[0][columns.index("experiment_id")])
    idx = {c: columns.index(c) for c in ("request_id", "timestamp_ms", "session_id")}
    span_columns = [r[1] for r in conn.execute("PRAGMA table_info(spans)")]  # not generated ones
    children = {}
    for row in templates:
        tid = row[idx["request_id"]]
        children[tid] = (
            conn.execute("SELECT key, value FROM trace_tags WHERE request_id=?", (tid,)).fetchall(),
            conn.execute(
                "SELECT key, value FROM trace_request_metadata WHERE request_id=?", (tid,)
            ).fetchall(),
            conn.execute(
                f"SELECT {', '.join(span_columns)} FROM spans WHERE trace_id=?", (tid,)
            ).fetchall(),
        )
    newest = max(row[idx["timestamp_ms"]] for row in templates)
    marks = ", ".join("?" * len(columns))
    span_marks = ", ".join("?" * len(span_columns))
    copied = ""
    made = len(templates)
    while made < total:
        infos, tags, metas, spans = [], [], [], []
        for _ in range(min(5000, total - made)):
            template = templates[made % len(templates)]
            old = template[idx["request_id"]]
            raw = secrets.token_bytes(16)
            new = "tr-" + raw.hex()
            old_b64 = base64.b64encode(bytes.fromhex(old[3:])).decode()
            new_b64 = base64.b64encode(raw).decode()
            info = list(template)
            info[idx["request_id"]] = new
            info[idx["timestamp_ms"]] = newest - made * 1000
            info[idx["session_id"]] = f"conv-{made // 4}"
            infos.append(info)
            old_tags, old_meta, old_spans = children[old]
            tags += [(k, v.replace(old, new), new) for k, v in old_tags]
            metas += [(k, v, new) for k, v in old_meta]
            for span in old_spans:
                row = list(span)
                row[span_columns.index("trace_id")] = new
                content = span[span_columns.index("content")]
                row[span_columns.index("content")] = content.replace(old, new).replace(
                    old_b64, new_b64
                )
                spans.append(row)
            copied = new
            made += 1
        conn.executemany(f"INSERT INTO trace_info VALUES ({marks})", infos)
        conn.executemany("INSERT INTO trace_tags (key, value, request_id) VALUES (?, ?, ?)", tags)
        conn.executemany(
            "INSERT INTO trace_request_metadata (key, value, request_id) VALUES (?, ?, ?)", metas
        )
        conn.executemany(
            f"INSERT INTO spans ({', '.join(span_columns)}) VALUES ({span_marks})", spans
        )
        conn.commit()
    conn.close()
    return experiment_id, copied or templates[-1][idx["request_id"]]


def _wall(command: list[str], repeat: int, env: dict[str, str]) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of ``command`` as a new process."""
    import resource

    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)  # untimed
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


SEARCH_SCRIPT = """
import sys, mlflow
mlflow.set_tracking_uri(sys.argv[1])
df = mlflow.search_traces(locations=[sys.argv[2]], filter_string=sys.argv[3] or None,
                          max_results=int(sys.argv[4]), return_type="list", include_spans=False)
print(len(df))
"""


def measure_views(sizes: list[int], repeat: int) -> list[dict[str, Any]]:
    """Whole-process wall times of the view commands and MLflow's route, per store size."""
    import shutil

    import llmtrace

    folder = Path(tempfile.mkdtemp(prefix="bench-views-"))
    template = folder / "template.db"
    llmtrace.configure(
        tracking_uri=f"sqlite:///{template}", experiment="bench-views", schedule_delay_ms=20
    )
    make_turns(8)
    assert llmtrace.flush(120)
    llmtrace.shutdown()
    bin_dir = Path(sys.executable).parent
    llm = [str(bin_dir / "llmtrace")]
    mlf = [str(bin_dir / "mlflow")]
    rows = []
    for size in sizes:
        path = folder / f"store-{size}.db"
        shutil.copy(template, path)
        start = time.perf_counter()
        experiment_id, trace_id = replicate(str(path), size)
        built_s = time.perf_counter() - start
        uri = f"sqlite:///{path}"
        env = {**os.environ, "COLUMNS": "120", "MLFLOW_TRACKING_URI": uri}
        on = ["--tracking-uri", uri, "--experiment", "bench-views"]
        sessions = "metadata.`mlflow.trace.session` IS NOT NULL"
        row: dict[str, Any] = {"traces": size, "build_s": built_s}
        script = [sys.executable, "-c", SEARCH_SCRIPT, uri, experiment_id]
        commands = {
            "llmtrace_list": [*llm, "traces", "list", *on],
            "llmtrace_show": [*llm, "traces", "show", trace_id, *on],
            "llmtrace_sessions": [*llm, "sessions", "list", *on],
            "mlflow_search_cli": [
                *mlf, "traces", "search", "--experiment-id", experiment_id, "--max-results", "20"
            ],
            "mlflow_get_cli": [*mlf, "traces", "get", "--trace-id", trace_id],
            "mlflow_sessions_script": [*script, sessions, "2000"],
        }  # fmt: skip
        for name, command in commands.items():
            row[f"{name}_s"], row[f"{name}_cpu_s"] = _wall(command, repeat, env)
        row["db_mb"] = path.stat().st_size / 1e6
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def print_views(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'traces':>7}  {'list':>7}  {'show':>7}  {'sessions':>8}  "
        f"{'mlflow search':>13}  {'mlflow get':>10}  {'search_traces':>13}  "
        f"{'list x':>6}  {'show x':>6}  {'sess x':>6}"
    )
    for r in rows:
        print(
            f"{r['traces']:>7}  {r['llmtrace_list_s']:>6.2f}s  {r['llmtrace_show_s']:>6.2f}s  "
            f"{r['llmtrace_sessions_s']:>7.2f}s  {r['mlflow_search_cli_s']:>12.2f}s  "
            f"{r['mlflow_get_cli_s']:>9.2f}s  {r['mlflow_sessions_script_s']:>12.2f}s  "
            f"{r['mlflow_search_cli_s'] / r['llmtrace_list_s']:>5.1f}x  "
            f"{r['mlflow_get_cli_s'] / r['llmtrace_show_s']:>5.1f}x  "
            f"{r['mlflow_sessions_script_s'] / r['llmtrace_sessions_s']:>5.1f}x"
        )
    small, large = rows[0], rows[-1]
    print(
        f"list at {large['traces']} / at {small['traces']}: "
        f"{large['llmtrace_list_s'] / small['llmtrace_list_s']:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--stores", type=int, nargs="+", default=[100, 10_000, 100_000])
    parser.add_argument("--part", choices=["render", "views", "all"], default="all")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.part in ("views", "all"):
        rows = measure_views(args.stores, args.repeat)
        print_views(rows)
        print(json.dumps({"python": platform.python_version(), "cpus": os.cpu_count(),
                          "repeat": args.repeat, "views": rows}, indent=2))  # fmt: skip
    if args.part == "views":
        return

    import llmtrace

    folder = tempfile.mkdtemp(prefix="bench-render-")
    uri = f"sqlite:///{folder}/mlflow.db"
    llmtrace.configure(tracking_uri=uri, experiment="bench-render", schedule_delay_ms=50)
    made = {size: make_trace(size) for size in args.sizes}
    assert llmtrace.flush(600)
    stats = llmtrace.stats()
    assert stats.failed == 0 and stats.dropped == 0, stats

    results = []
    for size, trace_id in made.items():
        row = measure(uri, trace_id, args.repeat)
        row["requested_spans"] = size
        results.append(row)
    largest = made[max(made)]
    cli_s = cli_wall(uri, largest)

    header = (
        f"{'spans':>6}  {'fetch':>8}  {'model':>8}  {'terminal':>9}  {'lines':>6}  "
        f"{'show total':>10}  {'all spans':>9}  {'lines':>6}  {'html':>8}  {'html size':>10}"
    )
    print(header)
    for r in results:
        print(
            f"{r['spans']:>6}  {r['fetch_s'] * 1000:>6.1f}ms  {r['model_s'] * 1000:>6.1f}ms  "
            f"{r['terminal_s'] * 1000:>7.1f}ms  {r['terminal_lines']:>6}  "
            f"{r['show_total_s'] * 1000:>8.1f}ms  {r['terminal_all_s'] * 1000:>7.1f}ms  "
            f"{r['terminal_all_lines']:>6}  {r['html_s'] * 1000:>6.1f}ms  "
            f"{r['html_bytes'] / 1e6:>8.2f}MB"
        )
    print(f"cli: `llmtrace traces show` on {max(made)} spans, fresh process: {cli_s:.2f} s")
    print(
        json.dumps(
            {
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "repeat": args.repeat,
                "results": results,
                "cli_show_wall_s": cli_s,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
