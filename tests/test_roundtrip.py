"""Round trip: traced code -> llmtrace -> MLflow store -> read back with MLflow's own client.

Every test runs twice through the ``backend`` fixture: against a fresh SQLite store, and against
a real ``mlflow server`` over HTTP (OTLP at ``/v1/traces``). Nothing is read from llmtrace's own
memory: the assertions are on what ``mlflow.MlflowClient`` and ``mlflow.search_traces`` return.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import Document, SpanStatusCode, TraceState

import llmtrace
from llmtrace import _runtime

# --- reading back through MLflow ------------------------------------------------------------


def _experiment_id(uri: str) -> str:
    name = _runtime.current_config().experiment
    experiment = mlflow.MlflowClient(tracking_uri=uri).get_experiment_by_name(name)
    assert experiment is not None, f"experiment {name!r} was never created in {uri}"
    return str(experiment.experiment_id)


def _flush() -> None:
    assert llmtrace.flush(timeout=60), "llmtrace.flush timed out"
    stats = llmtrace.stats()
    assert stats.failed == 0 and stats.dropped == 0, stats


def _search(uri: str, filter_string: str | None = None) -> list[Any]:
    """All traces of the test's experiment, via `mlflow.search_traces` (oldest first)."""
    _flush()
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        traces = mlflow.search_traces(
            locations=[_experiment_id(uri)],
            filter_string=filter_string,
            max_results=500,
            order_by=["timestamp_ms ASC"],
            return_type="list",
        )
    finally:
        mlflow.set_tracking_uri(previous)
    return list(traces)


def _get(uri: str, trace_id: str) -> Any:
    """One trace, by id, via `MlflowClient.get_trace`."""
    _flush()
    trace = mlflow.MlflowClient(tracking_uri=uri).get_trace(trace_id)
    assert trace is not None
    return trace


def _only_trace(uri: str) -> Any:
    found = _search(uri)
    assert len(found) == 1, [t.info.trace_id for t in found]
    return _get(uri, found[0].info.trace_id)


def _by_root(uri: str) -> dict[str, Any]:
    """Every trace of the experiment, keyed by its root span's name (which must be unique)."""
    traces = {}
    for info in _search(uri):
        trace = _get(uri, info.info.trace_id)
        (root,) = [s for s in trace.data.spans if s.parent_id is None]
        assert root.name not in traces, root.name
        traces[root.name] = trace
    return traces


def _by_name(trace: Any) -> dict[str, Any]:
    spans = trace.data.spans
    names = [s.name for s in spans]
    assert len(names) == len(set(names)), f"span names not unique: {names}"
    return {s.name: s for s in spans}


def _named(trace: Any, name: str) -> list[Any]:
    return [s for s in trace.data.spans if s.name == name]


def _assert_ok(span: Any) -> None:
    assert span.status.status_code == SpanStatusCode.OK, (span.name, span.status)


def _assert_within(child: Any, parent: Any) -> None:
    assert child.parent_id == parent.span_id, (child.name, child.parent_id, parent.span_id)
    assert child.trace_id == parent.trace_id
    assert parent.start_time_ns <= child.start_time_ns <= child.end_time_ns <= parent.end_time_ns


# --- sync nesting, span types, inputs/outputs ------------------------------------------------


@llmtrace.trace(kind="RETRIEVER")
def retrieve(query: str, k: int = 2) -> list[dict[str, Any]]:
    return [{"content": f"fact {i} about {query}", "score": 1.0 - i / 10} for i in range(k)]


@llmtrace.trace(kind="TOOL", name="count-tokens")
def count_tokens(text: str) -> int:
    return len(text.split())


@llmtrace.trace(kind="LLM")
def generate(prompt: str, facts: list[dict[str, Any]]) -> str:
    n = count_tokens(prompt)
    return f"{n} words, {len(facts)} facts"


class Agent:
    def __init__(self) -> None:
        self.calls = 0

    @llmtrace.trace(kind="AGENT")
    def run(self, question: str, *, max_steps: int = 3) -> dict[str, Any]:
        self.calls += 1
        facts = retrieve(question, k=3)
        with llmtrace.span("rerank", kind="RERANKER") as s:
            s.set_inputs({"n": len(facts)})
            s.set_attribute("reranker.model", "tiny")
            s.add_event("reranked", {"kept": 1})
            s.set_outputs(facts[:1])
        return {"answer": generate(question, facts), "steps": max_steps}


