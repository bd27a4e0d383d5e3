"""A LOCAL STAND-IN for the OpenAI API, for the examples to run offline. It is not a model.

`serve()` starts an OpenAI-compatible HTTP server on 127.0.0.1 (a free port) in a background
thread: ``POST /v1/chat/completions`` (plain or streamed, with token usage) and
``POST /v1/embeddings`` (float or base64). What a chat request gets is decided by the ``chat``
function given to `serve`:

- `judge_reply` (the default) answers llmtrace's judge prompts (`evals.judge`) with JSON that
  matches the ``response_format`` schema the judge sends, decided by simple, deterministic word
  overlap: a claim is "supported" when most of its words occur in the context, and so on.
  Unknown prompts get the smallest reply their schema accepts.
- any ``body -> assistant message`` function (examples/chatbot.py passes its canned rules).

Embeddings are hashed bags of words (deterministic; texts sharing words point the same way).

Example:
    >>> from _standin import serve
    >>> with serve() as standin:
    ...     judge = evals.OpenAIJudge("local-stand-in", base_url=standin.url)
    ...     ...
    ...     print(standin.requests)   # {'chat': 12, 'embeddings': 3}
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "local-stand-in"
DIMENSIONS = 256
STOPWORDS = frozenset(
    "a an and are as at be by can do does for from has have how i in is it its me my of on or "
    "the to was what when where which who why will with you your this that there their they "
    "not no if any all".split()
)
NONCOMMITTAL = re.compile(r"\b(don'?t know|not sure|cannot (?:say|answer)|no information)\b", re.I)

Chat = Callable[[dict[str, Any]], dict[str, Any]]


# -- words --------------------------------------------------------------------------------------
def words(text: str) -> list[str]:
    """Content words: lower case, no stopwords, a plural ``s`` dropped."""
    found = re.findall(r"[a-z0-9]+", text.lower())
    return [w[:-1] if len(w) > 3 and w.endswith("s") else w for w in found if w not in STOPWORDS]


def support(text: str, source: str) -> float:
    """Share of ``text``'s content words found in ``source`` (1.0 when it has none)."""
    mine = set(words(text))
    return len(mine & set(words(source))) / len(mine) if mine else 1.0


def sentences(text: str) -> list[str]:
    """Sentences with at least one content word."""
    parts = re.split(r"(?<=[.!?])\s+", text.strip())
    return [p.strip() for p in parts if words(p)]


def embed(text: str) -> list[float]:
    """A deterministic, L2-normalised hashed bag-of-words vector of ``DIMENSIONS`` floats."""
    vector = [0.0] * DIMENSIONS
    for word, count in Counter(words(text)).items():
        digest = hashlib.sha256(word.encode()).digest()
        slot = int.from_bytes(digest[:4], "little") % DIMENSIONS
        vector[slot] += count if digest[4] & 1 else -count
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


# -- judge replies --------------------------------------------------------------------------------
def _section(prompt: str, label: str, end: str = "\n\n") -> str:
    """The text after ``label`` up to ``end`` (or the end of the prompt)."""
    start = prompt.find(label)
    if start < 0:
        return ""
    start += len(label)
    stop = prompt.find(end, start)
    return prompt[start : stop if stop >= 0 else len(prompt)].strip()


def _numbered(block: str) -> list[str]:
    """Items of a ``[1] ...`` list."""
    return [m.strip() for m in re.split(r"^\[\d+\]\s*", block, flags=re.M) if m.strip()]


def _count(schema: dict[str, Any], key: str, default: int) -> int:
    """How many items the schema wants under ``key`` (its minItems), else ``default``."""
    item = schema.get("properties", {}).get(key, {})
    return int(item.get("minItems", default)) if "maxItems" in item else default


def _fit(items: list[Any], n: int, filler: Callable[[int], Any]) -> list[Any]:
    return (items + [filler(i) for i in range(len(items), n)])[:n]


def _pct(share: float) -> str:
    return f"{round(100 * share)}% of its words occur there"


def _judge_data(prompt_id: str, prompt: str, schema: dict[str, Any]) -> dict[str, Any]:
    if prompt_id == "faithfulness_claims":
        answer = _section(prompt, "Answer:")
        return {"claims": [] if NONCOMMITTAL.search(answer) else sentences(answer)}
    if prompt_id == "faithfulness_verdicts":
        context = _section(prompt, "Context:\n", "\n\nStatements:")
        claims = _numbered(_section(prompt, "Statements:\n"))
        claims = _fit(claims, _count(schema, "verdicts", len(claims)), lambda i: f"claim {i + 1}")
        return {
            "verdicts": [
                {
                    "statement": c,
                    "reason": f"stand-in: {_pct(support(c, context))} in the context",
                    "verdict": int(support(c, context) >= 0.75),
                }
                for c in claims
            ]
        }
    if prompt_id == "answer_relevancy_questions":
        answer = _section(prompt, "Answer:")
        n = _count(schema, "questions", 3)
        terms = words(answer) or ["anything"]
        questions = [
            "What about " + " ".join(t for j, t in enumerate(terms) if j != i % len(terms)) + "?"
            for i in range(n)
        ]
        return {"questions": questions, "noncommittal": int(bool(NONCOMMITTAL.search(answer)))}
    if prompt_id == "context_precision_verdicts":
        reference = _section(prompt, "Reference answer:")
        contexts = _numbered(_section(prompt, "Retrieved contexts:\n"))
        contexts = _fit(contexts, _count(schema, "verdicts", len(contexts)), lambda i: "")
        return {
            "verdicts": [
                {
                    "reason": f"stand-in: the context holds {_pct(support(reference, c))[4:]}",
                    "verdict": int(support(reference, c) >= 0.5),
                }
                for c in contexts
            ]
        }
    if prompt_id == "context_recall_attributions":
        context = _section(prompt, "Retrieved context:\n", "\n\nReference answer:")
        return {
            "claims": [
                {
                    "statement": s,
                    "reason": f"stand-in: {_pct(support(s, context))} in the context",
                    "attributed": int(support(s, context) >= 0.75),
                }
                for s in sentences(_section(prompt, "Reference answer:"))
            ]
        }
    if prompt_id == "criteria_steps":
        return {
            "steps": [
                "Read the criteria.",
                "Check each statement of the response against the material shown.",
                "Pick the rubric score that fits; explain it in one sentence.",
            ]
        }
    if prompt_id in ("criteria_score", "task_completion"):
        score = schema.get("properties", {}).get("score", {})
        low, high = int(score.get("minimum", 1)), int(score.get("maximum", 5))
        response = _section(prompt, "Response:\n") or _section(prompt, "Agent's final output:")
        source = (
            _section(prompt, "Retrieved context:\n")
            or _section(prompt, "Expected outcome (may be empty):")
            or _section(prompt, "Input:\n")
            or _section(prompt, "Task:")
        )
        share = support(response, source)
        return {
            "reason": f"stand-in: {_pct(share)} in the material shown",
            "score": low + round(share * (high - low)),
        }
    return _smallest(schema)


