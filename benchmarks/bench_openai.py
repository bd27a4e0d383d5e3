"""Overhead of llmtrace's OpenAI wrapper per call, against no tracing and mlflow.openai.autolog.

Run from the repository root::

    python benchmarks/bench_openai.py            # 2,000 calls per contender and mode
    python benchmarks/bench_openai.py --quick    # 300 calls

The OpenAI endpoint is mocked with respx (the client gets ``http_client=httpx.Client()``), so a
call costs the SDK's request building and response parsing plus respx, and no network. Modes:
a plain ``chat.completions.create`` and a streamed one (8 content chunks, read to the end).
Contenders, in this order in one process: the unwrapped client (baseline, before any tracing
is set up), ``llmtrace.openai.wrap(client)`` exporting to a SQLite store in a temp folder (the
real pipeline, export thread running), and ``mlflow.openai.autolog()`` with MLflow tracking to
another SQLite store. Each contender is warmed up (50 calls, then a flush), then timed call by
call; reported: median and p99 µs per call, and the median added over the baseline. Figures go
to stdout and, with ``--result``, to a JSON file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import respx
from openai import OpenAI

BASE = "https://api.openai.com/v1"
MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
COMPLETION = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Paris is the capital of France."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 14, "completion_tokens": 7, "total_tokens": 21},
}


def _sse(include_usage: bool) -> bytes:
    base = {k: COMPLETION[k] for k in ("id", "created", "model")} | {
        "object": "chat.completion.chunk"
    }
    words = ["Paris ", "is ", "the ", "capital ", "of ", "France", ".", ""]
    chunks = [
        base | {"choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]}
        for w in words
    ]
    chunks[-1]["choices"][0]["finish_reason"] = "stop"
    if include_usage:
        chunks.append(base | {"choices": [], "usage": COMPLETION["usage"]})
    lines = [f"data: {json.dumps(c)}\n\n" for c in chunks] + ["data: [DONE]\n\n"]
    return "".join(lines).encode()


def _handler(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    if body.get("stream"):
        usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return httpx.Response(
            200, content=_sse(usage), headers={"content-type": "text/event-stream"}
        )
    return httpx.Response(200, json=COMPLETION)


def _client() -> OpenAI:
    return OpenAI(api_key="sk-bench-not-a-key", http_client=httpx.Client(), max_retries=0)


def _call(client: OpenAI, stream: bool) -> None:
    if stream:
        for _chunk in client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        ):
            pass
    else:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


def _time(client: OpenAI, stream: bool, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        _call(client, stream)
        out.append((time.perf_counter() - start) * 1e6)
    return out


def _measure(
    client: OpenAI, n: int, flush: Callable[[], Any], warmup: int = 50
) -> dict[str, list[float]]:
    found = {}
    for stream in (False, True):
        for _ in range(warmup):
            _call(client, stream)
        flush()
        found["stream" if stream else "plain"] = _time(client, stream, n)
        flush()
    return found


def _p99(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * 0.99))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="300 calls per mode")
    parser.add_argument("--result", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    n = 300 if args.quick else args.calls
    folder = Path(tempfile.mkdtemp(prefix="bench-openai-"))
    timings: dict[str, dict[str, list[float]]] = {}

    with respx.mock(assert_all_called=False) as router:
        router.post(f"{BASE}/chat/completions").mock(side_effect=_handler)

        timings["unwrapped"] = _measure(_client(), n, lambda: None)

        import llmtrace
        import llmtrace.openai

        llmtrace.configure(tracking_uri=f"sqlite:///{folder / 'llmtrace.db'}", experiment="bench")
        timings["llmtrace.openai.wrap"] = _measure(
            llmtrace.openai.wrap(_client()), n, lambda: llmtrace.flush(120)
        )
        llmtrace.shutdown()

        import mlflow

        mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
        mlflow.set_experiment("bench")
        mlflow.openai.autolog()

        def mlflow_flush() -> None:
            flush = getattr(mlflow, "flush_trace_async_logging", None)
            if flush is not None:
                flush(terminate=False)

        timings["mlflow.openai.autolog"] = _measure(_client(), n, mlflow_flush)
        mlflow.openai.autolog(disable=True)

    base = {mode: statistics.median(v) for mode, v in timings["unwrapped"].items()}
    report: dict[str, Any] = {"calls": n, "contenders": {}}
    print(f"{n} calls per contender and mode; µs per call (respx-mocked endpoint)\n")
    print(f"{'contender':24} {'mode':7} {'median':>9} {'p99':>9} {'added':>9}")
    for name, modes in timings.items():
        report["contenders"][name] = {}
        for mode, values in modes.items():
            median = statistics.median(values)
            row = {"median_us": median, "p99_us": _p99(values), "added_us": median - base[mode]}
            report["contenders"][name][mode] = row
            print(f"{name:24} {mode:7} {median:9.0f} {row['p99_us']:9.0f} {row['added_us']:9.0f}")
    if args.result:
        args.result.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
