"""Cost in USD: the built-in price table, user prices, and no cost for unknown models."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import respx

import llmtrace
import llmtrace.openai
from llmtrace.openai import Price
from llmtrace.openai._prices import cost_of
from tests.openai_fakes import BASE_URL, USER, chat_completion, make_client


@pytest.fixture(autouse=True)
def _builtin_prices() -> Iterator[None]:
    llmtrace.openai.reset_prices()
    yield
    llmtrace.openai.reset_prices()


def test_lookup_by_name_and_dated_snapshot() -> None:
    assert llmtrace.openai.get_price("gpt-4o-mini") == Price(0.15, 0.60, 0.075)
    assert llmtrace.openai.get_price("gpt-4o-mini-2024-07-18") == Price(0.15, 0.60, 0.075)
    assert llmtrace.openai.get_price("gpt-4o-2024-05-13") == Price(5.00, 15.00)  # its own
    for unknown in ("acme-local-7b", "gpt-4o-mini-custom", "", None):
        assert llmtrace.openai.get_price(unknown) is None


def test_cost_with_cached_tokens_and_fallback_model() -> None:
    usage = {
        "input_tokens": 1_000_000,
        "output_tokens": 500_000,
        "cache_read_input_tokens": 400_000,
    }
    cost = cost_of(("gpt-4o-mini-2024-07-18", "gpt-4o-mini"), usage)
    assert cost == {
        "input_cost": pytest.approx(0.6 * 0.15 + 0.4 * 0.075),
        "output_cost": pytest.approx(0.5 * 0.60),
        "total_cost": pytest.approx(0.6 * 0.15 + 0.4 * 0.075 + 0.5 * 0.60),
    }
    # response model unknown (an Azure deployment name): the requested model is tried next
    assert cost_of(("my-deploy", "gpt-4o-mini"), usage) == cost
    assert cost_of(("acme-local-7b", None), usage) is None
    assert cost_of(("gpt-4o-mini",), {"output_tokens": 3}) is None  # no input count: no cost


def test_set_price_adds_and_overrides_and_checks_values() -> None:
    llmtrace.openai.set_price("acme-local-7b", input=1.0, output=2.0)
    assert llmtrace.openai.get_price("acme-local-7b") == Price(1.0, 2.0, None)
    llmtrace.openai.set_price("gpt-4o-mini", input=0.1, output=0.2, cached_input=0.05)
    assert llmtrace.openai.prices()["gpt-4o-mini"] == Price(0.1, 0.2, 0.05)
    for bad in ({"input": -1.0}, {"input": "cheap"}, {"input": 1.0, "cached_input": True}):
        with pytest.raises(llmtrace.LLMTraceError, match="must be a number"):
            llmtrace.openai.set_price("x", **bad)  # type: ignore[arg-type]
    with pytest.raises(llmtrace.LLMTraceError, match="needs a model name"):
        llmtrace.openai.set_price("", input=1.0)
    llmtrace.openai.reset_prices()
    assert llmtrace.openai.get_price("acme-local-7b") is None


def _stored_call(model: str) -> tuple[dict[str, object], object]:
    client = llmtrace.openai.wrap(make_client(False))
    body = chat_completion(first_turn=False)
    body["model"] = model
    with respx.mock() as router:
        router.post(BASE_URL + "/chat/completions").mock(
            return_value=httpx.Response(200, json=body)
        )
        with llmtrace.span("root") as root:
            client.chat.completions.create(model=model, messages=[USER])
    assert root.trace_id is not None
    trace = llmtrace.get_trace(root.trace_id)
    (llm,) = [s for s in trace.data.spans if s.span_type == "LLM"]
    return llm.attributes, trace.info.cost


def test_unknown_model_is_stored_without_cost(sqlite_uri: str) -> None:
    attributes, trace_cost = _stored_call("acme-local-7b")
    assert attributes["mlflow.chat.tokenUsage"]["total_tokens"] == 48  # tokens are still there
    assert "mlflow.llm.cost" not in attributes
    assert "llmtrace.llm.cost_usd" not in attributes
    assert trace_cost is None


def test_user_price_is_used_and_rolled_up(sqlite_uri: str) -> None:
    llmtrace.openai.set_price("acme-local-7b", input=1.0, output=10.0)
    attributes, trace_cost = _stored_call("acme-local-7b")
    expected = (40 * 1.0 + 8 * 10.0) / 1e6
    assert attributes["mlflow.llm.cost"]["total_cost"] == pytest.approx(expected)
    assert attributes["llmtrace.llm.cost_usd"] == pytest.approx(expected)
    assert isinstance(trace_cost, dict)
    assert trace_cost["total_cost"] == pytest.approx(expected)