def _smallest(schema: dict[str, Any]) -> Any:
    """The smallest value ``schema`` accepts (objects with their required keys only)."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: _smallest(props.get(k, {})) for k in schema.get("required", [])}
    if kind == "array":
        return [_smallest(schema.get("items", {})) for _ in range(int(schema.get("minItems", 0)))]
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    return "stand-in"


def judge_reply(body: dict[str, Any]) -> dict[str, Any]:
    """An assistant message answering one of llmtrace's judge prompts (see the module doc)."""
    fmt = body.get("response_format") or {}
    spec = fmt.get("json_schema") or {}
    schema = spec.get("schema") or {"type": "object"}
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    prompt = str(users[0].get("content") or "") if users else ""
    data = _judge_data(str(spec.get("name", "")), prompt, schema)
    return {"role": "assistant", "content": json.dumps(data)}


# -- the server -----------------------------------------------------------------------------------
def _usage(messages: list[dict[str, Any]], message: dict[str, Any]) -> dict[str, int]:
    prompt = sum(len(str(m.get("content") or "").split()) + 4 for m in messages)
    completion = len(json.dumps(message).split())
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _chunks(body: dict[str, Any], message: dict[str, Any], model: str) -> Iterator[dict[str, Any]]:
    base = {
        "id": "chatcmpl-standin",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }
    yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}
    for word in re.findall(r"\S+\s*", message.get("content") or ""):
        yield {**base, "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
    for i, call in enumerate(message.get("tool_calls") or ()):
        yield {
            **base,
            "choices": [
                {"index": 0, "delta": {"tool_calls": [{"index": i, **call}]}, "finish_reason": None}
            ],
        }
    reason = "tool_calls" if message.get("tool_calls") else "stop"
    yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}
    if (body.get("stream_options") or {}).get("include_usage"):
        yield {**base, "choices": [], "usage": _usage(body["messages"], message)}


@dataclass
class StandIn:
    """A running stand-in: its base ``url`` and how many ``requests`` of each kind it served."""

    url: str = ""
    requests: Counter[str] = field(default_factory=Counter)


def _handler(standin: StandIn, chat: Chat, model: str, stream_delay: float) -> type:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True  # headers and body are two writes: no delayed-ACK wait

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
            if self.path.endswith("/embeddings"):
                with lock:
                    standin.requests["embeddings"] += 1
                return self._json(self._embeddings(body))
            if not self.path.endswith("/chat/completions"):
                self.send_error(404)
                return
            with lock:
                standin.requests["chat"] += 1
            message = chat(body)
            if body.get("stream"):
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()
                for chunk in _chunks(body, message, model):
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    time.sleep(stream_delay)
                self.wfile.write(b"data: [DONE]\n\n")
                return
            reason = "tool_calls" if message.get("tool_calls") else "stop"
            self._json(
                {
                    "id": "chatcmpl-standin",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": reason}],
                    "usage": _usage(body["messages"], message),
                }
            )

        def _embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            data = []
            for i, text in enumerate(texts):
                vector: Any = embed(str(text))
                if body.get("encoding_format") == "base64":
                    vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
                data.append({"object": "embedding", "index": i, "embedding": vector})
            tokens = sum(len(str(t).split()) for t in texts)
            return {
                "object": "list",
                "data": data,
                "model": body.get("model", model),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }

        def _json(self, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serve(
    chat: Chat = judge_reply, *, model: str = MODEL, stream_delay: float = 0.0
) -> Iterator[StandIn]:
    """Serve the stand-in on 127.0.0.1 (a free port) for the block.

    Args:
        chat: ``request body -> assistant message`` (default: `judge_reply`).
        model: the model name put in replies.
        stream_delay: seconds between streamed chunks (so time-to-first-token shows).

    Example:
        >>> with serve() as standin:
        ...     OpenAI(base_url=standin.url, api_key="none").chat.completions.create(...)
    """
    standin = StandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(standin, chat, model, stream_delay))
    standin.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield standin
    finally:
        server.shutdown()
        server.server_close()
