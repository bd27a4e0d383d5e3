"""`OpenAIJudge`: an LLM judge on any OpenAI-compatible chat API, cheap, bounded and reproducible.

One `ask` is: cache lookup → budget check → API call (our retries on 429/5xx/timeouts, a global
concurrency limit) → JSON parse and schema validation (re-asked when invalid) → cost accounting
→ cache write. Each call that reaches the API is an EVALUATOR trace of its own.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from llmtrace.openai import Price
from llmtrace.semconv import (
    LLMTRACE_JUDGE_ATTEMPTS,
    LLMTRACE_JUDGE_PROMPT_ID,
    LLMTRACE_JUDGE_PROMPT_VERSION,
    LLMTRACE_JUDGE_RETRIES,
    LLMTRACE_LLM_COST_USD,
)

from .._types import JudgeParseError, JudgeReply
from ._budget import Ledger, PriceBook, estimate_prompt_tokens
from ._cache import JudgeCache, cache_key, default_cache_path
from ._parse import Invalid, make_validator, parse_reply, reply_text
from ._retry import Backoff, is_retryable
from ._tracing import judge_span

__all__ = ["OpenAIJudge"]

logger = logging.getLogger("llmtrace.evals.judge")
T = TypeVar("T")

_SCHEMA_NAME = re.compile(r"[^a-zA-Z0-9_-]")
_RESPONSE_FORMATS = ("json_schema", "json_object", None)
_EMBED_BATCH = 256


def _make_client(
    client: Any, base_url: str | None, api_key: str | None, timeout: float | None
) -> Any:
    """Our own copy of the client with the SDK's retries off (ours are the only ones)."""
    import openai

    options: dict[str, Any] = {"max_retries": 0}
    if timeout is not None:
        options["timeout"] = timeout
    if client is None:
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if key is None and base_url is not None:
            key = "not-needed"  # local OpenAI-compatible servers ignore the key
        return openai.OpenAI(api_key=key, base_url=base_url, **options)
    if isinstance(client, openai.AsyncOpenAI):
        raise TypeError("OpenAIJudge needs a sync client (openai.OpenAI), got AsyncOpenAI")
    if not isinstance(client, openai.OpenAI):
        raise TypeError(f"client must be an openai.OpenAI client, got {type(client).__name__}")
    if base_url is not None:
        options["base_url"] = base_url
    if api_key is not None:
        options["api_key"] = api_key
    return client.with_options(**options)


