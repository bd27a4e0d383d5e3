"""Third-party OpenTelemetry instrumentations land whole in llmtrace's store (issue 13).

Real packages: OpenInference's OpenAI and LangChain instrumentors and the official
`opentelemetry-instrumentation-openai-v2`; the OpenAI API is served by respx; everything is
read back through MLflow's own client.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import respx
from mlflow import MlflowClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import evals
import llmtrace
from tests.openai_fakes import BASE_URL, FAKE_KEY, chat_completion, make_client

pytest.importorskip("openinference.instrumentation.openai")


def stored(uri: str, experiment: str = "tests") -> list[Any]:
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment!r} in {uri}"
    return client.search_traces(locations=[found.experiment_id], max_results=100)


def spans_by_name(trace: Any) -> dict[str, Any]:
    return {s.name: s for s in trace.data.spans}


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        router.post("/chat/completions").respond(json=chat_completion(first_turn=False))
        yield router


@pytest.fixture
def no_instrumentors() -> Iterator[None]:
    yield
    llmtrace.uninstrument()


def test_openinference_openai_call_nests_under_an_llmtrace_span(
    sqlite_uri: str, api: respx.MockRouter, no_instrumentors: None
) -> None:
    assert llmtrace.instrument("openai") == ["openai"]
    assert llmtrace.instrument("openai") == ["openai"]  # idempotent
    client = make_client(False)

    @llmtrace.trace(name="agent", kind="AGENT")
    def agent(question: str) -> str:
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
        )
        return reply.choices[0].message.content or ""

    answer = agent("Weather in Paris?")
    assert llmtrace.flush(60)
    (trace,) = stored(sqlite_uri)
    spans = spans_by_name(trace)
    assert "agent" in spans, [(s.name, s.span_type, s.parent_id) for s in trace.data.spans]
    root = spans["agent"]
    llm = next(s for s in trace.data.spans if s.span_type == "LLM")
    assert llm.parent_id == root.span_id
    assert root.span_type == "AGENT" and root.outputs == answer
    assert llm.inputs["messages"][0]["content"] == "Weather in Paris?"
    usage = llm.get_attribute("mlflow.chat.tokenUsage")
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert FAKE_KEY not in json.dumps([s.to_dict() for s in trace.data.spans])


def test_a_call_before_any_llmtrace_span_on_a_joined_provider_is_kept(
    tmp_path: Path, api: respx.MockRouter
) -> None:
    from openinference.instrumentation.openai import OpenAIInstrumentor

    provider = TracerProvider()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    llmtrace.configure(tracking_uri=uri, experiment="tests", tracer_provider=provider)
    assert llmtrace.tracer_provider() is provider
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        make_client(False).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "first"}]
        )
        assert llmtrace.flush(60)
    finally:
        instrumentor.uninstrument()
    (trace,) = stored(uri)
    (span,) = trace.data.spans
    assert span.span_type == "LLM"
    assert llmtrace.stats().exported == 1


PROGRAM = """
import httpx, openai, respx, llmtrace
from opentelemetry import trace
from openinference.instrumentation.openai import OpenAIInstrumentor
{setup}
reply = {reply!r}
with respx.mock(base_url="https://api.openai.com/v1") as router:
    router.post("/chat/completions").respond(json=reply)
    client = openai.OpenAI(api_key="sk-test-0123456789abcdefghijklmnopqrstuv",
                           http_client=httpx.Client(), max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini",
                                   messages=[{{"role": "user", "content": "hi"}}])
