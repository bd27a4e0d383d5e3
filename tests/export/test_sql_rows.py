"""The direct write path (`_sql_direct` + `_sql_rows`) stores exactly what MLflow's `log_spans`
stores, for plain, GenAI-semconv, OpenInference and llmtrace.openai spans.

The same enriched spans go once through `to_mlflow_span` + `SqlAlchemyStore.log_spans` and once,
as the export wire carries them (`encode_spans`), through `DirectWriter.write`, into two fresh
SQLite stores; then every row of every table is compared. Spans the direct path does not cover
come back from `write` (and are then stored by log_spans, as in the export process).
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmtrace
from llmtrace.export import _sql_direct
from llmtrace.export._exporter_mlflow import to_mlflow_span
from llmtrace.export._wire import decode_spans, encode_spans

pytestmark = pytest.mark.skipif(
    not mlflow.__version__.startswith(_sql_direct.CHECKED_MLFLOW),
    reason=f"direct path only enabled for MLflow {_sql_direct.CHECKED_MLFLOW}",
)

ROOTS = ["file:///tmp/artifacts", "/tmp/plain/artifacts"]


def _store(path: Path, root: str = ROOTS[0]) -> tuple[Any, str]:
    client = MlflowClient(tracking_uri=f"sqlite:///{path}")
    experiment_id = client.create_experiment("direct", artifact_location=root)
    return client._tracking_client.store, experiment_id


def _dump(path: Path) -> dict[str, list[str]]:
    """Every row of every table but the experiment's own (creation times differ)."""
    con = sqlite3.connect(path)
    tables = [
        name
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if name not in ("experiments", "experiment_tags")
    ]
    dump = {t: sorted(map(repr, con.execute(f"SELECT * FROM {t}"))) for t in tables}
    con.close()
    return dump


