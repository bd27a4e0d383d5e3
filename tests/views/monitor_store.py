"""Agent traces with fixed times, latencies, errors, tokens and costs, for monitor and report.

Each trace is an ``agent`` root span (AGENT, with ``session.id``/``user.id``), a ``chat``
CHAT_MODEL child with a model, token usage and cost, and optionally a TOOL child; they are
hand-made OpenTelemetry spans written by llmtrace's public `MlflowSpanExporter` into a real
SQLite store, so MLflow itself derives the trace rows (duration, status, tokens, cost, session).
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags

import llmtrace

#: 2026-11-30 00:00:00 UTC in epoch milliseconds: the start of the fixture's window.
T0_MS = calendar.timegm((2026, 11, 30, 0, 0, 0, 0, 0, 0)) * 1000
HOUR_MS = 3_600_000
_FLAGS = TraceFlags(TraceFlags.SAMPLED)
_RESOURCE = Resource({"service.name": "monitor-fixture"})


@dataclass(frozen=True)
class Call:
    """One agent call: when (ms after T0), how long, and what it cost."""

    at_ms: int
    latency_ms: int
    error: bool = False
    session: str | None = None
    user: str | None = None
    model: str = "gpt-a"
    tokens: int = 0
    cost: float = 0.0
    chat_error: bool = False
    tool: str | None = None
    tool_ms: int = 0
    tool_error: bool = False


def _span(
    name: str,
    trace_id: int,
    span_id: int,
    parent: int | None,
    start_ms: float,
    ms: float,
    attributes: dict[str, object],
    error: bool,
) -> ReadableSpan:
    start = int(start_ms * 1_000_000)
    return ReadableSpan(
        name=name,
        context=SpanContext(trace_id, span_id, False, _FLAGS),
        parent=SpanContext(trace_id, parent, False, _FLAGS) if parent else None,
        resource=_RESOURCE,
        attributes=attributes,
        status=Status(StatusCode.ERROR, "boom") if error else Status(StatusCode.OK),
        start_time=start,
        end_time=start + int(ms * 1_000_000),
    )


def spans_of(call: Call, number: int) -> list[ReadableSpan]:
    """The spans of trace ``number`` (children first, root last)."""
    trace_id = 0xA000_0000_0000_0000_0000_0000_0000_0000 + number
    root_id = number * 16 + 1
    start = T0_MS + call.at_ms
    root_attributes: dict[str, object] = {
        "mlflow.spanType": "AGENT",
        "mlflow.spanInputs": json.dumps({"question": f"q{number}"}),
        "mlflow.spanOutputs": json.dumps(f"answer {number}"),
    }
    if call.session:
        root_attributes["session.id"] = call.session
    if call.user:
        root_attributes["user.id"] = call.user
    chat_attributes: dict[str, object] = {
        "mlflow.spanType": "CHAT_MODEL",
        "mlflow.llm.model": call.model,
        "mlflow.chat.tokenUsage": json.dumps(
            {
                "input_tokens": call.tokens - call.tokens // 4,
                "output_tokens": call.tokens // 4,
                "total_tokens": call.tokens,
            }
        ),
        "mlflow.llm.cost": json.dumps(
            {"input_cost": call.cost / 2, "output_cost": call.cost / 2, "total_cost": call.cost}
        ),
    }
    out = [
        _span("chat", trace_id, root_id + 1, root_id, start + 1, call.latency_ms / 2,
              chat_attributes, call.chat_error),
    ]  # fmt: skip
    if call.tool:
        out.append(
            _span(call.tool, trace_id, root_id + 2, root_id, start + 2, call.tool_ms,
                  {"mlflow.spanType": "TOOL"}, call.tool_error)
        )  # fmt: skip
    out.append(
        _span("agent", trace_id, root_id, None, start, call.latency_ms, root_attributes, call.error)
    )
    return out


def write(uri: str, experiment: str, calls: Iterable[Call], first: int = 1) -> int:
    """Store ``calls`` as traces numbered from ``first``; returns how many were written."""
    exporter = llmtrace.MlflowSpanExporter(uri, experiment)
    batch: list[ReadableSpan] = []
    n = 0
    for n, call in enumerate(calls, start=first):
        batch.extend(spans_of(call, n))
        if len(batch) >= 3000:
            exporter.export(batch)
            batch = []
    if batch:
        exporter.export(batch)
    exporter.shutdown()
    return n - first + 1 if n else 0


#: Seven traces in the window [T0, T0 + 4 h) and two outside it; figures worked out by hand
#: in tests/views/test_monitor.py.
AGENT_CALLS: Sequence[Call] = (
    Call(5 * 60_000, 100, session="s1", user="alice", model="gpt-a", tokens=10, cost=0.01,
         tool="search", tool_ms=20),
    Call(10 * 60_000, 300, error=True, session="s1", user="alice", model="gpt-a", tokens=20,
         cost=0.02, chat_error=True),
    Call(50 * 60_000, 200, session="s2", user="bob", model="gpt-b", tokens=30, cost=0.03,
         tool="search", tool_ms=40, tool_error=True),
    Call(70 * 60_000, 400, session="s2", user="bob", model="gpt-b", tokens=40, cost=0.04,
         tool="lookup", tool_ms=10),
    Call(80 * 60_000, 500, session="s3", user="alice", model="gpt-a", tokens=50, cost=0.05),
    Call(190 * 60_000, 1000, error=True, session="s3", user="alice", model="gpt-a", tokens=60,
         cost=0.06, tool="search", tool_ms=30),
    Call(200 * 60_000, 600, model="gpt-b", tokens=70, cost=0.07),
    Call(-10 * 60_000, 9999, error=True, session="s1", user="alice", tokens=999, cost=9.0),
    Call(241 * 60_000, 9999, error=True, session="s9", user="zed", tokens=999, cost=9.0),
)  # fmt: skip


def trace_id(number: int) -> str:
    """The MLflow id of trace ``number`` of `write`."""
    return f"tr-{0xA000_0000_0000_0000_0000_0000_0000_0000 + number:032x}"


def add_scores(uri: str, experiment: str) -> None:
    """Two evaluation runs, and `evals.watch` scoring every trace of `AGENT_CALLS`.

    Run "baseline": exact_match/mean 0.5, faithfulness/mean 0.75; run "candidate" (later):
    0.625 and 0.875. The watcher ("fixture") gives trace n ``relevance`` = n / 10 and
    ``grounded`` = n is odd; trace 1 also gets an evaluation run's ``relevance`` = 9.0 (no
    watch mark: reports must not count it).
    """
    from mlflow import MlflowClient
    from mlflow.entities import AssessmentSource, AssessmentSourceType, Feedback
    from mlflow.tracing.client import TracingClient

    import evals
    from llmtrace.semconv import LLMTRACE_EVALUATION

    client = MlflowClient(uri)
    exp_id = client.get_experiment_by_name(experiment).experiment_id
    for name, start, means in (
        ("baseline", T0_MS + 1000, {"exact_match": 0.5, "faithfulness": 0.75}),
        ("candidate", T0_MS + 2000, {"exact_match": 0.625, "faithfulness": 0.875}),
    ):
        run = client.create_run(
            exp_id, start_time=start, run_name=name, tags={LLMTRACE_EVALUATION: "true"}
        )
        for metric, value in means.items():
            client.log_metric(run.info.run_id, f"{metric}/mean", value)
            client.log_metric(run.info.run_id, f"{metric}/p50", 0.0)
        client.set_terminated(run.info.run_id)

    @evals.metric(name="relevance")
    def relevance(question: str) -> float:
        return int(question.removeprefix("q")) / 10

    @evals.metric(name="grounded")
    def grounded(question: str) -> bool:
        return int(question.removeprefix("q")) % 2 == 1

    watched = evals.watch(
        [relevance, grounded], experiment=experiment, tracking_uri=uri, name="fixture",
        since="2026-11-29", max_traces=len(AGENT_CALLS), until=120, poll_s=0.05,
    )  # fmt: skip
    assert watched.traces_scored == len(AGENT_CALLS), watched
    source = AssessmentSource(source_type=AssessmentSourceType.CODE, source_id="evals.relevance")
    TracingClient(uri).log_assessment(
        trace_id(1), Feedback(name="relevance", value=9.0, source=source, metadata={"run": "x"})
    )