def test_sync_nesting_types_and_io(backend: str) -> None:
    agent = Agent()
    result = agent.run("what is otel", max_steps=2)
    assert result == {"answer": "3 words, 3 facts", "steps": 2}

    trace = _only_trace(backend)
    assert trace.info.state == TraceState.OK
    assert trace.info.tags.get("mlflow.traceName") == "Agent.run"
    spans = _by_name(trace)
    assert set(spans) == {"Agent.run", "retrieve", "rerank", "generate", "count-tokens"}
    root = spans["Agent.run"]
    assert root.parent_id is None
    assert {s.trace_id for s in trace.data.spans} == {trace.info.trace_id}
    assert len({s.span_id for s in trace.data.spans}) == 5

    for child in ("retrieve", "rerank", "generate"):
        _assert_within(spans[child], root)
    _assert_within(spans["count-tokens"], spans["generate"])

    assert {name: s.span_type for name, s in spans.items()} == {
        "Agent.run": "AGENT",
        "retrieve": "RETRIEVER",
        "rerank": "RERANKER",
        "generate": "LLM",
        "count-tokens": "TOOL",
    }
    for s in trace.data.spans:
        _assert_ok(s)

    # Inputs are the bound arguments, self left out; outputs the return value.
    assert root.inputs == {"question": "what is otel", "max_steps": 2}
    assert root.outputs == result
    assert spans["generate"].inputs["prompt"] == "what is otel"
    assert len(spans["generate"].inputs["facts"]) == 3
    assert spans["generate"].outputs == "3 words, 3 facts"
    assert spans["count-tokens"].inputs == {"text": "what is otel"}
    assert spans["count-tokens"].outputs == 3
    assert spans["retrieve"].inputs == {"query": "what is otel", "k": 3}
    rerank = spans["rerank"]
    assert rerank.inputs == {"n": 3}
    assert rerank.get_attribute("reranker.model") == "tiny"
    assert [(e.name, e.attributes) for e in rerank.events] == [("reranked", {"kept": 1})]


# --- errors ---------------------------------------------------------------------------------


class QuotaError(RuntimeError):
    pass


@llmtrace.trace(kind="LLM")
def flaky_llm(prompt: str) -> str:
    raise QuotaError(f"quota exceeded for {prompt!r}")


@llmtrace.trace(kind="CHAIN")
def chain_with_fallback(prompt: str) -> str:
    try:
        return flaky_llm(prompt)
    except QuotaError:
        return "fallback"


@llmtrace.trace(kind="CHAIN")
def chain_that_fails(prompt: str) -> str:
    return flaky_llm(prompt)


def _exception_event(span: Any) -> dict[str, Any]:
    events = [e for e in span.events if e.name == "exception"]
    assert len(events) == 1, [e.name for e in span.events]
    return dict(events[0].attributes)


def test_exceptions_are_recorded(backend: str) -> None:
    assert chain_with_fallback("hi") == "fallback"
    try:
        chain_that_fails("ho")
    except QuotaError as exc:
        assert str(exc) == "quota exceeded for 'ho'"
    else:
        raise AssertionError("the user's exception was swallowed")

    traces = _by_root(backend)
    assert set(traces) == {"chain_with_fallback", "chain_that_fails"}
    # Caught inside: the child failed, the root and the trace did not.
    trace = traces["chain_with_fallback"]
    spans = _by_name(trace)
    assert trace.info.state == TraceState.OK
    _assert_ok(spans["chain_with_fallback"])
    assert spans["chain_with_fallback"].outputs == "fallback"
    child = spans["flaky_llm"]
    assert child.parent_id == spans["chain_with_fallback"].span_id
    assert child.status.status_code == SpanStatusCode.ERROR
    assert "QuotaError" in child.status.description
    assert child.outputs is None
    event = _exception_event(child)
    assert event["exception.type"].endswith("QuotaError")
    assert event["exception.message"] == "quota exceeded for 'hi'"
    stack = event["exception.stacktrace"]
    assert stack.startswith("Traceback (most recent call last)")
    assert "in flaky_llm" in stack and "QuotaError: quota exceeded" in stack

    # Propagated: both spans and the trace are ERROR, each with its exception event.
    trace = traces["chain_that_fails"]
    assert trace.info.state == TraceState.ERROR
    spans = _by_name(trace)
    for name in ("chain_that_fails", "flaky_llm"):
        assert spans[name].status.status_code == SpanStatusCode.ERROR, name
        assert _exception_event(spans[name])["exception.message"] == "quota exceeded for 'ho'"
    assert spans["flaky_llm"].parent_id == spans["chain_that_fails"].span_id