def compare(
    tmp_path: Path, spans: list[ReadableSpan], root: str = ROOTS[0], mlflow_priced: int = 0
) -> list[Any]:
    """Store ``spans`` both ways; assert equal rows, and that MLflow's own cost function priced
    ``mlflow_priced`` spans of the direct path; return the wire rows left to log_spans."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    reference, ref_exp = _store(tmp_path / "reference.db", root)
    reference.log_spans(ref_exp, [to_mlflow_span(s) for s in spans])
    _store(tmp_path / "direct.db", root)
    writer = _sql_direct.DirectWriter.open(f"sqlite:///{tmp_path / 'direct.db'}", "direct")
    assert writer is not None
    left = writer.write(encode_spans(spans))
    assert writer.priced == mlflow_priced
    if left is not None:
        store = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'direct.db'}")
        mlflow_store = store._tracking_client.store
        rest = [to_mlflow_span(s) for s in decode_spans(left)]
        mlflow_store.log_spans(writer.experiment_id, rest)
    writer.close()
    expected, got = _dump(tmp_path / "reference.db"), _dump(tmp_path / "direct.db")
    assert got.keys() == expected.keys()
    for table in expected:
        assert got[table] == expected[table], table
    return left[1] if left is not None else []


@pytest.fixture
def memory() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    llmtrace.configure(export_to_mlflow=False, exporters=[exporter], schedule_delay_ms=10)
    return exporter


def _finished(memory: InMemorySpanExporter) -> list[ReadableSpan]:
    assert llmtrace.flush(10)
    spans = list(memory.get_finished_spans())
    memory.clear()
    return spans


def plain_traces(memory: InMemorySpanExporter) -> list[ReadableSpan]:
    """llmtrace's own spans: kinds, sessions, errors, usage with cost, long inputs, JSON text."""

    @llmtrace.trace(kind="RETRIEVER")
    def retrieve(query: str) -> list[dict[str, Any]]:
        return [{"page_content": "Paris is in France — café", "metadata": {"id": "d1"}}]

    @llmtrace.trace(kind="LLM")
    def generate(question: str, docs: list[Any]) -> str:
        llmtrace.current_span().set_attributes(
            {
                "mlflow.chat.tokenUsage": json.dumps(
                    {"input_tokens": 12, "output_tokens": 5, "total_tokens": 17}
                ),
                "mlflow.llm.cost": json.dumps(
                    {"input_cost": 0.0012, "output_cost": 0.0005, "total_cost": 0.0017}
                ),
                "mlflow.llm.model": json.dumps("gpt-4o-mini"),
            }
        )
        return "Paris"

    @llmtrace.trace(kind="CHAIN")
    def rag(question: str) -> str:
        return generate(question, retrieve(question))

    @llmtrace.trace
    def fails(x: int) -> int:
        raise ValueError(f"bad {x}")

    @llmtrace.trace
    def echo(value: Any) -> Any:
        return value

    rag("Where is Paris?")
    with llmtrace.session("chat-1", user="ada", channel="web"):
        rag("Et Lyon?")
    with pytest.raises(ValueError):
        fails(7)
    with llmtrace.span("no-io") as span:
        span.set_inputs({"huge": "x" * 5000})
    echo({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    echo('{"a": [1, 2]}')
    echo({"choices": [{"message": {"role": "assistant", "content": "c" * 2000}}]})
    with llmtrace.span("events") as span:
        span.add_event("note", {"model": "not read", "list": ("a", "b")})
    return _finished(memory)


def test_plain_traces_equal_log_spans(tmp_path: Path, memory: InMemorySpanExporter) -> None:
    spans = plain_traces(memory)
    for i, root in enumerate(ROOTS):
        assert compare(tmp_path / str(i), spans, root) == []


def test_openai_wrapper_spans_equal_log_spans(tmp_path: Path, memory: InMemorySpanExporter) -> None:
    """What llmtrace.openai writes (GenAI + OpenInference copies + MLflow keys, with cost)."""
    from openai import OpenAI

    from llmtrace.testing import Reply, StandIn, Usage

    with StandIn([Reply("hi there", usage=Usage(12, 5)), Reply("again")]) as server:
        client = llmtrace.openai.wrap(OpenAI(base_url=server.url, api_key="test"))

        @llmtrace.trace
        def app(q: str) -> Any:
            return client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": q}]
            )

        app("hello")
        with llmtrace.session("s-1", user="bob"):
            app("more")
    spans = _finished(memory)
    assert any(k.startswith("gen_ai.") for s in spans for k in s.attributes)
    assert compare(tmp_path, spans) == []


def test_split_and_stored_traces_are_left_to_log_spans(
    tmp_path: Path, memory: InMemorySpanExporter
) -> None:
    spans = plain_traces(memory)
    children = [s for s in spans if s.parent is not None]
    writer_path = tmp_path / "direct.db"
    _store(writer_path)
    writer = _sql_direct.DirectWriter.open(f"sqlite:///{writer_path}", "direct")
    assert writer is not None
    left = writer.write(encode_spans(children))
    assert left is not None and len(left[1]) == len(children)  # no root: nothing written
    first = [s for s in spans if s.context.trace_id == spans[-1].context.trace_id]
    assert writer.write(encode_spans(first)) is None
    again = writer.write(encode_spans(first))  # already stored: left to log_spans' checks
    assert again is not None and len(again[1]) == len(first)


def test_open_refuses_what_was_not_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _store(tmp_path / "a.db")
    uri = f"sqlite:///{tmp_path / 'a.db'}"
    assert _sql_direct.DirectWriter.open(uri, "direct") is not None
    assert _sql_direct.DirectWriter.open(uri, "missing") is None
    assert _sql_direct.DirectWriter.open(f"sqlite:///{tmp_path / 'none.db'}", "x") is None
    assert _sql_direct.DirectWriter.open("postgresql://h/db", "x") is None
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    assert _sql_direct.DirectWriter.open(uri, "direct") is None
    monkeypatch.delenv("MLFLOW_ENABLE_WORKSPACES")
    con = sqlite3.connect(tmp_path / "a.db")
    con.execute("UPDATE alembic_version SET version_num = 'other'")
    con.commit()
    con.close()
    assert _sql_direct.DirectWriter.open(uri, "direct") is None
    monkeypatch.setattr(_sql_direct, "mlflow_version", lambda: "3.18.0")
    assert _sql_direct.DirectWriter.open(uri, "direct") is None


def test_checked_revision_is_mlflows_head() -> None:
    from alembic.script import ScriptDirectory
    from mlflow.store.db.utils import _get_alembic_config

    config = _get_alembic_config(os.environ.get("MLFLOW_TRACKING_URI", "sqlite://"))
    assert ScriptDirectory.from_config(config).get_current_head() == _sql_direct.CHECKED_REVISION


def foreign_genai_traces(memory: InMemorySpanExporter) -> list[ReadableSpan]:
    """Spans other instrumentors write: GenAI semconv (attributes and message events, tokens
    with and without a cost MLflow prices), OpenInference, a conversation id, nested usage."""
    tracer = llmtrace.tracer_provider().get_tracer("foreign")
    messages = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "hi"}]}])
    reply = json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "yo"}]}])
    with tracer.start_as_current_span("invoke_agent helper") as agent:
        agent.set_attributes(
            {"gen_ai.operation.name": "invoke_agent", "gen_ai.conversation.id": "conv-7"}
        )
        for model, cost in (("gpt-4o", True), ("gpt-4o-mini", False), ("no-such-model", False)):
            with tracer.start_as_current_span(f"chat {model}") as span:
                span.set_attributes(
                    {
                        "gen_ai.operation.name": "chat",
                        "gen_ai.request.model": model,
                        "gen_ai.provider.name": "openai",
                        "gen_ai.usage.input_tokens": 10,
                        "gen_ai.usage.output_tokens": 3,
                        "gen_ai.usage.cache_read.input_tokens": 2,
                        "gen_ai.input.messages": messages,
                        "gen_ai.output.messages": reply,
                        "gen_ai.response.finish_reasons": ("stop",),
                    }
                )
                if cost:
                    span.set_attribute(
                        "mlflow.llm.cost",
                        json.dumps({"input_cost": 1e-5, "output_cost": 2e-5, "total_cost": 3e-5}),
                    )
    with tracer.start_as_current_span("chat events") as span:
        span.set_attributes({"gen_ai.operation.name": "chat", "gen_ai.system": "openai"})
        span.add_event("gen_ai.system.message", {"content": "be brief"})
        span.add_event("gen_ai.user.message", {"content": "hello"})
        span.add_event("gen_ai.choice", {"content": '{"text": "hey"}', "index": 0})
    with tracer.start_as_current_span("oi llm") as span:
        span.set_attributes(
            {
                "openinference.span.kind": "LLM",
                "input.value": json.dumps({"messages": [{"role": "user", "content": "q?"}]}),
                "output.value": "an answer",
                "llm.model_name": "claude-x",
                "llm.provider": "anthropic",
                "llm.token_count.prompt": 5,
                "llm.token_count.completion": 7,
                "llm.token_count.total": 12,
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": "q?",
            }
        )
    with tracer.start_as_current_span("tool call") as span:
        span.set_attributes(
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "search",
                "gen_ai.tool.call.arguments": '{"q": "x"}',
                "gen_ai.tool.call.result": '["r"]',
            }
        )
    with tracer.start_as_current_span("traceloop") as span:  # not covered: log_spans
        span.set_attributes({"traceloop.span.kind": "task", "gen_ai.prompt.0.content": "p"})
    return _finished(memory)


