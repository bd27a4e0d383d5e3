"""What the stand-in answers: scripted replies, tool calls, errors, stalls and the default echo.

A chat-completions or responses request takes the next item of the stand-in's script (or asks
its reply function): a `str` or a `Reply` is answered, an `Error` is sent as an HTTP error and a
`Timeout` holds the request without an answer. Token counts are words, so they are the same on
every run: prompt tokens are the words of each message plus 4 per message, completion tokens the
words of the assistant message as JSON (its text plus a few words of envelope).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ToolCall:
    """A function call in a reply: the model asks the app to run ``name(**arguments)``.

    Args:
        name: the function's name, as in the request's ``tools``.
        arguments: its arguments, a mapping (sent as JSON) or a JSON string as it is.
        id: the call id the app answers with; ``None``: ``call_standin_<n>``.

    Example:
        >>> Reply(tool_calls=[ToolCall("lookup_order", {"order_id": "A-1001"})])
    """

    name: str
    arguments: Mapping[str, Any] | str = "{}"
    id: str | None = None

    @property
    def arguments_json(self) -> str:
        """The arguments as the JSON string the API sends."""
        args = self.arguments
        return args if isinstance(args, str) else json.dumps(dict(args))


@dataclass(frozen=True)
class Usage:
    """Token counts to report instead of the counted ones (e.g. to test cost accounting).

    Example:
        >>> Reply("ok", usage=Usage(prompt_tokens=200, completion_tokens=20))
    """

    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Reply:
    """One assistant reply: text, tool calls or both.

    Args:
        text: the assistant's text (``None`` with tool calls only).
        tool_calls: the function calls the model asks for.
        usage: ``True``: token counts (words, see the module doc); ``False``: no ``usage`` in
            the answer, like some OpenAI-compatible servers; a `Usage`: those numbers.
        finish_reason: ``None``: ``"tool_calls"`` with tool calls, else ``"stop"``;
            ``"length"`` makes a Responses API answer ``incomplete``.
        delay: seconds to wait before answering (on top of the stand-in's ``delay``).

    Example:
        >>> StandIn(["Paris.", Reply("Lyon.", usage=False, delay=0.5)])
    """

    text: str | None = None
    tool_calls: Sequence[ToolCall] = ()
    usage: Usage | bool = True
    finish_reason: str | None = None
    delay: float = 0.0


@dataclass(frozen=True)
class Error:
    """An HTTP error answer in OpenAI's shape (``{"error": {"message", "type", "code"}}``).

    Args:
        status: the HTTP status: 429 (rate limit), 500, 503, 400, 401...
        message: the error message; ``None``: a standard one for the status.
        retry_after: seconds sent as the ``Retry-After`` header (``None``: no header); the
            official client waits that long before its retry.
        should_retry: sent as the ``x-should-retry`` header (``None``: no header), which the
            official client obeys over its own rules (it retries 408, 409, 429 and 5xx).

    Example:
        >>> StandIn([Error(429, retry_after=1), "ok"])   # the client retries, then gets "ok"
    """

    status: int = 500
    message: str | None = None
    retry_after: float | None = None
    should_retry: bool | None = None


@dataclass(frozen=True)
class Timeout:
    """No answer: hold the request ``seconds``, then close the connection without replying.

    Give it more seconds than the client's timeout and the client times out (and retries, if
    it does). The stand-in's `StandIn.stop` ends the wait at once.

    Example:
        >>> StandIn([Timeout(5), "ok"])   # OpenAI(timeout=0.5) times out, retries, gets "ok"
    """

    seconds: float = 30.0


#: One scripted answer: text, a `Reply`, an `Error` or a `Timeout`.
Scripted = str | Reply | Error | Timeout
#: A reply function: the request's JSON body -> its answer.
ReplyFunction = Callable[[dict[str, Any]], Scripted]


def _text(content: Any) -> str:
    """The text of a message's content: a string, or the text of its parts."""
    if isinstance(content, list):
        parts = [p.get("text") or "" for p in content if isinstance(p, dict)]
        return " ".join(str(p) for p in parts if p)
    return str(content or "")


def conversation(body: Mapping[str, Any]) -> list[dict[str, str]]:
    """The request's messages as ``{"role", "content"}`` text, chat or Responses API alike."""
    if "messages" in body:
        return [
            {"role": str(m.get("role", "")), "content": _text(m.get("content"))}
            for m in body.get("messages") or ()
            if isinstance(m, dict)
        ]
    found = (
        [{"role": "system", "content": str(body["instructions"])}]
        if body.get("instructions")
        else []
    )
    given = body.get("input")
    if isinstance(given, str):
        return [*found, {"role": "user", "content": given}]
    for item in given or ():
        if isinstance(item, dict):
            role = item.get("role") or ("tool" if "output" in item else str(item.get("type", "")))
            found.append({"role": role, "content": _text(item.get("content", item.get("output")))})
    return found


def last_user_text(body: Mapping[str, Any]) -> str:
    """The text of the request's last user message (``""`` when there is none)."""
    users = [m["content"] for m in conversation(body) if m["role"] == "user"]
    return users[-1] if users else ""


def echo(body: dict[str, Any]) -> str:
    """The default reply: ``"echo: <the last user message>"``.

    Args:
        body: the request's JSON body (chat completions or Responses API).

    Example:
        >>> echo({"messages": [{"role": "user", "content": "Hi"}]})
        'echo: Hi'
    """
    return f"echo: {last_user_text(body)}"


def counted_usage(body: Mapping[str, Any], message: Mapping[str, Any]) -> Usage:
    """Word counts: each message's words + 4, and the assistant ``message``'s words as JSON."""
    prompt = sum(len(m["content"].split()) + 4 for m in conversation(body))
    return Usage(prompt, len(json.dumps(message).split()))


def assistant_message(reply: Reply) -> dict[str, Any]:
    """The chat-completions assistant message of ``reply`` (tool call ids already set)."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json},
            }
            for call in reply.tool_calls
        ]
    return message


def finish_reason(reply: Reply) -> str:
    """The reply's ``finish_reason``: as given, else ``"tool_calls"`` or ``"stop"``."""
    return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
