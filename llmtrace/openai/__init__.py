"""OpenAI integration: every call of the official ``openai`` client becomes an LLM span.

`wrap` traces one client, `instrument` every client of the process. Each call is stored with
its request (model, parameters, messages, tools), its output (messages, tool calls, finish
reasons), token usage, latency and, when the model's price is known, its cost in USD.

Example:
    >>> from openai import OpenAI
    >>> import llmtrace
    >>> client = llmtrace.openai.wrap(OpenAI())
    >>> client.chat.completions.create(model="gpt-4o-mini",
    ...     messages=[{"role": "user", "content": "Hi"}])
"""

from ._log_model import log_model
from ._prices import Price, get_price, prices, reset_prices, set_price
from ._wrap import instrument, is_instrumented, is_wrapped, uninstrument, unwrap, wrap

__all__ = [
    "Price",
    "get_price",
    "instrument",
    "is_instrumented",
    "is_wrapped",
    "log_model",
    "prices",
    "reset_prices",
    "set_price",
    "uninstrument",
    "unwrap",
    "wrap",
]