def test_foreign_genai_spans_equal_log_spans(
    tmp_path: Path, memory: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_MODEL_CATALOG_URI", "")  # MLflow prices from its bundled catalog
    spans = foreign_genai_traces(memory)
    left = compare(tmp_path, spans)
    assert [row[0] for row in left] == ["traceloop"]  # the one trace outside the key sets
    con = sqlite3.connect(tmp_path / "direct.db")
    totals = con.execute(
        "SELECT input_tokens, output_tokens, total_cost FROM trace_info WHERE session_id = ?",
        ("conv-7",),
    ).fetchone()
    con.close()
    assert totals[0] == 30 and totals[1] == 9 and totals[2] > 3e-5  # one span priced


def emit_unpriced(tracer: Any) -> None:
    """LLM spans with token usage but no cost, as foreign instrumentors write them: GenAI
    semconv (official OpenAI instrumentor's shape; several models, one not in MLflow's
    catalog, provider-prefixed and Databricks names, no provider at all, cache reads) and
    OpenInference (``llm.token_count.*`` + ``llm.model_name``)."""
    genai = (  # (request model, response model, provider key, provider, cache read tokens)
        ("gpt-4o-mini", "gpt-4o-mini-2024-07-18", "gen_ai.system", "openai", None),
        ("gpt-4o", None, "gen_ai.provider.name", "openai", 40),
        ("openai/gpt-4.1", None, None, None, None),
        ("claude-haiku-4-5", "claude-haiku-4-5", "gen_ai.provider.name", "anthropic", 8),
        ("databricks-claude-haiku-4-5", None, None, None, None),
        ("no-such-model-3000", None, "gen_ai.system", "openai", None),
        ("gemini-2.0-flash", None, "gen_ai.system", "Gemini", None),
    )
    for n, (model, response_model, provider_key, provider, cache_read) in enumerate(genai):
        with tracer.start_as_current_span(f"chat {model}") as span:
            span.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": model,
                    "gen_ai.usage.input_tokens": 100 + n,
                    "gen_ai.usage.output_tokens": 7 + n,
                    "gen_ai.response.id": f"chatcmpl-{n}",
                    "gen_ai.response.finish_reasons": ("stop",),
                    "server.address": "api.example.test",
                }
            )
            if response_model:
                span.set_attribute("gen_ai.response.model", response_model)
            if provider_key and provider:
                span.set_attribute(provider_key, provider)
            if cache_read is not None:
                span.set_attribute("gen_ai.usage.cache_read.input_tokens", cache_read)
    openinference = (  # (model, provider, with total, cache read)
        ("gpt-4o", "openai", True, None),
        ("claude-sonnet-4-5", "anthropic", False, 12),
        ("mistral/codestral-latest", None, True, None),
        ("not-a-catalog-model", None, True, None),
    )
    for n, (model, provider, total, cache_read) in enumerate(openinference):
        with tracer.start_as_current_span(f"oi {model}") as span:
            span.set_attributes(
                {
                    "openinference.span.kind": "LLM",
                    "llm.model_name": model,
                    "llm.token_count.prompt": 50 + n,
                    "llm.token_count.completion": 9,
                    "input.value": json.dumps({"messages": [{"role": "user", "content": "q"}]}),
                    "input.mime_type": "application/json",
                    "output.value": "an answer",
                    "llm.input_messages.0.message.role": "user",
                    "llm.input_messages.0.message.content": "q",
                }
            )
            if provider:
                span.set_attribute("llm.provider", provider)
            if total:
                span.set_attribute("llm.token_count.total", 59 + n)
            if cache_read is not None:
                span.set_attribute("llm.token_count.prompt_details.cache_read", cache_read)


