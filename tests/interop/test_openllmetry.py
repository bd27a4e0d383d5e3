"""OpenLLMetry's OpenAI instrumentation (Traceloop's `opentelemetry-instrumentation-openai`,
not the official ``-v2``) lands whole in llmtrace's store.

The real package instruments the official `openai` client; respx serves the API; the spans go
through llmtrace's export process (its direct SQLite path: MLflow is not imported there) and
are read back through MLflow's own client: nesting, span type, messages, tokens, model,
provider and the cost MLflow's catalog gives.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

import llmtrace
from tests.interop.test_instrumentors import stored
from tests.openai_fakes import (
    BASE_URL,
    FAKE_KEY,
    RESPONSE_MODEL,
    chat_chunks,
    chat_completion,
    make_client,
    sse,
)

traceloop = pytest.importorskip("opentelemetry.instrumentation.openai")
if not hasattr(traceloop, "OpenAIInstrumentor"):  # pragma: no cover - another distribution
    pytest.skip("not Traceloop's OpenAI instrumentation", allow_module_level=True)


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    """A whole completion for the first call, the same streamed (with usage) for the second."""
    whole = httpx.Response(200, json=chat_completion(first_turn=False))
    streamed = httpx.Response(
        200,
        content=sse(chat_chunks(first_turn=False, include_usage=True)),
        headers={"content-type": "text/event-stream"},
    )
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        router.post("/chat/completions").mock(side_effect=[whole, streamed])
        yield router


@pytest.fixture
def instrumented() -> Iterator[None]:
    instrumentor = traceloop.OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=llmtrace.tracer_provider())
    yield
    instrumentor.uninstrument()
    _unwrap_leftovers()


def _unwrap_leftovers() -> None:
    """0.62.4's `uninstrument` leaves its wrapper on ``Completions.create`` (and others): a
    later test's OpenAI call would still open a span of it, under a provider since shut down.
    Put back what every `openai` class had before it was wrapped."""
    import inspect
    import sys

    import wrapt

    for name, module in list(sys.modules.items()):
        if not name.startswith("openai.resources"):
            continue
        for cls in [c for c in vars(module).values() if inspect.isclass(c)]:
            for attr, value in list(vars(cls).items()):
                if isinstance(value, wrapt.FunctionWrapper):
                    setattr(cls, attr, value.__wrapped__)


def _worker_paths() -> dict[str, int]:
    from llmtrace import _runtime

    pipeline = _runtime._pipeline
    assert pipeline is not None
    return dict(pipeline.mlflow_exporter.counters())


def test_openllmetry_chat_calls_are_stored_whole(
    sqlite_uri: str, api: respx.MockRouter, instrumented: None
) -> None:
    """A whole and a streamed chat completion (one instrumentation for both: instrumenting
    again after `uninstrument` doubled the streamed text in 0.62.4)."""
    messages = [{"role": "user", "content": "Weather?"}]
    client = make_client(False)
    answers = {}
    with llmtrace.span("whole", kind="AGENT"):
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        answers["whole"] = reply.choices[0].message.content or ""
    with llmtrace.span("stream", kind="AGENT"):
        chunks = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
        )
        answers["stream"] = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert llmtrace.flush(60)
    traces = stored(sqlite_uri)
    roots = {s.name: s for t in traces for s in t.data.spans if s.parent_id is None}
    assert sorted(roots) == ["stream", "whole"]
    for trace in traces:
        (turn,) = [s for s in trace.data.spans if s.parent_id is None]
        (llm,) = [s for s in trace.data.spans if s.parent_id is not None]
        assert llm.parent_id == turn.span_id
        assert llm.span_type == "CHAT_MODEL"
        assert [m["role"] for m in llm.inputs] == ["user"]
        assert json.dumps(llm.inputs).count("Weather?") == 1
        (output,) = llm.outputs
        assert output["parts"][0]["content"] == answers[turn.name] == "It is sunny in Paris."
        usage = llm.get_attribute("mlflow.chat.tokenUsage")
        assert usage == {
            "input_tokens": 40, "output_tokens": 8, "total_tokens": 48, "cache_read_input_tokens": 0
        }  # fmt: skip
        assert trace.info.token_usage["total_tokens"] == 48
        assert llm.model_name == RESPONSE_MODEL
        assert llm.get_attribute("mlflow.llm.provider") == "openai"
        cost: Any = llm.llm_cost  # priced from MLflow's bundled catalog (0.15 / 0.60 USD per 1M)
        assert cost["input_cost"] == pytest.approx(40 * 0.15e-6)
        assert cost["output_cost"] == pytest.approx(8 * 0.6e-6)
        assert trace.info.cost["total_cost"] == pytest.approx(cost["total_cost"])
    assert FAKE_KEY not in json.dumps([s.to_dict() for t in traces for s in t.data.spans])
    paths = _worker_paths()
    assert paths["direct_spans"] == 4 and paths["mlflow_spans"] == 0
    assert paths["mlflow_imported"] == 0
