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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

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