UNPRICED_TRACES = 11
UNKNOWN_MODELS = {"chat no-such-model-3000", "oi not-a-catalog-model"}  # not in the catalog


def test_usage_without_cost_equals_log_spans_without_mlflows_pricing(
    tmp_path: Path, memory: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Usage but no cost (MLflow prices these from its bundled catalog at store time): the
    direct path prices them too, field for field, without asking MLflow's function."""
    monkeypatch.setenv("MLFLOW_MODEL_CATALOG_URI", "")
    emit_unpriced(llmtrace.tracer_provider().get_tracer("foreign"))
    spans = _finished(memory)
    assert len(spans) == UNPRICED_TRACES
    assert compare(tmp_path, spans, mlflow_priced=0) == []
    con = sqlite3.connect(tmp_path / "direct.db")
    costs = dict(con.execute("SELECT name, total_cost FROM spans").fetchall())
    con.close()
    assert len(costs) == UNPRICED_TRACES
    assert {name for name, cost in costs.items() if cost is None} == UNKNOWN_MODELS
    assert all(cost > 0 for name, cost in costs.items() if name not in UNKNOWN_MODELS)


def test_usage_without_cost_asks_mlflow_when_the_catalog_may_be_remote(
    tmp_path: Path, memory: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A catalog URI of the user's own: MLflow's function prices the spans that name a
    provider (it may fetch that provider's file), with equal rows still."""
    monkeypatch.setenv("MLFLOW_MODEL_CATALOG_URI", f"file://{tmp_path / 'no-catalog'}")
    emit_unpriced(llmtrace.tracer_provider().get_tracer("foreign"))
    spans = _finished(memory)
    # the eight spans with a provider (named, or Databricks' by its model's name)
    assert compare(tmp_path / "rows", spans, mlflow_priced=8) == []


def _worker_paths() -> dict[str, int]:
    from llmtrace import _runtime

    pipeline = _runtime._pipeline
    assert pipeline is not None
    return dict(pipeline.mlflow_exporter.counters())


@pytest.mark.slow
def test_export_process_writes_directly_without_mlflow(sqlite_uri: str) -> None:
    """Through the export process: covered traces stored without MLflow imported there; an
    uncovered one then goes through MLflow's path (imported then), counted; all read back."""
    tracer = llmtrace.tracer_provider().get_tracer("foreign")

    @llmtrace.trace(kind="AGENT")
    def agent(n: int) -> int:
        with tracer.start_as_current_span("chat m") as span:
            span.set_attributes(
                {
                    "gen_ai.operation.name": "chat",  # no model: nothing for MLflow to price
                    "gen_ai.usage.input_tokens": n,
                    "gen_ai.usage.output_tokens": 1,
                    "gen_ai.conversation.id": "c-1",
                }
            )
        return n

    for n in range(1, 21):
        agent(n)
    assert llmtrace.flush(60)
    paths = _worker_paths()
    assert paths["direct_spans"] == 40 and paths["mlflow_spans"] == 0
    assert paths["mlflow_imported"] == 0
    with tracer.start_as_current_span("traceloop") as span:
        span.set_attributes({"traceloop.span.kind": "task", "traceloop.entity.input": "in"})
    assert llmtrace.flush(120)
    paths = _worker_paths()
    assert paths["direct_spans"] == 40 and paths["mlflow_spans"] == 1
    assert paths["mlflow_imported"] == 1
    stats = llmtrace.stats()
    assert stats.failed == 0 and stats.dropped == 0 and stats.exported == 41
    client = MlflowClient(tracking_uri=sqlite_uri)
    experiment = client.get_experiment_by_name("tests")
    traces = client.search_traces(locations=[experiment.experiment_id], max_results=100)
    assert len(traces) == 21
    chats = [t for t in traces if t.info.request_metadata.get("mlflow.trace.session") == "c-1"]
    assert sorted(t.info.token_usage["input_tokens"] for t in chats) == list(range(1, 21))
    loop = next(t for t in traces if t.data.spans[0].name == "traceloop")
    assert loop.data.spans[0].inputs == "in"


@pytest.mark.slow
def test_export_process_prices_usage_without_importing_mlflow(sqlite_uri: str) -> None:
    """Foreign LLM spans with usage but no cost: stored by the direct path, priced from
    MLflow's catalog, MLflow never imported in the export process; read back with MLflow."""
    emit_unpriced(llmtrace.tracer_provider().get_tracer("foreign"))
    assert llmtrace.flush(60)
    paths = _worker_paths()
    assert paths["direct_spans"] == UNPRICED_TRACES and paths["mlflow_spans"] == 0
    assert paths["mlflow_imported"] == 0
    client = MlflowClient(tracking_uri=sqlite_uri)
    experiment = client.get_experiment_by_name("tests")
    traces = client.search_traces(locations=[experiment.experiment_id], max_results=100)
    assert len(traces) == UNPRICED_TRACES
    by_name = {t.data.spans[0].name: t.data.spans[0] for t in traces}
    mini = by_name["chat gpt-4o-mini"]
    assert mini.span_type == "CHAT_MODEL" and mini.model_name == "gpt-4o-mini-2024-07-18"
    assert mini.llm_cost["total_cost"] > 0
    assert by_name["chat no-such-model-3000"].llm_cost is None
    priced = [t for t in traces if t.info.cost and t.info.cost["total_cost"] > 0]
    assert len(priced) == UNPRICED_TRACES - len(UNKNOWN_MODELS)