# --- async ----------------------------------------------------------------------------------


@llmtrace.trace(kind="TOOL")
async def fetch(i: int) -> int:
    await asyncio.sleep(0.002 * (3 - i))  # finish out of order
    with llmtrace.span(f"parse-{i}", kind="PARSER"):
        await asyncio.sleep(0)
    return i * 10


@llmtrace.trace(kind="CHAIN")
async def fan_out(n: int) -> list[int]:
    first = await asyncio.create_task(fetch(0))
    rest = await asyncio.gather(*(fetch(i) for i in range(1, n)))
    return [first, *rest]


def test_async_nesting_follows_tasks(backend: str) -> None:
    async def main() -> list[list[int]]:
        # Two roots running concurrently: their children must not cross over.
        return list(await asyncio.gather(fan_out(3), fan_out(2)))

    assert asyncio.run(main()) == [[0, 10, 20], [0, 10]]

    traces = [_get(backend, t.info.trace_id) for t in _search(backend)]
    assert len(traces) == 2
    seen = set()
    for trace in traces:
        roots = [s for s in trace.data.spans if s.parent_id is None]
        assert len(roots) == 1 and roots[0].name == "fan_out"
        root = roots[0]
        n = root.inputs["n"]
        seen.add(n)
        assert root.outputs == [i * 10 for i in range(n)]
        fetches = _named(trace, "fetch")
        assert sorted(s.inputs["i"] for s in fetches) == list(range(n))
        for span in fetches:
            _assert_within(span, root)
            assert span.span_type == "TOOL"
            assert span.outputs == span.inputs["i"] * 10
            (parse,) = _named(trace, f"parse-{span.inputs['i']}")
            _assert_within(parse, span)
            assert parse.span_type == "PARSER"
        assert len(trace.data.spans) == 1 + 2 * n
        for span in trace.data.spans:
            _assert_ok(span)
    assert seen == {2, 3}


@llmtrace.trace(kind="CHAIN")
async def async_span_block(x: int) -> int:
    async with llmtrace.span("inner", kind="EMBEDDING", inputs={"x": x}) as s:
        await asyncio.sleep(0)
        s.set_outputs([0.1, 0.2])
    try:
        async with llmtrace.span("guard", kind="GUARDRAIL"):
            raise KeyError("blocked")
    except KeyError:
        pass
    return x + 1


def test_async_span_context_manager(backend: str) -> None:
    assert asyncio.run(async_span_block(1)) == 2
    spans = _by_name(_only_trace(backend))
    _assert_within(spans["inner"], spans["async_span_block"])
    assert spans["inner"].span_type == "EMBEDDING"
    assert spans["inner"].inputs == {"x": 1}
    assert spans["inner"].outputs == [0.1, 0.2]
    guard = spans["guard"]
    _assert_within(guard, spans["async_span_block"])
    assert guard.status.status_code == SpanStatusCode.ERROR
    assert _exception_event(guard)["exception.type"] == "KeyError"
    _assert_ok(spans["async_span_block"])


# --- generators -----------------------------------------------------------------------------


@llmtrace.trace(kind="LLM")
def stream_tokens(n: int) -> Iterator[str]:
    for i in range(n):
        with llmtrace.span(f"decode-{i}"):
            pass
        yield f"tok{i}"


@llmtrace.trace(kind="CHAIN")
def consume(n: int) -> str:
    out = []
    for token in stream_tokens(n):
        # The consumer's own work between items belongs to the consumer, not the generator.
        with llmtrace.span(f"use-{token}"):
            out.append(token)
    return " ".join(out)


def test_generator_span_tree(backend: str) -> None:
    assert consume(3) == "tok0 tok1 tok2"
    spans = _by_name(_only_trace(backend))
    root, gen = spans["consume"], spans["stream_tokens"]
    _assert_within(gen, root)
    assert gen.span_type == "LLM"
    assert gen.inputs == {"n": 3}
    assert gen.outputs == ["tok0", "tok1", "tok2"]
    for i in range(3):
        _assert_within(spans[f"decode-{i}"], gen)
        _assert_within(spans[f"use-tok{i}"], root)
    for span in spans.values():
        _assert_ok(span)


@llmtrace.trace(kind="LLM", output_reducer="".join)
async def astream(n: int) -> AsyncIterator[str]:
    for i in range(n):
        async with llmtrace.span(f"chunk-{i}"):
            await asyncio.sleep(0)
        yield f"c{i}"


