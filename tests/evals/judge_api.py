"""A fake OpenAI-compatible judge API for the judge tests, served through respx on loopback.

The judge gets an official ``openai.OpenAI`` client with ``http_client=httpx.Client()`` so respx
intercepts it, and a loopback ``base_url`` (nothing could leave the machine even unmocked).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import respx
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmtrace
from evals import OpenAIJudge

BASE_URL = "http://127.0.0.1:8931/v1"
CHAT_URL = BASE_URL + "/chat/completions"
EMBED_URL = BASE_URL + "/embeddings"
FAKE_KEY = "sk-judge-FAKEKEY0123456789abcdefXYZ"
MODEL = "gpt-4o-mini"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5}, "reason": {}},
    "required": ["score", "reason"],
}


def make_judge(tmp_path: Path, **kwargs: Any) -> OpenAIJudge:
    """A judge on the fake API with a cache file in ``tmp_path`` and fast backoff."""
    model = kwargs.pop("model", MODEL)
    client = openai.OpenAI(api_key=FAKE_KEY, base_url=BASE_URL, http_client=httpx.Client())
    options: dict[str, Any] = {
        "cache_path": tmp_path / "judge_cache.sqlite",
        "retry_base_delay": 0.01,
        **kwargs,
    }
    return OpenAIJudge(model, client, **options)


def completion(
    content: str | dict[str, Any],
    *,
    prompt_tokens: int = 100,
    completion_tokens: int = 20,
    model: str = "gpt-4o-mini-2024-07-18",
) -> httpx.Response:
    """A ``chat.completion`` response whose message is ``content`` (dicts sent as JSON)."""
    text = content if isinstance(content, str) else json.dumps(content)
    return httpx.Response(
        200,
        json={
            "id": "chatcmpl-judge",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        },
    )


def ask(judge: OpenAIJudge, question: str = "Is the sky blue?", version: str = "1") -> Any:
    """One `OpenAIJudge.ask` with the test schema."""
    return judge.ask(
        prompt_id="test.prompt",
        prompt_version=version,
        messages=[
            {"role": "system", "content": "Reply in JSON."},
            {"role": "user", "content": question},
        ],
        schema=SCHEMA,
    )


def body(call: Any) -> dict[str, Any]:
    """The JSON body of a recorded respx call."""
    return json.loads(call.request.content)


def prompt_id_of(request: httpx.Request) -> str:
    """The judge prompt id a chat request carries (its structured-output schema name)."""
    return json.loads(request.content)["response_format"]["json_schema"]["name"]


class InFlight:
    """A respx side effect that answers after ``delay`` s and records the most calls at once."""

    def __init__(self, reply: Callable[[httpx.Request], httpx.Response], delay: float) -> None:
        self.reply = reply
        self.delay = delay
        self.now = 0
        self.most = 0
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            time.sleep(self.delay)
            return self.reply(request)
        finally:
            with self._lock:
                self.now -= 1


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    """respx on the fake API; every test sets the chat route's side effect it needs."""
    with respx.mock(assert_all_called=False) as router:
        router.post(CHAT_URL, name="chat")
        router.post(EMBED_URL, name="embeddings")
        yield router


@pytest.fixture
def spans() -> InMemorySpanExporter:
    """llmtrace exporting judge spans to memory only (no MLflow store, nothing in the cwd)."""
    exporter = InMemorySpanExporter()
    llmtrace.configure(export_to_mlflow=False, exporters=[exporter], schedule_delay_ms=10)
    return exporter
