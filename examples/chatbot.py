"""A multi-turn support chatbot with a tool, traced with llmtrace.openai; one session.

Each user turn is one trace: an AGENT span ("reply"), an LLM span per model call (request,
messages, tool calls, tokens, cost) and a TOOL span per order lookup. All turns share one
session, so MLflow shows them as one conversation. The last turn is streamed.

    python examples/chatbot.py

With OPENAI_API_KEY set it talks to the real OpenAI API (model: CHATBOT_MODEL, default
gpt-4o-mini). Without it, the script starts a LOCAL STAND-IN on 127.0.0.1 that speaks the
OpenAI chat API with canned answers, so you can see real traces offline: the stand-in is not a
model, and says so in every answer. Traces land in ./mlflow.db (`llmtrace ui` -> Traces tab).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from typing import Any

from openai import OpenAI

import llmtrace
import llmtrace.openai
from llmtrace.testing import Reply, StandIn, ToolCall

MODEL = os.environ.get("CHATBOT_MODEL", "gpt-4o-mini")
SYSTEM = "You are the support assistant of an online shop. Use lookup_order for order questions."
ORDERS = {
    "A-1001": {"status": "shipped", "carrier": "DHL", "eta": "Thursday"},
    "B-2002": {"status": "preparing", "carrier": None, "eta": "next week"},
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Status, carrier and delivery estimate of an order.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string", "description": "e.g. A-1001"}},
                "required": ["order_id"],
            },
        },
    }
]
USER_TURNS = [
    "Hi! Where is my order A-1001?",
    "And when will it arrive?",
    "Great, thanks. What about B-2002?",
]


@llmtrace.trace(kind="TOOL")
def lookup_order(order_id: str) -> dict[str, Any]:
    """The tool: look an order up in the shop's database."""
    return ORDERS.get(order_id.upper(), {"error": f"no order {order_id}"})


@llmtrace.trace(kind="AGENT", exclude_inputs=("client",))  # the client is no input
def reply(client: OpenAI, history: list[dict[str, Any]], text: str, stream: bool = False) -> str:
    """Answer one user turn, calling the tool as often as the model asks."""
    history.append({"role": "user", "content": text})
    for _ in range(4):
        if stream:
            message = _streamed(client, history)
        else:
            response = client.chat.completions.create(
                model=MODEL, messages=history, tools=TOOLS, temperature=0
            )
            message = response.choices[0].message.to_dict(exclude_none=True)
        history.append(message)
        calls = message.get("tool_calls") or []
        if not calls:
            return str(message.get("content") or "")
        for call in calls:
            result = lookup_order(**json.loads(call["function"]["arguments"]))
            history.append(
                {"role": "tool", "tool_call_id": call["id"], "content": json.dumps(result)}
            )
    return "Sorry, I could not finish that."


def _streamed(client: OpenAI, history: list[dict[str, Any]]) -> dict[str, Any]:
    """One streamed call, printed as it arrives; returns the assembled assistant message."""
    text, calls = "", {}
    stream = client.chat.completions.create(
        model=MODEL, messages=history, tools=TOOLS, temperature=0, stream=True
    )
    for chunk in stream:
        delta = chunk.choices[0].delta
        if delta.content:
            print(("" if text else "bot> ") + delta.content, end="", flush=True)
            text += delta.content
        for tc in delta.tool_calls or ():
            slot = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
            slot["id"] = tc.id or slot["id"]
            if tc.function:
                slot["name"] += tc.function.name or ""
                slot["arguments"] += tc.function.arguments or ""
    if text:
        print("  (streamed)")
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments"]},
            }
            for c in calls.values()
        ]
    return message


# -- LOCAL STAND-IN for the OpenAI API (used only without OPENAI_API_KEY) --------------------
# Not a model: canned rules, served by llmtrace.testing.StandIn over the chat-completions
# protocol (tool calls, streaming, token usage), so that the traces above are real llmtrace
# traces of real HTTP calls.

STANDIN_MODEL = "local-stand-in"
ORDER_ID = re.compile(r"\b[A-Z]-\d{4}\b")


def _standin_answer(body: dict[str, Any]) -> str | Reply:
    """The canned reply to a chat-completions request ``body``."""
    messages: list[dict[str, Any]] = body["messages"]
    last = messages[-1]
    if last.get("role") == "tool":
        info = json.loads(last["content"])
        if "error" in info:
            text = f"I could not find that order ({info['error']})."
        else:
            carrier = f" with {info['carrier']}" if info.get("carrier") else ""
            text = f"Your order is {info['status']}{carrier}; expected {info['eta']}."
        return f"[stand-in] {text}"
    text = str(last.get("content") or "")
    said = " ".join(str(m.get("content") or "") for m in messages if m.get("role") == "user")
    found = ORDER_ID.findall(text) or (ORDER_ID.findall(said) if "arrive" in text.lower() else [])
    if found:
        return Reply(tool_calls=[ToolCall("lookup_order", {"order_id": found[-1]})])
    return "[stand-in] Happy to help!"


# -- main ---------------------------------------------------------------------------------------


def chat(client: OpenAI) -> str:
    """Run the conversation as one session; returns the session id."""
    session_id = f"chatbot-{uuid.uuid4().hex[:8]}"
    history: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
    with llmtrace.session(session_id, user="demo-user"):
        for i, text in enumerate(USER_TURNS):
            print(f"you> {text}")
            streamed = i == len(USER_TURNS) - 1
            answer = reply(client, history, text, stream=streamed)
            if not streamed:
                print(f"bot> {answer}")
    return session_id


def main() -> None:
    if os.environ.get("OPENAI_API_KEY"):
        print(f"Using the real OpenAI API (model {MODEL}).")
        session_id = chat(llmtrace.openai.wrap(OpenAI()))
    else:
        print(
            "*** No OPENAI_API_KEY: using a LOCAL STAND-IN server on 127.0.0.1 with canned\n"
            "*** answers (not a model). Set OPENAI_API_KEY to talk to the real API.\n"
        )
        with StandIn(_standin_answer, model=STANDIN_MODEL, stream_delay=0.02) as standin:
            client = OpenAI(base_url=standin.url, api_key="stand-in-needs-no-key")
            session_id = chat(llmtrace.openai.wrap(client))
    llmtrace.flush()
    traces = llmtrace.search_traces(f"metadata.`mlflow.trace.session` = '{session_id}'")
    print(
        f"\nSession {session_id}: {len(traces)} traces in {llmtrace.current_config().tracking_uri}"
    )
    for t in sorted(traces, key=lambda t: t.info.request_time):
        usage = t.info.token_usage or {}
        kinds = [s.span_type for s in t.data.spans]
        print(
            f"  {t.info.trace_id}: {kinds.count('LLM')} LLM call(s), {kinds.count('TOOL')} tool "
            f"call(s), {usage.get('total_tokens', 0)} tokens"
        )
    print(
        "\nSee them from this folder:\n"
        f"  llmtrace sessions show {session_id}   # the conversation, turn by turn\n"
        "  llmtrace traces list\n"
        "  llmtrace ui   # the MLflow UI: Traces tab (chat view, tools, tokens)"
    )


if __name__ == "__main__":
    main()