print(llmtrace.flush(60), llmtrace.stats().exported)
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "setup",
    [
        # an instrumentor on the global provider, llmtrace made it the global one
        "llmtrace.configure(set_global=True)\nOpenAIInstrumentor().instrument()",
        # the same through the environment, no configure() call at all
        "import os\nassert os.environ['LLMTRACE_SET_GLOBAL_PROVIDER']\n"
        "llmtrace.tracer_provider()\nOpenAIInstrumentor().instrument()",
        # the program set its own SDK provider as the global one first
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "trace.set_tracer_provider(TracerProvider())\n"
        "llmtrace.configure(set_global=True)\nOpenAIInstrumentor().instrument()",
        # no @trace and no provider talk: llmtrace.instrument only
        "llmtrace.instrument('openai')",
    ],
    ids=["set_global", "env", "program-provider", "instrument-only"],
)
def test_a_program_without_any_llmtrace_span_stores_the_instrumented_call(
    tmp_path: Path, setup: str
) -> None:
    code = PROGRAM.format(setup=setup, reply=chat_completion(first_turn=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMTRACE_", "OTEL_"))}
    env["LLMTRACE_SET_GLOBAL_PROVIDER"] = "true" if "environ" in setup else "false"
    env["LLMTRACE_EXPERIMENT"] = "tests"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "1"], (result.stdout, result.stderr)
    (trace,) = stored(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert [s.span_type for s in trace.data.spans] == ["LLM"]


def test_langchain_chat_model_retriever_and_tool(sqlite_uri: str, no_instrumentors: None) -> None:
    pytest.importorskip("openinference.instrumentation.langchain")
    from langchain_core.documents import Document
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.tools import tool

    llmtrace.instrument("langchain")

    class Shelf(BaseRetriever):
        def _get_relevant_documents(self, query: str, *, run_manager: Any = None) -> list[Any]:
            return [
                Document(
                    page_content="Paris is the capital of France.",
                    id="d1",
                    metadata={"source": "france.md"},
                ),
                Document(page_content="Lyon is on the Rhone.", metadata={"source": "lyon.md"}),
            ]

    @tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer from: {context}"), ("user", "{question}")]
    )
    model = FakeListChatModel(responses=["Paris."])

    @llmtrace.trace(name="rag", kind="CHAIN")
    def rag(question: str) -> str:
        docs = Shelf().invoke(question)
        add.invoke({"a": 1, "b": 2})
        return str(
            (prompt | model).invoke({"context": docs[0].page_content, "question": question}).content
        )

    assert rag("Capital of France?") == "Paris."
    assert llmtrace.flush(60)
    (trace,) = stored(sqlite_uri)
    kinds = {s.name: s.span_type for s in trace.data.spans}
    assert kinds["rag"] == "CHAIN"
    assert kinds["Shelf"] == "RETRIEVER"
    assert kinds["add"] == "TOOL"
    assert kinds["FakeListChatModel"] in ("LLM", "CHAT_MODEL")
    assert kinds["ChatPromptTemplate"] == "CHAIN"  # OpenInference's PROMPT, never UNKNOWN
    prompt_span = spans_by_name(trace)["ChatPromptTemplate"]
    assert prompt_span.get_attribute("llmtrace.span.kind") == "PROMPT"
    retriever = spans_by_name(trace)["Shelf"]
    assert [d["page_content"] for d in retriever.outputs] == [
        "Paris is the capital of France.",
        "Lyon is on the Rhone.",
    ]
    assert retriever.outputs[0]["metadata"]["source"] == "france.md"
    rows = evals.load_rows([trace])
    assert rows[0].contexts == ["Paris is the capital of France.", "Lyon is on the Rhone."]

    from llmtrace.views._model import build

    view = build(trace)
    chat = next(n for n in view.nodes() if n.name == "FakeListChatModel")
    assert [(m.role, m.text) for m in chat.input_messages or []] == [
        ("system", "Answer from: Paris is the capital of France."),
        ("user", "Capital of France?"),
    ]
    assert [(m.role, m.text) for m in chat.output_messages or []] == [("assistant", "Paris.")]
    shelf = next(n for n in view.nodes() if n.name == "Shelf")
    assert [d.content for d in shelf.documents or []] == [
        "Paris is the capital of France.",
        "Lyon is on the Rhone.",
    ]


def test_official_openai_v2_instrumentation_is_read(
    sqlite_uri: str, api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = pytest.importorskip("opentelemetry.instrumentation.openai_v2")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    instrumentor = module.OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=llmtrace.tracer_provider())
    try:
        with llmtrace.span("turn", kind="AGENT"):
            make_client(False).chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Weather?"}]
            )
        assert llmtrace.flush(60)
    finally:
        instrumentor.uninstrument()
    (trace,) = stored(sqlite_uri)
    llm = next(s for s in trace.data.spans if s.name != "turn")
    assert llm.parent_id == spans_by_name(trace)["turn"].span_id
    assert llm.span_type in ("LLM", "CHAT_MODEL")
    usage = llm.get_attribute("mlflow.chat.tokenUsage")
    assert usage and usage["input_tokens"] > 0


