"""An OpenAI-compatible stand-in server on 127.0.0.1: test your own LLM app offline.

`StandIn` is a real HTTP server speaking the chat-completions, Responses and embeddings APIs,
so the official ``openai`` client (or any OpenAI-compatible one) talks to it unchanged. Script
its answers (text, tool calls, token usage), inject rate limits, server errors and timeouts,
and read back every request it got. Answers are deterministic: no model, no network, no key.
`judge_reply` answers llmtrace's judge prompts by word overlap, so `evals` pipelines run
offline too; `embed` makes the hashed bag-of-words vectors its embeddings endpoint serves.

Example:
    >>> from openai import OpenAI
    >>> from llmtrace.testing import Error, Reply, StandIn, ToolCall
    >>> script = [Error(429, retry_after=0.1), Reply(tool_calls=[ToolCall("search", {"q": "x"})])]
    >>> with StandIn(script) as server:
    ...     client = OpenAI(base_url=server.url, api_key="test")
    ...     my_app(client)                       # retries the 429, then gets the tool call
    ...     assert server.counts["chat"] == 2
    ...     assert server.requests[-1].body["model"] == "gpt-4o-mini"
"""

from ._embeddings import embed
from ._judge import judge_reply
from ._replies import Error, Reply, Timeout, ToolCall, Usage, echo
from ._server import Request, StandIn

__all__ = [
    "Error",
    "Reply",
    "Request",
    "StandIn",
    "Timeout",
    "ToolCall",
    "Usage",
    "echo",
    "embed",
    "judge_reply",
]
