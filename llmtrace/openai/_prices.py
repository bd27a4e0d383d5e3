"""Model prices (USD per 1M tokens) and the cost of one call.

The built-in table holds list prices of common OpenAI models; `set_price` adds or overrides
entries (your negotiated prices, fine-tunes, other providers). A model that is not in the table
gets no cost: llmtrace never guesses. Dated snapshots (``gpt-4o-mini-2024-07-18``) are priced
as their alias unless the snapshot has its own entry.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._errors import LLMTraceError

__all__ = ["Price", "cost_of", "get_price", "prices", "set_price"]


@dataclass(frozen=True)
class Price:
    """Price of a model in USD per one million tokens.

    Attributes:
        input: price of one million prompt (input) tokens.
        output: price of one million completion (output) tokens, reasoning tokens included.
        cached_input: price of one million prompt tokens read from the prompt cache; None
            means cached tokens cost as much as other input tokens.

    Example:
        >>> Price(input=0.15, output=0.60, cached_input=0.075)
    """

    input: float
    output: float = 0.0
    cached_input: float | None = None


# List prices, USD per 1M tokens (OpenAI pricing page, 2025). Override with set_price().
_BUILTIN: dict[str, Price] = {
    "gpt-5": Price(1.25, 10.00, 0.125),
    "gpt-5-mini": Price(0.25, 2.00, 0.025),
    "gpt-5-nano": Price(0.05, 0.40, 0.005),
    "gpt-4.1": Price(2.00, 8.00, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    "gpt-4o": Price(2.50, 10.00, 1.25),
    "gpt-4o-2024-05-13": Price(5.00, 15.00),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "gpt-4-turbo": Price(10.00, 30.00),
    "gpt-4": Price(30.00, 60.00),
    "gpt-3.5-turbo": Price(0.50, 1.50),
    "o1": Price(15.00, 60.00, 7.50),
    "o1-mini": Price(1.10, 4.40, 0.55),
    "o3": Price(2.00, 8.00, 0.50),
    "o3-mini": Price(1.10, 4.40, 0.55),
    "o4-mini": Price(1.10, 4.40, 0.275),
    "text-embedding-3-small": Price(0.02),
    "text-embedding-3-large": Price(0.13),
    "text-embedding-ada-002": Price(0.10),
}

_lock = threading.Lock()
_table: dict[str, Price] = dict(_BUILTIN)
_DATE_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")


def set_price(
    model: str,
    input: float,
    output: float = 0.0,
    cached_input: float | None = None,
) -> None:
    """Add or override the price of ``model`` (USD per 1M tokens).

    Args:
        model: the model name as the API reports it (``response.model``) or as you request it.
        input: USD per 1M input tokens.
        output: USD per 1M output tokens.
        cached_input: USD per 1M cached input tokens (None: same as ``input``).

    Example:
        >>> llmtrace.openai.set_price("ft:gpt-4o-mini:acme::abc123", input=0.30, output=1.20)
    """
    if not isinstance(model, str) or not model:
        raise LLMTraceError(f"set_price needs a model name, got {model!r}")
    for name, value in (("input", input), ("output", output), ("cached_input", cached_input)):
        if value is None and name == "cached_input":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise LLMTraceError(
                f"set_price({model!r}): {name} must be a number >= 0, got {value!r}"
            )
    with _lock:
        _table[model] = Price(
            float(input), float(output), None if cached_input is None else float(cached_input)
        )


def get_price(model: str | None) -> Price | None:
    """The price used for ``model`` (exact name, else its alias without a date suffix), or None.

    Example:
        >>> llmtrace.openai.get_price("gpt-4o-mini-2024-07-18")
        Price(input=0.15, output=0.6, cached_input=0.075)
    """
    if not model:
        return None
    table = _table
    price = table.get(model)
    if price is None:
        alias = _DATE_SUFFIX.sub("", model)
        if alias != model:
            price = table.get(alias)
    return price


def prices() -> Mapping[str, Price]:
    """A copy of the price table in force (built-in entries plus `set_price` ones)."""
    with _lock:
        return dict(_table)


def reset_prices() -> None:
    """Forget every `set_price` entry (back to the built-in table)."""
    global _table
    with _lock:
        _table = dict(_BUILTIN)


def cost_of(models: tuple[str | None, ...], usage: Mapping[str, Any]) -> dict[str, float] | None:
    """Cost of one call in USD as MLflow's ``{input_cost, output_cost, total_cost}``.

    ``models`` are tried in order (the response model first, then the requested one); None
    when none of them has a price or the usage has no token counts.
    """
    price = None
    for model in models:
        price = get_price(model)
        if price is not None:
            break
    if price is None:
        return None
    input_tokens = usage.get("input_tokens")
    output_tokens = usage.get("output_tokens") or 0
    if not isinstance(input_tokens, int):
        return None
    cached = usage.get("cache_read_input_tokens") or 0
    cached = min(cached, input_tokens) if isinstance(cached, int) else 0
    cached_rate = price.input if price.cached_input is None else price.cached_input
    input_cost = ((input_tokens - cached) * price.input + cached * cached_rate) / 1e6
    output_cost = output_tokens * price.output / 1e6
    return {
        "input_cost": round(input_cost, 10),
        "output_cost": round(output_cost, 10),
        "total_cost": round(input_cost + output_cost, 10),
    }