def test_mlflow_span_exporter_alone_in_a_users_processor_masks_and_names(
    tmp_path: Path,
) -> None:
    """No llmtrace pipeline at all: a user's own provider and BatchSpanProcessor."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(llmtrace.MlflowSpanExporter(uri, "tests")))
    tracer = provider.get_tracer("app")
    secret = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0" * 2
    with tracer.start_as_current_span("handle request") as span:
        span.set_attribute("http.request.header.authorization", f"Bearer {secret}")
        span.set_attribute("input.value", json.dumps({"messages": [f"my key is {secret}"]}))
    provider.force_flush()
    provider.shutdown()
    (trace,) = stored(uri)
    assert trace.info.tags.get("mlflow.traceName") == "handle request"
    dumped = json.dumps([s.to_dict() for s in trace.data.spans])
    assert secret not in dumped and "A1b2C3d4E5f6G7h8I9j0" not in dumped
    raw = Path(tmp_path / "mlflow.db").read_bytes()
    assert secret.encode() not in raw


def test_wrapped_and_instrumented_openai_call_is_one_llm_span(
    sqlite_uri: str, api: respx.MockRouter, no_instrumentors: None
) -> None:
    llmtrace.instrument("openai")
    client = llmtrace.openai.wrap(make_client(False))
    with llmtrace.span("turn", kind="AGENT"):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Weather?"}]
        )
    assert llmtrace.flush(60)
    (trace,) = stored(sqlite_uri)
    llm_spans = [s for s in trace.data.spans if s.span_type in ("LLM", "CHAT_MODEL")]
    assert len(llm_spans) == 1, [(s.name, s.span_type) for s in trace.data.spans]


def test_instrument_names_what_to_install() -> None:
    with pytest.raises(llmtrace.ConfigurationError, match="pip install openinference-instr"):
        llmtrace.instrument("crewai")
    with pytest.raises(llmtrace.ConfigurationError, match="unknown library 'nope'"):
        llmtrace.instrument("nope")


def test_sample_rate_applies_to_a_joined_provider(tmp_path: Path) -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = TracerProvider()
    memory = InMemorySpanExporter()
    llmtrace.configure(
        export_to_mlflow=False, exporters=[memory], tracer_provider=provider, sample_rate=0.25
    )
    tracer = provider.get_tracer("foreign")
    for i in range(400):
        with tracer.start_as_current_span(f"root-{i}"):
            with tracer.start_as_current_span(f"child-{i}"):
                pass
    assert llmtrace.flush(30)
    names = [s.name for s in memory.get_finished_spans()]
    roots = {n.split("-")[1] for n in names if n.startswith("root")}
    children = {n.split("-")[1] for n in names if n.startswith("child")}
    assert roots == children  # whole traces kept or left out
    assert 50 <= len(roots) <= 150
    s = llmtrace.stats()
    assert s.enqueued == len(names) and s.dropped == 0


def test_a_users_own_processor_sees_what_llmtrace_documents() -> None:
    """README: a user's processor on a joined provider gets the span as the SDK ended it."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = TracerProvider()
    theirs = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(theirs))
    ours = InMemorySpanExporter()
    llmtrace.configure(export_to_mlflow=False, exporters=[ours], tracer_provider=provider)
    with llmtrace.span("step", kind="RETRIEVER") as s:
        s.set_outputs(["doc one"])
    assert llmtrace.flush(30)
    (mine,) = ours.get_finished_spans()
    assert mine.attributes["openinference.span.kind"] == "RETRIEVER"
    assert mine.attributes["retrieval.documents.0.document.content"] == "doc one"
    (raw,) = theirs.get_finished_spans()
    assert raw.name == "step"


def test_older_genai_event_spans_keep_their_choice_output(tmp_path: Path) -> None:
    """GenAI semconv's per-message events: the reply is a gen_ai.choice event's ``message``."""
    provider = TracerProvider()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    llmtrace.configure(tracking_uri=uri, experiment="tests", tracer_provider=provider)
    tracer = provider.get_tracer("genai-events")
    with tracer.start_as_current_span("chat gpt-4o") as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.add_event("gen_ai.user.message", {"content": json.dumps("What is 2+2?")})
        reply = json.dumps({"role": "assistant", "content": "4"})
        span.add_event("gen_ai.choice", {"index": 0, "finish_reason": "stop", "message": reply})
    assert llmtrace.flush(60)
    (trace,) = stored(uri)
    (stored_span,) = trace.data.spans
    assert stored_span.span_type == "CHAT_MODEL"
    assert stored_span.inputs == [{"role": "user", "content": "What is 2+2?"}]
    assert stored_span.outputs == [{"role": "assistant", "content": "4"}]
