"""`_translate.translate` equals MLflow's `translate_span_when_storing` on the covered key sets.

Attribute sets are generated (hypothesis) from the GenAI semantic conventions, OpenInference and
llmtrace.openai's keys, with the values whose form changes MLflow's answer: JSON text, JSON
text of falsy values, numbers as text, booleans, double-encoded strings, unknown span kinds,
mixed-case operation names, message events. Each set becomes a real OTel span, converted as the
export process converts it (`to_mlflow_span`), and both functions translate it.
"""

from __future__ import annotations

import json
from typing import Any

import mlflow
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanContext, TraceFlags

from llmtrace.export import _translate
from llmtrace.export._exporter_mlflow import to_mlflow_span

pytestmark = pytest.mark.skipif(
    not mlflow.__version__.startswith("3.17."), reason="checked against MLflow 3.17"
)

_TEXT = st.sampled_from(
    ["", "0", "12", '"12"', "x", "null", "[]", "{}", '""', '"gpt-4o"', "gpt-4o", "true", "3.5",
     '{"a": 1}', '[{"role": "user", "content": "hi"}]', '"[1, 2]"', '"{\\"model\\": \\"m\\"}"',
     '{"model": "in-json"}', "CHAT", "Chat", "LLM"]
)  # fmt: skip
_VALUE = st.one_of(
    _TEXT, st.integers(-3, 40), st.booleans(), st.floats(0, 2, allow_nan=False),
    st.tuples(st.sampled_from(["stop", "length"])),
)  # fmt: skip
_KINDS = st.sampled_from(
    ["chat", "Chat", "embeddings", "execute_tool", "invoke_agent", "response", "unknown",
     "text_completion", "LLM", "TOOL", "RETRIEVER", "UNKNOWN", "GUARDRAIL", "nope", ""]
)  # fmt: skip
_GENAI = sorted(k for k in _translate._COVERED_KEYS if k.startswith("gen_ai."))
_OTHER = sorted(k for k in _translate._COVERED_KEYS if not k.startswith("gen_ai."))
_MLFLOW = [
    "mlflow.spanType", "mlflow.spanInputs", "mlflow.spanOutputs", "mlflow.chat.tokenUsage",
    "mlflow.llm.cost", "mlflow.llm.model", "mlflow.llm.provider", "mlflow.chat.tools",
    "mlflow.message.format", "llmtrace.openai.api", "llm.input_messages.0.message.content",
]  # fmt: skip
_KEY = st.sampled_from(_GENAI + _OTHER + _MLFLOW)
_ATTRIBUTES = st.dictionaries(_KEY, _VALUE, max_size=12).flatmap(
    lambda base: st.fixed_dictionaries(
        {},
        optional={
            "gen_ai.operation.name": _KINDS,
            "openinference.span.kind": _KINDS,
            "mlflow.spanType": st.sampled_from(["UNKNOWN", "LLM", "CHAIN", '"UNKNOWN"']),
        },
    ).map(lambda extra: {**base, **extra})
)
_EVENT = st.tuples(
    st.sampled_from(
        ["gen_ai.user.message", "gen_ai.system.message", "gen_ai.assistant.message",
         "gen_ai.choice", "gen_ai.tool.message", "exception", "note"]
    ),
    st.dictionaries(st.sampled_from(["content", "role", "index"]), _VALUE, max_size=3),
)  # fmt: skip


@pytest.fixture(autouse=True)
def _offline_prices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_MODEL_CATALOG_URI", "")  # MLflow's bundled catalog, no network


def _span(attributes: dict[str, Any], events: list[tuple[str, dict[str, Any]]]) -> Any:
    context = SpanContext(0xABC, 0x1234, is_remote=False, trace_flags=TraceFlags(1))
    otel = ReadableSpan(
        name="s",
        context=context,
        attributes=attributes,
        events=[Event(name, attrs, 1) for name, attrs in events],
        start_time=1,
        end_time=2,
    )
    return to_mlflow_span(otel)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(attributes=_ATTRIBUTES, events=st.lists(_EVENT, max_size=3))
def test_translate_equals_mlflow(attributes: dict[str, Any], events: list[Any]) -> None:
    from mlflow.tracing.otel.translation import translate_span_when_storing

    span = _span(attributes, events)
    span_dict = span.to_dict()
    assert _translate.covered(span_dict["attributes"], [name for name, _ in events])
    try:
        expected = translate_span_when_storing(span)["attributes"]
    except TypeError:  # an unhashable span kind: MLflow's store fails the trace, so must we
        with pytest.raises(TypeError):
            _translate.translate(span_dict["attributes"], span_dict["events"])
        return
    got = _translate.translate(span_dict["attributes"], span_dict["events"])
    if _translate.needs_pricing(got):
        _translate.price(got)
    assert list(got.items()) == list(expected.items())  # same keys, values and order


@pytest.mark.parametrize(
    "keys",
    [
        ["gen_ai.agent.name"],  # Gemini CLI's marker
        ["gen_ai.prompt.0.content"],  # Traceloop
        ["traceloop.span.kind"],
        ["lk.agent_name"],
        ["span.type"],  # Claude Code, VoltAgent
        ["input"],
        ["ai.operationId"],
        ["retrieval.documents.0.document.content"],
    ],
)
def test_other_schemas_are_not_covered(keys: list[str]) -> None:
    assert not _translate.covered(["mlflow.spanType", *keys], [])


def test_spring_ai_events_are_not_covered() -> None:
    assert not _translate.covered([], ["gen_ai.content.prompt"])
    assert _translate.covered([], ["gen_ai.user.message", "exception"])


def test_pricing_is_mlflows() -> None:
    attributes = {
        "mlflow.chat.tokenUsage": json.dumps({"input_tokens": 1000, "output_tokens": 10}),
        "mlflow.llm.model": json.dumps("gpt-4o-mini"),
    }
    assert _translate.needs_pricing(attributes)
    _translate.price(attributes)
    assert json.loads(attributes["mlflow.llm.cost"])["total_cost"] > 0
    zero = {**attributes, "mlflow.chat.tokenUsage": json.dumps({"input_tokens": 0})}
    del zero["mlflow.llm.cost"]
    assert not _translate.needs_pricing(zero)