class OpenAIJudge:
    """An LLM judge on the OpenAI API or any OpenAI-compatible server (vLLM, Ollama, LM Studio).

    Replies are JSON validated against the asker's schema; an invalid reply is re-asked
    (``parse_retries`` times) and then raises `JudgeParseError` with the raw reply. Rate limits,
    5xx, timeouts and connection errors are retried ``max_retries`` times with exponential
    backoff and jitter, honouring ``Retry-After`` (the SDK's own retries are turned off). At
    most ``max_concurrency`` requests are in flight, across all threads. Validated replies are
    cached in SQLite (``cache_path``, default ``.llmtrace/judge_cache.sqlite``), so a rerun of
    an unchanged row makes no API call. ``budget_usd`` stops new calls before the spend (plus
    a conservative estimate of the next call) would exceed it. `usage` reports calls, cache
    hits, tokens, cost and calls skipped by the budget.

    Args:
        model: the judge model, e.g. ``"gpt-4o-mini"``.
        client: an ``openai.OpenAI`` client to copy (its key, base URL, headers); default: a
            new one from ``api_key``/``base_url`` or the ``OPENAI_*`` environment variables.
        temperature: sampling temperature (None: the server's default).
        seed: sampling seed for reproducible replies (None: not sent).
        base_url: an OpenAI-compatible endpoint, e.g. ``"http://127.0.0.1:8000/v1"``.
        api_key: the API key (never recorded in traces); a local ``base_url`` needs none.
        max_concurrency: requests in flight at once, shared by all threads using this judge.
        max_retries: retries of one request on 429, 5xx, 408/409, timeouts, connection errors.
        cache: read and write the on-disk cache (settable later as ``cache_enabled``).
        cache_path: the SQLite file; default ``$LLMTRACE_JUDGE_CACHE`` or
            ``.llmtrace/judge_cache.sqlite`` in the working folder.
        budget_usd: stop before spending more than this (needs a price for ``model``).
        prices: per-judge prices (USD per 1M tokens) by model name, as ``Price`` or dicts
            ``{"input": .., "output": ..}``; others come from `llmtrace.openai.set_price`.
        parse_retries: re-asks after a reply that is not valid JSON for the schema.
        response_format: ``"json_schema"`` (structured outputs), ``"json_object"`` (JSON mode,
            for servers without structured outputs) or None (the prompt alone asks for JSON).
        embedding_model: the model `embed` uses.
        timeout: seconds per request (None: the client's own timeout).
        retry_base_delay: first backoff delay in seconds (doubles each retry).
        retry_max_delay: longest backoff delay in seconds without a ``Retry-After``.
        trace: record judge calls as EVALUATOR traces.

    Example:
        >>> judge = OpenAIJudge("gpt-4o-mini", budget_usd=1.0)
        >>> schema = {"type": "object", "properties": {"polite": {"type": "boolean"}},
        ...           "required": ["polite"]}
        >>> reply = judge.ask(prompt_id="polite", prompt_version="1", schema=schema,
        ...                   messages=[{"role": "user", "content": "Is 'thanks!' polite?"}])
        >>> reply.data["polite"], judge.usage()["cost_usd"]
        (True, 2.1e-05)
    """

    def __init__(
        self,
        model: str,
        client: Any = None,
        *,
        temperature: float | None = 0,
        seed: int | None = 0,
        base_url: str | None = None,
        api_key: str | None = None,
        max_concurrency: int = 8,
        max_retries: int = 4,
        cache: bool = True,
        cache_path: str | os.PathLike[str] | None = None,
        budget_usd: float | None = None,
        prices: Mapping[str, Price | Mapping[str, float]] | None = None,
        parse_retries: int = 2,
        response_format: str | None = "json_schema",
        embedding_model: str = "text-embedding-3-small",
        timeout: float | None = 60.0,
        retry_base_delay: float = 0.5,
        retry_max_delay: float = 30.0,
        trace: bool = True,
    ) -> None:
        if not isinstance(model, str) or not model:
            raise ValueError(f"OpenAIJudge needs a model name, got {model!r}")
        for name, value, low in (
            ("max_concurrency", max_concurrency, 1),
            ("max_retries", max_retries, 0),
            ("parse_retries", parse_retries, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if response_format not in _RESPONSE_FORMATS:
            raise ValueError(
                f"response_format must be one of {_RESPONSE_FORMATS}, got {response_format!r}"
            )
        self.model = model
        self.temperature = temperature
        self.seed = seed
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.parse_retries = parse_retries
        self.response_format = response_format
        self.embedding_model = embedding_model
        self.trace = trace
        self.cache_enabled = bool(cache)
        self._client = _make_client(client, base_url, api_key, timeout)
        if trace:
            import llmtrace.openai

            llmtrace.openai.wrap(self._client)  # our copy: an LLM span under each judge span
        self._cache = JudgeCache(Path(cache_path) if cache_path else default_cache_path())
        self._prices = PriceBook(prices)
        self._ledger = Ledger()
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._backoff = Backoff(base=retry_base_delay, max_delay=retry_max_delay)
        self._sleep: Callable[[float], None] = time.sleep
        self._validators: dict[str, Any] = {}
        self._validators_lock = threading.Lock()
        self._budget_usd: float | None = None
        self.budget_usd = budget_usd

    # -- settings ------------------------------------------------------------------------------

    @property
    def budget_usd(self) -> float | None:
        """The spending limit in USD (None: no limit). Needs a known price for the model."""
        return self._budget_usd

    @budget_usd.setter
    def budget_usd(self, value: float | None) -> None:
        if value is None:
            self._budget_usd = None
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"budget_usd must be a number >= 0, got {value!r}")
        if self._prices.price(self.model) is None:
            raise ValueError(
                f"budget_usd needs the price of {self.model!r}, which is unknown: give it with "
                f"llmtrace.openai.set_price({self.model!r}, input=..., output=...) or "
                f"OpenAIJudge(..., prices={{{self.model!r}: {{'input': ..., 'output': ...}}}})"
            )
        self._budget_usd = float(value)

    @property
    def cache_path(self) -> Path:
        """The SQLite file of the cache."""
        return self._cache.path

    def usage(self) -> dict[str, Any]:
        """What this judge did so far.

        Keys: ``calls`` (API requests sent, retries included), ``cached_calls`` (answered from
        the cache), ``prompt_tokens``, ``completion_tokens``, ``cost_usd`` (None when a call's
        model has no price), ``skipped_by_budget``, ``retries``, ``parse_failures``.

        Example:
            >>> judge.usage()
            {'calls': 12, 'cached_calls': 40, 'prompt_tokens': 5210, ..., 'cost_usd': 0.0011}
        """
        return self._ledger.snapshot()

    def close(self) -> None:
        """Close the cache file (reopened on next use)."""
        self._cache.close()

    def __repr__(self) -> str:
        base = str(getattr(self._client, "base_url", ""))
        return f"OpenAIJudge(model={self.model!r}, base_url={base!r})"

    # -- asking ----------------------------------------------------------------------------------

    def ask(
        self,
        *,
        prompt_id: str,
        prompt_version: str,
        messages: list[dict[str, Any]],
        schema: dict[str, Any],
    ) -> JudgeReply:
        """Send ``messages``; return a reply whose ``data`` validates against ``schema``.

        A cache hit returns at once (``cached=True``, ``cost_usd=0.0``; tokens are those of the
        original call). Raises `BudgetExceeded` before a call the budget cannot afford,
        `JudgeParseError` when the reply stays invalid, and the OpenAI SDK's error when the
        API keeps failing after retries.

        Example:
            >>> judge.ask(prompt_id="tone", prompt_version="1", messages=msgs, schema=schema)
            JudgeReply(data={'score': 4, 'reason': '...'}, raw='{...}', prompt_tokens=120, ...)
        """
        validator = self._validator(schema)
        messages = [dict(m) for m in messages]
        request = self._request(prompt_id, schema)
        key = cache_key(
            {
                "kind": "chat",
                "model": self.model,
                "messages": messages,
                "params": {
                    "temperature": self.temperature,
                    "seed": self.seed,
                    "response_format": self.response_format,
                },
                "prompt_id": prompt_id,
                "prompt_version": prompt_version,
                "schema": schema,
            }
        )
        hit = self._cache_get(key)
        if hit is not None:
            self._ledger.count("cached_calls")
            return JudgeReply(
                data=hit["data"],
                raw=hit["raw"],
                prompt_tokens=int(hit.get("prompt_tokens", 0)),
                completion_tokens=int(hit.get("completion_tokens", 0)),
                cost_usd=0.0,
                cached=True,
            )
        ticket = self._reserve(self.model, estimate_prompt_tokens(messages, schema))
        with judge_span(
            f"judge {prompt_id}",
            enabled=self.trace,
            model=self.model,
            inputs={"prompt_id": prompt_id, "prompt_version": prompt_version, "messages": messages},
            attributes={
                LLMTRACE_JUDGE_PROMPT_ID: prompt_id,
                LLMTRACE_JUDGE_PROMPT_VERSION: prompt_version,
            },
        ) as span:
            reply, attempts, retries = self._ask_api(
                prompt_id, messages, request, schema, validator, ticket
            )
            span.set_outputs(reply.data)
            span.set_attributes(
                {LLMTRACE_JUDGE_ATTEMPTS: attempts, LLMTRACE_JUDGE_RETRIES: retries}
            )
            if reply.cost_usd is not None:
                span.set_attribute(LLMTRACE_LLM_COST_USD, reply.cost_usd)
        self._cache_put(
            key,
            {
                "data": reply.data,
                "raw": reply.raw,
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "model": self.model,
            },
        )
        return reply

    def _ask_api(
        self,
        prompt_id: str,
        messages: list[dict[str, Any]],
        request: dict[str, Any],
        schema: dict[str, Any],
        validator: Any,
        ticket: float,
    ) -> tuple[JudgeReply, int, int]:
        """Ask until the reply validates (re-asking with the problem stated), or give up."""
        conversation = messages
        prompt_tokens = completion_tokens = retries = 0
        cost: float | None = 0.0
        raw, problem = "", ""
        attempts = self.parse_retries + 1
        for attempt in range(attempts):
            if attempt:
                ticket = self._reserve(self.model, estimate_prompt_tokens(conversation, schema))
            completion, tries = self._with_retries(
                lambda convo=conversation: self._client.chat.completions.create(
                    model=self.model, messages=convo, **request
                ),
                ticket,
            )
            retries += tries
            p, c, call_cost = self._settle_chat(completion, ticket)
            prompt_tokens, completion_tokens = prompt_tokens + p, completion_tokens + c
            cost = None if cost is None or call_cost is None else cost + call_cost
            raw = reply_text(completion)
            try:
                data = parse_reply(raw, validator)
            except Invalid as exc:
                problem = str(exc)
                self._ledger.count("parse_failures")
                logger.info("judge reply for %s invalid (%s); re-asking", prompt_id, problem)
                conversation = [
                    *messages,
                    {"role": "assistant", "content": raw},
                    {
                        "role": "user",
                        "content": (
                            f"Your reply is invalid: {problem}. Reply again with only a JSON "
                            "object that matches the requested format."
                        ),
                    },
                ]
                continue
            reply = JudgeReply(
                data=data,
                raw=raw,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                cost_usd=None if cost is None else round(cost, 10),
            )
            return reply, attempt + 1, retries
        raise JudgeParseError(
            f"judge reply for {prompt_id!r} still invalid after {attempts} attempt(s): {problem}",
            raw,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=None if cost is None else round(cost, 10),
        )

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embedding vectors of ``texts`` with ``embedding_model`` (cached like `ask`).

        Example:
            >>> judge.embed(["capital of France?", "What is France's capital?"])
            [[0.013, ...], [0.011, ...]]
        """
        texts = list(texts)
        if not all(isinstance(t, str) for t in texts):
            raise TypeError("embed() takes a list of strings")
        keys = [
            cache_key({"kind": "embedding", "model": self.embedding_model, "text": t})
            for t in texts
        ]
        vectors: list[list[float] | None] = [self._cache_get(k) for k in keys]
        missing = sorted({t for t, v in zip(texts, vectors, strict=True) if v is None})
        if not missing:
            if texts:
                self._ledger.count("cached_calls")
            return [v for v in vectors if v is not None]
        found: dict[str, list[float]] = {}
        for start in range(0, len(missing), _EMBED_BATCH):
            batch = missing[start : start + _EMBED_BATCH]
            found.update(zip(batch, self._embed_api(batch), strict=True))
        for i, (text, key) in enumerate(zip(texts, keys, strict=True)):
            if vectors[i] is None:
                vectors[i] = found[text]
                self._cache_put(key, found[text])
        return [v for v in vectors if v is not None]

    def _embed_api(self, batch: list[str]) -> list[list[float]]:
        model = self.embedding_model
        estimate = estimate_prompt_tokens([{"content": t} for t in batch])
        ticket = self._reserve(model, estimate, completion_tokens=0)
        with judge_span(
            f"judge embed {model}", enabled=self.trace, model=model, inputs={"input": batch}
        ):
            response, _ = self._with_retries(
                lambda: self._client.embeddings.create(model=model, input=batch), ticket
            )
            usage = getattr(response, "usage", None)
            tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
            cost = self._prices.cost((getattr(response, "model", None), model), tokens, 0)
            self._ledger.settle(ticket, prompt_tokens=tokens, completion_tokens=0, cost_usd=cost)
            items = sorted(response.data, key=lambda item: item.index)
            return [list(item.embedding) for item in items]

    # -- parts ---------------------------------------------------------------------------------

    def _request(self, prompt_id: str, schema: dict[str, Any]) -> dict[str, Any]:
        request: dict[str, Any] = {}
        if self.temperature is not None:
            request["temperature"] = self.temperature
        if self.seed is not None:
            request["seed"] = self.seed
        if self.response_format == "json_schema":
            name = _SCHEMA_NAME.sub("_", prompt_id)[:64] or "judge_reply"
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": False},
            }
        elif self.response_format == "json_object":
            request["response_format"] = {"type": "json_object"}
        return request

    def _validator(self, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema, sort_keys=True, default=str) if isinstance(schema, dict) else ""
        with self._validators_lock:
            validator = self._validators.get(key)
        if validator is None:
            validator = make_validator(schema)
            with self._validators_lock:
                self._validators[key] = validator
        return validator

    def _reserve(
        self, model: str, prompt_tokens: int, completion_tokens: int | None = None
    ) -> float:
        budget = self._budget_usd
        if budget is None:
            return 0.0
        if completion_tokens is None:
            completion_tokens = self._ledger.completion_estimate()
        estimate = self._prices.cost((model,), prompt_tokens, completion_tokens)
        if estimate is None:
            raise ValueError(
                f"budget_usd is set but {model!r} has no price: give it with "
                "llmtrace.openai.set_price() or OpenAIJudge(prices=...)"
            )
        return self._ledger.reserve(estimate, budget)

    def _with_retries(self, send: Callable[[], T], ticket: float) -> tuple[T, int]:
        """``send()`` under the concurrency limit, retried on transient errors."""
        retry = 0
        try:
            while True:
                self._ledger.count("calls")
                try:
                    with self._slots:
                        return send(), retry
                except Exception as exc:
                    if retry >= self.max_retries or not is_retryable(exc):
                        raise
                    delay = self._backoff.delay(retry, exc)
                    logger.info(
                        "judge request failed (%s); retry %d/%d in %.2fs",
                        type(exc).__name__,
                        retry + 1,
                        self.max_retries,
                        delay,
                    )
                    self._ledger.count("retries")
                    retry += 1
                    self._sleep(delay)
        except BaseException:
            self._ledger.release(ticket)
            raise

    def _settle_chat(self, completion: Any, ticket: float) -> tuple[int, int, float | None]:
        usage = getattr(completion, "usage", None)
        if usage is None:  # some local servers send no usage: tokens unknown, cost unknown
            self._ledger.settle(ticket, prompt_tokens=0, completion_tokens=0, cost_usd=None)
            return 0, 0, None
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
        output = int(getattr(usage, "completion_tokens", 0) or 0)
        details = getattr(usage, "prompt_tokens_details", None)
        cached = int(getattr(details, "cached_tokens", 0) or 0)
        cost = self._prices.cost(
            (getattr(completion, "model", None), self.model), prompt, output, cached
        )
        self._ledger.settle(ticket, prompt_tokens=prompt, completion_tokens=output, cost_usd=cost)
        return prompt, output, cost

    def _cache_get(self, key: str) -> Any | None:
        if not self.cache_enabled:
            return None
        try:
            return self._cache.get(key)
        except Exception as exc:  # a broken cache costs money, not the run
            logger.warning("judge cache %s unreadable (%r); calling the API", self.cache_path, exc)
            return None

    def _cache_put(self, key: str, value: Any) -> None:
        if not self.cache_enabled:
            return
        try:
            self._cache.put(key, value)
        except Exception as exc:
            logger.warning("judge cache %s not written (%r)", self.cache_path, exc)
