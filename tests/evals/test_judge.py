"""OpenAIJudge against a fake API (official openai client + respx): parsing, retries, cost."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import respx

from evals import OpenAIJudge
from evals._types import JudgeParseError
from llmtrace.openai._prices import Price, get_price
from llmtrace.testing import Reply, StandIn
from tests.evals import judge_api
from tests.evals.judge_api import BASE_URL, FAKE_KEY, SCHEMA, ask, body, completion, make_judge

api = judge_api.api  # fixtures
spans = judge_api.spans

pytestmark = pytest.mark.usefixtures("spans")


def _cost(model: str, prompt: int, output: int) -> float:
    price = get_price(model)
    assert price is not None
    return (prompt * price.input + output * price.output) / 1e6


def test_structured_reply_is_parsed_and_costed(api: respx.MockRouter, tmp_path: Path) -> None:
    api["chat"].side_effect = [
        completion({"score": 4, "reason": "mostly"}, prompt_tokens=120, completion_tokens=15)
    ]
    judge = make_judge(tmp_path)
    reply = ask(judge)

    assert reply.data == {"score": 4, "reason": "mostly"}
    assert json.loads(reply.raw) == reply.data
    assert (reply.prompt_tokens, reply.completion_tokens, reply.cached) == (120, 15, False)
    assert reply.cost_usd == pytest.approx(_cost("gpt-4o-mini", 120, 15))
    sent = body(api["chat"].calls[0])
    assert sent["model"] == "gpt-4o-mini"
    assert (sent["temperature"], sent["seed"]) == (0, 0)
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "test_prompt", "schema": SCHEMA, "strict": False},
    }
    usage = judge.usage()
    assert usage["calls"] == 1 and usage["cached_calls"] == 0
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (120, 15)
    assert usage["cost_usd"] == pytest.approx(reply.cost_usd)
    assert usage["skipped_by_budget"] == 0


@pytest.mark.parametrize(
    "fenced", ['```json\n{"score": 2, "reason": "r"}\n```', 'Sure! {"score": 2, "reason": "r"}']
)
def test_fenced_or_prefixed_json_is_accepted(
    api: respx.MockRouter, tmp_path: Path, fenced: str
) -> None:
    api["chat"].side_effect = [completion(fenced)]
    assert ask(make_judge(tmp_path)).data == {"score": 2, "reason": "r"}
    assert api["chat"].call_count == 1


@pytest.mark.parametrize(
    "bad, problem",
    [
        ("The score is four.", "not JSON"),
        ('{"score": "four", "reason": "r"}', "at score"),
        ('{"reason": "r"}', "'score' is a required property"),
        ('["score", 4]', "expected a JSON object"),
    ],
)
def test_invalid_reply_is_reasked_with_the_problem(
    api: respx.MockRouter, tmp_path: Path, bad: str, problem: str
) -> None:
    api["chat"].side_effect = [
        completion(bad, prompt_tokens=50, completion_tokens=5),
        completion({"score": 3, "reason": "ok"}, prompt_tokens=70, completion_tokens=6),
    ]
    judge = make_judge(tmp_path)
    reply = ask(judge)

    assert reply.data == {"score": 3, "reason": "ok"}
    assert api["chat"].call_count == 2
    retry = body(api["chat"].calls[1])["messages"]
    assert retry[-2] == {"role": "assistant", "content": bad}
    assert retry[-1]["role"] == "user" and problem in retry[-1]["content"]
    assert (reply.prompt_tokens, reply.completion_tokens) == (120, 11)  # both attempts
    assert judge.usage()["parse_failures"] == 1
    assert judge.usage()["calls"] == 2


def test_always_invalid_raises_parse_error_with_raw_and_is_not_cached(
    api: respx.MockRouter, tmp_path: Path
) -> None:
    replies = ["nope", "still nope", '{"score": 9, "reason": "out of range"}']
    sent = iter(replies * 2)
    api["chat"].side_effect = lambda request: completion(next(sent))
    judge = make_judge(tmp_path, parse_retries=2)
    with pytest.raises(JudgeParseError) as caught:
        ask(judge)

    assert caught.value.raw == replies[-1]
    assert "after 3 attempt(s)" in str(caught.value) and "at score" in str(caught.value)
    assert caught.value.prompt_tokens == 300 and caught.value.completion_tokens == 60
    assert caught.value.cost_usd == pytest.approx(_cost("gpt-4o-mini", 300, 60))
    assert api["chat"].call_count == 3
    with pytest.raises(JudgeParseError):  # a failure is not cached: the rerun asks again
        ask(judge)
    assert api["chat"].call_count == 6
    assert judge.usage()["parse_failures"] == 6


@pytest.mark.parametrize("header, value", [("retry-after", "0.3"), ("retry-after-ms", "300")])
def test_429_retry_after_is_honoured(
    api: respx.MockRouter, tmp_path: Path, header: str, value: str
) -> None:
    api["chat"].side_effect = [
        httpx.Response(429, json={"error": {"message": "slow down"}}, headers={header: value}),
        completion({"score": 5, "reason": "fine"}),
    ]
    judge = make_judge(tmp_path, retry_base_delay=5.0)  # backoff alone would wait 2.5-5 s
    started = time.monotonic()
    reply = ask(judge)
    waited = time.monotonic() - started

    assert reply.data["score"] == 5
    assert api["chat"].call_count == 2
    assert 0.3 <= waited < 2.0
    assert judge.usage()["retries"] == 1 and judge.usage()["calls"] == 2


def test_5xx_retried_with_backoff_then_raised(api: respx.MockRouter, tmp_path: Path) -> None:
    api["chat"].side_effect = lambda request: httpx.Response(500, json={"error": {"message": "x"}})
    judge = make_judge(tmp_path, max_retries=3, retry_base_delay=0.2, retry_max_delay=0.5)
    waits: list[float] = []
    judge._sleep = waits.append  # record the backoff instead of sleeping it

    with pytest.raises(openai.InternalServerError):
        ask(judge)
    assert api["chat"].call_count == 4  # one try + 3 retries, the SDK's own retries are off
    assert len(waits) == 3
    for attempt, wait in enumerate(waits):  # exponential, capped, jittered in [d/2, d]
        ceiling = min(0.5, 0.2 * 2**attempt)
        assert ceiling / 2 <= wait <= ceiling
    assert judge.usage()["retries"] == 3 and judge.usage()["calls"] == 4


@pytest.mark.parametrize("error", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])
def test_connection_errors_and_timeouts_are_retried(
    api: respx.MockRouter, tmp_path: Path, error: Exception
) -> None:
    api["chat"].side_effect = [error, completion({"score": 1, "reason": "r"})]
    assert ask(make_judge(tmp_path)).data["score"] == 1
    assert api["chat"].call_count == 2


def test_client_errors_are_not_retried(api: respx.MockRouter, tmp_path: Path) -> None:
    api["chat"].side_effect = lambda request: httpx.Response(400, json={"error": {"message": "b"}})
    judge = make_judge(tmp_path)
    with pytest.raises(openai.BadRequestError):
        ask(judge)
    assert api["chat"].call_count == 1
    assert judge.usage()["retries"] == 0


def test_the_clients_own_retries_are_off(api: respx.MockRouter, tmp_path: Path) -> None:
    api["chat"].side_effect = lambda request: httpx.Response(429, headers={"retry-after": "0"})
    client = openai.OpenAI(
        api_key=FAKE_KEY, base_url=BASE_URL, http_client=httpx.Client(), max_retries=5
    )
    judge = OpenAIJudge("gpt-4o-mini", client, max_retries=0, cache=False)
    with pytest.raises(openai.RateLimitError):
        ask(judge)
    assert api["chat"].call_count == 1
    assert client.max_retries == 5  # the caller's client is left as it was


def test_unknown_model_has_no_cost_never_a_guess(api: respx.MockRouter, tmp_path: Path) -> None:
    api["chat"].side_effect = [completion({"score": 2, "reason": "r"}, model="my-local-llm")]
    judge = make_judge(tmp_path, model="my-local-llm")
    reply = ask(judge)
    assert reply.cost_usd is None
    assert judge.usage()["cost_usd"] is None
    assert judge.usage()["prompt_tokens"] == 100
    with pytest.raises(ValueError, match="price"):
        judge.budget_usd = 1.0  # a budget needs a price


def test_own_prices_are_used(api: respx.MockRouter, tmp_path: Path) -> None:
    api["chat"].side_effect = [completion({"score": 2, "reason": "r"}, model="my-local-llm")]
    judge = make_judge(tmp_path, model="my-local-llm", prices={"my-local-llm": Price(2.0, 4.0)})
    reply = ask(judge)
    assert reply.cost_usd == pytest.approx((100 * 2.0 + 20 * 4.0) / 1e6)


def test_json_object_mode_and_no_seed(api: respx.MockRouter, tmp_path: Path) -> None:
    api["chat"].side_effect = [completion({"score": 2, "reason": "r"})]
    judge = make_judge(tmp_path, response_format="json_object", seed=None, temperature=None)
    ask(judge)
    sent = body(api["chat"].calls[0])
    assert sent["response_format"] == {"type": "json_object"}
    assert "seed" not in sent and "temperature" not in sent


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        make_judge(tmp_path, max_concurrency=0)
    with pytest.raises(ValueError, match="response_format"):
        make_judge(tmp_path, response_format="xml")
    with pytest.raises(TypeError, match="sync"):
        OpenAIJudge("gpt-4o-mini", openai.AsyncOpenAI(api_key=FAKE_KEY))
    judge = make_judge(tmp_path)
    with pytest.raises(ValueError, match="schema"):
        judge.ask(
            prompt_id="p",
            prompt_version="1",
            messages=[{"role": "user", "content": "x"}],
            schema={"type": "no-such-type"},
        )
    assert FAKE_KEY not in repr(judge)


def _embedding_reply(request: httpx.Request) -> httpx.Response:
    inputs: list[str] = json.loads(request.content)["input"]
    data: list[dict[str, Any]] = [
        {"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0, 0.0]}
        for i, t in enumerate(inputs)
    ]
    tokens = sum(len(t.split()) for t in inputs)
    return httpx.Response(
        200,
        json={
            "object": "list",
            "model": "text-embedding-3-small",
            "data": data,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        },
    )


def test_embed_batches_and_caches(api: respx.MockRouter, tmp_path: Path) -> None:
    api["embeddings"].side_effect = _embedding_reply
    judge = make_judge(tmp_path)
    vectors = judge.embed(["a", "bbb", "a"])
    assert vectors == [[1.0, 1.0, 0.0], [3.0, 1.0, 0.0], [1.0, 1.0, 0.0]]
    assert api["embeddings"].call_count == 1
    assert sorted(body(api["embeddings"].calls[0])["input"]) == ["a", "bbb"]
    assert judge.embed(["bbb", "a"]) == [[3.0, 1.0, 0.0], [1.0, 1.0, 0.0]]
    assert api["embeddings"].call_count == 1  # all from the cache
    judge.embed(["a", "cc"])
    assert body(api["embeddings"].calls[1])["input"] == ["cc"]  # only what is missing
    assert judge.usage()["prompt_tokens"] == 3


def _local_reply(body: dict[str, Any]) -> Reply:
    """The answer of a local OpenAI-compatible server that sends no usage, like some do."""
    return Reply(json.dumps({"score": len(body["messages"]), "reason": "local"}), usage=False)


def test_any_openai_compatible_base_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with StandIn(_local_reply) as server:  # a real HTTP server on 127.0.0.1
        judge = OpenAIJudge(
            "llama3.1:8b",
            base_url=server.url,
            response_format="json_object",
            cache_path=tmp_path / "c.sqlite",
        )
        reply = ask(judge)
        assert ask(judge).cached
    assert reply.data == {"score": 2, "reason": "local"}
    assert (reply.prompt_tokens, reply.cost_usd) == (0, None)  # no usage sent, no price known
    requests = server.requests
    assert len(requests) == 1 and requests[0].path == "/v1/chat/completions"
    assert requests[0].body["response_format"] == {"type": "json_object"}
    assert judge.usage()["cost_usd"] is None
