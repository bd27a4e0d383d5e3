"""Token, cost and budget accounting of one judge, safe across threads.

Before each API call the judge reserves a conservative estimate of its cost; the call goes ahead
only if what was spent plus what is reserved by calls in flight plus this estimate stays within
``budget_usd``. When the call returns, the reservation is replaced by the real cost. Costs come
from llmtrace's price table (`llmtrace.openai.set_price`) or the judge's own ``prices``; a model
with no price has no cost (None), never a guess.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmtrace.openai import Price, get_price

from .._types import BudgetExceeded

__all__ = ["Ledger", "PriceBook", "estimate_prompt_tokens"]

#: Output tokens assumed for a call before any reply was seen (judge replies are short JSON).
DEFAULT_COMPLETION_ESTIMATE = 512


def estimate_prompt_tokens(messages: list[dict[str, Any]], extra: Any = None) -> int:
    """An upper-side estimate of the prompt tokens of ``messages`` (+ ``extra``, e.g. a schema).

    Half the UTF-8 byte count (English runs ~4 bytes per token, CJK ~3) plus a per-message
    overhead, so the estimate errs high, as a budget check should.

    Example:
        >>> estimate_prompt_tokens([{"role": "user", "content": "Is Paris in France?"}])
        18
    """
    size = 0
    for message in messages:
        content = message.get("content")
        text = content if isinstance(content, str) else json.dumps(content, default=str)
        size += len(text.encode("utf-8")) + 16
    if extra is not None:
        size += len(json.dumps(extra, default=str).encode("utf-8"))
    return math.ceil(size / 2) + 8


class PriceBook:
    """Prices for one judge: its own ``prices`` first, then llmtrace's table.

    Example:
        >>> PriceBook({"llama3": Price(0.0, 0.0)}).cost(("llama3",), 1000, 200)
        0.0
    """

    def __init__(self, prices: Mapping[str, Price | Mapping[str, float]] | None = None) -> None:
        own: dict[str, Price] = {}
        for model, price in (prices or {}).items():
            if isinstance(price, Price):
                own[model] = price
            elif isinstance(price, Mapping):
                own[model] = Price(**price)
            else:
                raise TypeError(
                    f"prices[{model!r}] must be a llmtrace.openai Price or a dict with "
                    f"input/output/cached_input (USD per 1M tokens), got {price!r}"
                )
        self._own = own

    def price(self, *models: str | None) -> Price | None:
        """The price of the first of ``models`` that has one, or None."""
        names = [m for m in models if m]
        for model in names:  # the judge's own prices win over the global table
            if model in self._own:
                return self._own[model]
        for model in names:
            price = get_price(model)
            if price is not None:
                return price
        return None

    def cost(
        self,
        models: tuple[str | None, ...],
        prompt_tokens: int,
        completion_tokens: int,
        cached_tokens: int = 0,
    ) -> float | None:
        """USD cost of a call, or None when no model in ``models`` has a price."""
        price = self.price(*models)
        if price is None:
            return None
        cached = min(max(cached_tokens, 0), prompt_tokens)
        cached_rate = price.input if price.cached_input is None else price.cached_input
        total = (
            (prompt_tokens - cached) * price.input
            + cached * cached_rate
            + completion_tokens * price.output
        ) / 1e6
        return round(total, 10)


@dataclass
class _Counts:
    calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0
    skipped_by_budget: int = 0
    retries: int = 0
    parse_failures: int = 0


class Ledger:
    """What one judge spent, reserved and skipped; enforces ``budget_usd``.

    Example:
        >>> ledger = Ledger()
        >>> ticket = ledger.reserve(0.001, budget_usd=0.01)
        >>> ledger.settle(ticket, prompt_tokens=100, completion_tokens=20, cost_usd=0.0004)
        >>> ledger.snapshot()["cost_usd"]
        0.0004
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = _Counts()
        self._reserved = 0.0
        self._max_completion = 0

    def completion_estimate(self) -> int:
        """Output tokens to assume for the next call: the most seen so far, at least 512."""
        return max(DEFAULT_COMPLETION_ESTIMATE, self._max_completion)

    def reserve(self, estimate_usd: float | None, budget_usd: float | None) -> float:
        """Reserve ``estimate_usd`` for a call; raise `BudgetExceeded` if it would not fit.

        Returns the amount reserved (hand it to `settle` or `release`).
        """
        with self._lock:
            if budget_usd is None or estimate_usd is None:
                return 0.0
            committed = self._counts.cost_usd + self._reserved
            if committed + estimate_usd > budget_usd:
                self._counts.skipped_by_budget += 1
                raise BudgetExceeded(
                    f"judge budget of ${budget_usd:.4f} reached: spent "
                    f"${self._counts.cost_usd:.4f}, ${self._reserved:.4f} in flight, next call "
                    f"estimated at ${estimate_usd:.4f}; "
                    f"{self._counts.skipped_by_budget} call(s) skipped"
                )
            self._reserved += estimate_usd
            return estimate_usd

    def release(self, reserved: float) -> None:
        """Give back a reservation whose call failed before it cost anything."""
        with self._lock:
            self._reserved = max(0.0, self._reserved - reserved)

    def settle(
        self,
        reserved: float,
        *,
        prompt_tokens: int,
        completion_tokens: int,
        cost_usd: float | None,
    ) -> None:
        """Replace a reservation by what the call really used."""
        with self._lock:
            self._reserved = max(0.0, self._reserved - reserved)
            counts = self._counts
            counts.prompt_tokens += prompt_tokens
            counts.completion_tokens += completion_tokens
            self._max_completion = max(self._max_completion, completion_tokens)
            if cost_usd is None:
                counts.unpriced_calls += 1
            else:
                counts.cost_usd += cost_usd

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to one counter (``calls``, ``cached_calls``, ``retries``…)."""
        with self._lock:
            setattr(self._counts, name, getattr(self._counts, name) + n)

    def spent_usd(self) -> float:
        """USD spent so far (calls with a known price)."""
        with self._lock:
            return self._counts.cost_usd

    def snapshot(self) -> dict[str, Any]:
        """The usage dict `OpenAIJudge.usage` returns."""
        with self._lock:
            c = self._counts
            return {
                "calls": c.calls,
                "cached_calls": c.cached_calls,
                "prompt_tokens": c.prompt_tokens,
                "completion_tokens": c.completion_tokens,
                # a partial sum would understate the cost: None if any call had no price
                "cost_usd": None if c.unpriced_calls else round(c.cost_usd, 10),
                "skipped_by_budget": c.skipped_by_budget,
                "retries": c.retries,
                "parse_failures": c.parse_failures,
            }