@llmtrace.trace(kind="CHAIN")
async def aconsume(n: int) -> list[str]:
    out = []
    async for chunk in astream(n):
        with llmtrace.span(f"got-{chunk}"):
            out.append(chunk)
    return out


def test_async_generator_span_tree(backend: str) -> None:
    assert asyncio.run(aconsume(3)) == ["c0", "c1", "c2"]
    spans = _by_name(_only_trace(backend))
    root, gen = spans["aconsume"], spans["astream"]
    _assert_within(gen, root)
    assert gen.outputs == "c0c1c2"  # the reducer's result
    assert root.outputs == ["c0", "c1", "c2"]
    for i in range(3):
        _assert_within(spans[f"chunk-{i}"], gen)
        _assert_within(spans[f"got-c{i}"], root)
    for span in spans.values():
        _assert_ok(span)


@llmtrace.trace
def count_up(n: int) -> Iterator[int]:
    yield from range(n)


@llmtrace.trace
async def acount_up(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


@llmtrace.trace(kind="CHAIN")
def take_two() -> list[int]:
    got = []
    for i in count_up(100):
        got.append(i)
        if len(got) == 2:
            break
    with llmtrace.span("after-break"):
        pass
    return got


@llmtrace.trace(kind="CHAIN")
async def atake_two() -> list[int]:
    got = []
    agen = acount_up(100)
    async for i in agen:
        got.append(i)
        if len(got) == 2:
            break
    await agen.aclose()
    with llmtrace.span("after-aclose"):
        pass
    return got


def test_generators_closed_early(backend: str) -> None:
    assert take_two() == [0, 1]
    assert asyncio.run(atake_two()) == [0, 1]

    traces = _by_root(backend)
    assert set(traces) == {"take_two", "atake_two"}
    sync_trace, async_trace = traces["take_two"], traces["atake_two"]
    for trace, gen_name, root_name, after in (
        (sync_trace, "count_up", "take_two", "after-break"),
        (async_trace, "acount_up", "atake_two", "after-aclose"),
    ):
        gens = _named(trace, gen_name)
        assert len(gens) == 1, f"{gen_name} stored {len(gens)} times"
        gen = gens[0]
        root = _named(trace, root_name)[0]
        _assert_within(gen, root)
        assert gen.outputs == [0, 1]  # the items read so far
        assert gen.get_attribute("llmtrace.generator.stopped") == "closed"
        assert gen.get_attribute("llmtrace.generator.items") == 2
        _assert_ok(gen)
        # It ended when the caller stopped reading, not when the process exits.
        later = _named(trace, after)[0]
        assert gen.end_time_ns <= later.start_time_ns
        _assert_within(later, root)
        assert len(trace.data.spans) == 3


# --- threads and sessions -------------------------------------------------------------------


@llmtrace.trace(kind="TOOL")
def work(i: int) -> dict[str, Any]:
    return {"i": i, "thread": threading.current_thread().name}


@llmtrace.trace(kind="AGENT")
def parallel(n: int) -> list[dict[str, Any]]:
    with llmtrace.ContextThreadPoolExecutor(max_workers=3, thread_name_prefix="pool") as pool:
        results = list(pool.map(work, range(n)))
        results.append(pool.submit(work, n).result())
    return results


def test_threads_keep_their_parent(backend: str) -> None:
    results = parallel(5)
    assert all(r["thread"].startswith("pool") for r in results)
    trace = _only_trace(backend)
    root = _named(trace, "parallel")[0]
    workers = _named(trace, "work")
    assert len(workers) == 6 and len(trace.data.spans) == 7
    assert sorted(w.inputs["i"] for w in workers) == list(range(6))
    for w in workers:
        _assert_within(w, root)
        assert w.outputs["i"] == w.inputs["i"]
        assert w.outputs["thread"].startswith("pool")
        _assert_ok(w)


@llmtrace.trace(kind="CHAIN")
def ask(question: str) -> str:
    return question.upper()


def test_sessions_and_users(backend: str) -> None:
    with llmtrace.session("conv-42", user="alice", channel="web"):
        ask("first")
        ask("second")
        with llmtrace.ContextThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(ask, "threaded").result()
        with llmtrace.session("conv-inner", user="bob"):
            ask("nested")
        ask("third")

    async def chat() -> None:
        async with llmtrace.session("conv-async", user="carol"):
            await asyncio.gather(*(asyncio.to_thread(ask, q) for q in ("a1", "a2")))

    asyncio.run(chat())
    ask("outside")

    traces = {}
    for info in _search(backend):
        trace = _get(backend, info.info.trace_id)
        (root,) = [s for s in trace.data.spans if s.parent_id is None]
        traces[root.inputs["question"]] = trace
    assert set(traces) == {"first", "second", "threaded", "nested", "third", "a1", "a2", "outside"}

    def meta(question: str) -> tuple[str | None, str | None]:
        md = traces[question].info.trace_metadata
        return md.get("mlflow.trace.session"), md.get("mlflow.trace.user")

    for q in ("first", "second", "threaded", "third"):
        assert meta(q) == ("conv-42", "alice"), q
        assert traces[q].info.tags.get("channel") == "web", q
    assert meta("nested") == ("conv-inner", "bob")
    assert meta("a1") == meta("a2") == ("conv-async", "carol")
    assert meta("outside") == (None, None)
    assert "channel" not in traces["outside"].info.tags

    # MLflow's own search can group the conversation.
    in_session = _search(backend, "metadata.`mlflow.trace.session` = 'conv-42'")
    assert len(in_session) == 4
    assert {t.info.trace_id for t in in_session} == {
        traces[q].info.trace_id for q in ("first", "second", "threaded", "third")
    }


# --- retriever documents --------------------------------------------------------------------


@dataclass
class Chunk:
    text: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)


