"""`_translate.translate` equals MLflow's `translate_span_when_storing` on the covered key sets.

Attribute sets are generated (hypothesis) from the GenAI semantic conventions, OpenInference and
llmtrace.openai's keys, with the values whose form changes MLflow's answer: JSON text, JSON
text of falsy values, numbers as text, booleans, double-encoded strings, unknown span kinds,
mixed-case operation names, message events. Each set becomes a real OTel span, converted as the
export process converts it (`to_mlflow_span`), and both functions translate it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanContext, TraceFlags

from llmtrace.export import _catalog, _translate
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


def _both(model: Any, usage: Any, provider: Any) -> tuple[Any, Any]:
    """(`_catalog.cost`, MLflow's function) on the same arguments; an exception as its type."""
    from mlflow.tracing.utils import calculate_cost_by_model_and_token_usage

    answers = []
    for function in (_catalog.cost, calculate_cost_by_model_and_token_usage):
        try:
            answers.append(function(model, usage, provider))
        except Exception as exc:
            answers.append(type(exc))
    return answers[0], answers[1]


def test_catalog_cost_equals_mlflow_for_every_catalog_entry() -> None:
    """Every model of every bundled provider file: by provider, without one (MLflow scans all
    files), and provider-prefixed; with cache reads and writes (1-hour part too)."""
    folder = _catalog._catalog_dir()
    usage = {"input_tokens": 1234, "output_tokens": 56, "cache_read_input_tokens": 300}
    cached = {**usage, "cache_creation_input_tokens": 200}
    hour = {**cached, "cache_creation_input_tokens_above_1hr": 70}
    priced = 0
    for path in sorted(folder.glob("*.json")):
        for model in json.loads(path.read_text("utf-8"))["models"]:
            for args in (
                (model, usage, path.stem),
                (model, cached, path.stem.upper()),
                (model, hour, None),
                (f"{path.stem}/{model}", usage, None),
            ):
                got, expected = _both(*args)
                assert got == expected, args
                priced += bool(got and got["total_cost"])
    assert priced > 4000


_MODELS = st.sampled_from(
    ["gpt-4o-mini", "openai/gpt-4o", "azure/gpt-4o", "eu/gpt-4.1", "claude-haiku-4-5",
     "databricks-claude-haiku-4-5", "databricks/databricks-claude-opus-4", "gateway:/x",
     "endpoints:/y", "no-such-model", "text-embedding-3-small", "dall-e-3", "", "GPT-4O"]
)  # fmt: skip
_PROVIDERS = st.sampled_from(
    [None, "", "openai", "OpenAI", "anthropic", "azure", "databricks", "nope", "openai ", 3,
     ["openai"], "vertex_ai", "gemini"]
)  # fmt: skip
_TOKENS = st.one_of(st.integers(-5, 10**7), st.sampled_from([0, 1.5, "12", None, True]))
_USAGE = st.one_of(
    st.dictionaries(
        st.sampled_from(
            ["input_tokens", "output_tokens", "total_tokens", "cache_read_input_tokens",
             "cache_creation_input_tokens", "cache_creation_input_tokens_above_1hr"]
        ),
        _TOKENS,
    ),
    st.sampled_from([None, [], [1], "x"]),
)  # fmt: skip


@settings(max_examples=800, deadline=None)
@given(
    model=st.one_of(_MODELS, st.sampled_from([None, 5, ["m"]])),
    usage=_USAGE,
    provider=_PROVIDERS,
)
def test_catalog_cost_equals_mlflow(model: Any, usage: Any, provider: Any) -> None:
    got, expected = _both(model, usage, provider)
    assert got == expected
    if isinstance(got, dict):
        assert list(got) == list(expected)


def test_catalog_defers_to_mlflow_where_it_was_not_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    usage = {"input_tokens": 10, "output_tokens": 2}
    assert _catalog.cost("gpt-4o", usage, "openai")
    with pytest.raises(_catalog.Unchecked):  # a provider that is a path
        _catalog.cost("gpt-4o", usage, "../model_catalog/openai")
    monkeypatch.delenv("MLFLOW_MODEL_CATALOG_URI")  # MLflow would fetch the provider's file
    with pytest.raises(_catalog.Unchecked):
        _catalog.cost("gpt-4o", usage, "openai")
    assert _catalog.cost("gpt-4o", usage, None)  # without a provider: bundled files only
    for change in ("litellm", "release"):
        _catalog._catalog_dir.cache_clear()
        with monkeypatch.context() as patch:
            if change == "litellm":  # an importable LiteLLM: MLflow prices with it
                (tmp_path / "litellm").mkdir()
                (tmp_path / "litellm" / "__init__.py").write_text("")
                patch.syspath_prepend(str(tmp_path))
            else:
                patch.setattr(_catalog, "CHECKED_MLFLOW", ("9.",))
            with pytest.raises(_catalog.Unchecked):
                _catalog.cost("gpt-4o", usage, None)
        _catalog._catalog_dir.cache_clear()
    assert _catalog.cost("gpt-4o", usage, None)


def test_price_reads_the_catalog_without_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    """`price` answers from the catalog itself (False: MLflow not asked), and asks MLflow
    where the catalog path declines (True), with the same cost."""
    attributes = {
        "mlflow.chat.tokenUsage": json.dumps({"input_tokens": 1000, "output_tokens": 10}),
        "mlflow.llm.model": json.dumps("gpt-4o-mini"),
        "mlflow.llm.provider": json.dumps("openai"),
    }
    direct = dict(attributes)
    assert _translate.price(direct) is False
    monkeypatch.setenv("MLFLOW_MODEL_CATALOG_URI", "file:///nonexistent")  # read, falls back
    by_mlflow = dict(attributes)
    assert _translate.price(by_mlflow) is True
    assert direct["mlflow.llm.cost"] == by_mlflow["mlflow.llm.cost"]