@llmtrace.trace(kind="RETRIEVER")
def search_docs(query: str) -> list[Any]:
    return [
        {"page_content": "Paris is in France", "metadata": {"source": "wiki"}, "score": 0.9,
         "id": 7},
        {"content": "Lyon too", "score": 0.5},
        Chunk("Nice as well", 0.25, {"source": "blog"}),
        "a bare string",
    ]


def test_retriever_outputs_are_documents(backend: str) -> None:
    search_docs("french cities")
    (span,) = _only_trace(backend).data.spans
    assert span.span_type == "RETRIEVER"
    assert span.outputs == [
        {"page_content": "Paris is in France", "metadata": {"source": "wiki", "score": 0.9},
         "id": "7"},
        {"page_content": "Lyon too", "metadata": {"score": 0.5}, "id": None},
        {"page_content": "Nice as well", "metadata": {"source": "blog", "score": 0.25},
         "id": None},
        {"page_content": "a bare string", "metadata": {}, "id": None},
    ]
    # The shape MLflow's UI renders as documents.
    docs = [Document(**d) for d in span.outputs]
    assert [d.metadata.get("score") for d in docs] == [0.9, 0.5, 0.25, None]


# --- W3C traceparent across services --------------------------------------------------------

SERVICE = textwrap.dedent(
    """
    import json, sys
    import llmtrace

    llmtrace.configure(tracking_uri=sys.argv[1], experiment=sys.argv[2], schedule_delay_ms=20)

    @llmtrace.trace(kind="TOOL")
    def handle(payload):
        return payload.upper()

    headers = json.loads(sys.argv[3])
    with llmtrace.extract_traceparent(headers):
        answer = handle("ping")
    ok = llmtrace.flush(60)
    s = llmtrace.stats()
    print(json.dumps({"answer": answer, "flushed": ok, "exported": s.exported,
                      "failed": s.failed}))
    """
)


def test_traceparent_joins_another_service(backend: str, tmp_path: Path) -> None:
    script = tmp_path / "service.py"
    script.write_text(SERVICE)
    experiment = _runtime.current_config().experiment
    assert experiment is not None
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1"}
    sent: dict[str, str] = {}

    @llmtrace.trace(kind="CHAIN", name="call_service")
    def call_service() -> dict[str, Any]:
        headers = llmtrace.inject_traceparent({"Content-Type": "application/json"})
        sent.update(headers)
        proc = subprocess.run(
            [sys.executable, str(script), backend, experiment, json.dumps(headers)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])

    reply = call_service()
    assert reply == {"answer": "PING", "flushed": True, "exported": 1, "failed": 0}

    version, trace_hex, span_hex, flags = sent["traceparent"].split("-")
    assert version == "00" and int(flags, 16) & 1  # sampled
    trace = _only_trace(backend)
    assert trace.info.trace_id == f"tr-{trace_hex}"
    assert trace.info.state == TraceState.OK
    spans = _by_name(trace)
    assert set(spans) == {"call_service", "handle"}
    root, remote = spans["call_service"], spans["handle"]
    assert root.parent_id is None and root.span_id == span_hex
    _assert_within(remote, root)
    assert remote.inputs == {"payload": "ping"} and remote.outputs == "PING"
    assert remote.span_type == "TOOL"
    assert trace.info.tags.get("mlflow.traceName") == "call_service"
