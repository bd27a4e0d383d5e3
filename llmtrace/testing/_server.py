"""`StandIn`: an OpenAI-compatible HTTP server on 127.0.0.1, for offline tests and examples."""

from __future__ import annotations

import contextlib
import hmac
import itertools
import json
import logging
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from .._errors import LLMTraceError
from ._chat import chunks, completion
from ._embeddings import embeddings_response
from ._replies import (
    Error,
    Reply,
    ReplyFunction,
    Scripted,
    Timeout,
    Usage,
    assistant_message,
    counted_usage,
    echo,
    finish_reason,
)
from ._responses import events, response

logger = logging.getLogger("llmtrace.testing")

ENDPOINTS = {
    ("POST", "/v1/chat/completions"): "chat",
    ("POST", "/v1/responses"): "responses",
    ("POST", "/v1/embeddings"): "embeddings",
    ("GET", "/v1/models"): "models",
}
STATS_PATH = "/stand-in/stats"
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "api-key", "x-api-key"})
REDACTED = "[REDACTED]"
_ERROR_KINDS = {
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "unknown_url"),
    429: ("requests", "rate_limit_exceeded"),
}
_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


@dataclass(frozen=True)
class Request:
    """One request the stand-in received, kept as it came but for its secrets.

    Attributes:
        method: ``"POST"`` or ``"GET"``.
        path: the URL path, e.g. ``"/v1/chat/completions"``.
        endpoint: ``"chat"``, ``"responses"``, ``"embeddings"``, ``"models"``, or ``""`` for a
            path the stand-in does not serve (answered 404).
        body: the JSON body (``None`` without one, or when it is not JSON).
        headers: header names in lower case -> values. ``Authorization`` (and ``api-key``,
            ``x-api-key``, ``proxy-authorization``) are masked: ``"Bearer [REDACTED]"`` says a
            key was sent, never which.
        received_at: `time.monotonic` when it arrived (e.g. to check a client's retry delay).

    Example:
        >>> sent = server.requests[-1]
        >>> sent.body["model"], sent.headers["authorization"]
        ('gpt-4o-mini', 'Bearer [REDACTED]')
    """

    method: str
    path: str
    endpoint: str
    body: Any
    headers: Mapping[str, str]
    received_at: float


def _masked(name: str, value: str) -> str:
    if name not in SECRET_HEADERS:
        return value
    scheme, _, rest = value.partition(" ")
    return f"{scheme} {REDACTED}" if rest else REDACTED


def _error_body(error: Error) -> dict[str, Any]:
    default = "server_error" if error.status >= 500 else "invalid_request_error"
    kind, code = _ERROR_KINDS.get(error.status, (default, None))
    try:
        phrase = HTTPStatus(error.status).phrase
    except ValueError:
        phrase = "Error"
    message = error.message or f"stand-in: {phrase}"
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class StandIn:
    """A local stand-in for the OpenAI API: a real HTTP server on 127.0.0.1, not a model.

    It serves ``POST /v1/chat/completions`` (plain, or streamed as server-sent events with a
    final usage chunk when ``stream_options.include_usage``), ``POST /v1/responses`` (plain or
    streamed events), ``POST /v1/embeddings`` (`embed` vectors, float or base64) and
    ``GET /v1/models``, on a free port, in background threads. Point any OpenAI client at
    `url` and your app runs offline, with answers you script and every request kept in
    `requests`. Chat and responses requests take the next item of ``replies``; when the list
    runs out (or none was given) the reply function answers (default `echo`). ``GET
    /stand-in/stats`` returns `counts` and `max_concurrent` as JSON, for a stand-in run in
    another process.

    Args:
        replies: a list of scripted answers, each a `str`, `Reply`, `Error` or `Timeout`,
            served in order; or a function ``request body -> answer``, asked for every request
            (e.g. `judge_reply`). More can be queued later with `enqueue`.
        model: the model name put in answers; ``None``: the one the request asked for.
        api_key: when set, requests without this key get 401, as from the real API (so a test
            proves which key the app sent without the key being kept anywhere).
        delay: seconds to wait before every answer (a model's latency).
        stream_delay: seconds between streamed chunks (so time to first token shows).
        port: the port on 127.0.0.1; 0: a free one.

    Example:
        >>> from openai import OpenAI
        >>> from llmtrace.testing import Error, StandIn
        >>> with StandIn([Error(429, retry_after=0.1), "Paris."]) as server:
        ...     client = OpenAI(base_url=server.url, api_key="test")
        ...     reply = client.chat.completions.create(
        ...         model="gpt-4o-mini", messages=[{"role": "user", "content": "Capital?"}])
        >>> reply.choices[0].message.content, server.counts["chat"]
        ('Paris.', 2)
    """

    def __init__(
        self,
        replies: Iterable[Scripted] | ReplyFunction | None = None,
        *,
        model: str | None = None,
        api_key: str | None = None,
        delay: float = 0.0,
        stream_delay: float = 0.0,
        port: int = 0,
    ) -> None:
        if isinstance(replies, (str, Reply, Error, Timeout)):
            raise TypeError(
                "replies takes a list of replies or a function: [reply] to answer once, "
                "lambda body: reply to answer always"
            )
        self.model = model
        self.delay = delay
        self.stream_delay = stream_delay
        self._api_key = api_key
        self._port = port
        self._lock = threading.Lock()
        self._reply: ReplyFunction = replies if callable(replies) else echo
        self._script: deque[Scripted] = deque()
        self.enqueue(*(() if callable(replies) or replies is None else replies))
        self._log: list[Request] = []
        self._busy_now = self._busy_max = 0
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._workers: set[threading.Thread] = set()

    # -- what a test reads ---------------------------------------------------------------
    @property
    def port(self) -> int:
        """The port it listens on (127.0.0.1)."""
        if self._server is None:
            raise LLMTraceError("the stand-in is not running: call start(), or use `with`")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL for an OpenAI client: ``http://127.0.0.1:<port>/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[Request]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._log)

    @property
    def counts(self) -> Counter[str]:
        """How many requests each endpoint got: ``chat``, ``responses``, ``embeddings``..."""
        with self._lock:
            return Counter(r.endpoint for r in self._log if r.endpoint)

    @property
    def max_concurrent(self) -> int:
        """The most requests it was handling at the same time (to check a concurrency limit)."""
        return self._busy_max

    def enqueue(self, *replies: Scripted) -> None:
        """Add answers to the end of the script (served before the reply function)."""
        for reply in replies:
            if not isinstance(reply, (str, Reply, Error, Timeout)):
                raise TypeError(f"a reply is a str, Reply, Error or Timeout, not {reply!r}")
        with self._lock:
            self._script.extend(replies)

    # -- running -------------------------------------------------------------------------
    def start(self) -> StandIn:
        """Listen on 127.0.0.1 and serve in a background thread; returns itself."""
        if self._server is None:
            self._stopping.clear()
            self._server = _Server(self)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"llmtrace-stand-in-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: ends waits and open connections, then closes the socket (idempotent)."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            connections, workers = list(self._connections), list(self._workers)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()
        deadline = time.monotonic() + 5.0
        for worker in (thread, *workers):
            worker.join(max(0.0, deadline - time.monotonic()))
        self._server = self._thread = None

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- for the handler ---------------------------------------------------------------------
    def _stats(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "max_concurrent": self._busy_max}

    def _record(self, request: Request) -> None:
        with self._lock:
            self._log.append(request)

    @contextlib.contextmanager
    def _busy(self) -> Iterator[None]:
        with self._lock:
            self._busy_now += 1
            self._busy_max = max(self._busy_max, self._busy_now)
        try:
            yield
        finally:
            with self._lock:
                self._busy_now -= 1

    def _attach(self, connection: socket.socket, attached: bool) -> None:
        with self._lock:
            if attached:
                self._connections.add(connection)
                self._workers.add(threading.current_thread())
            else:
                self._connections.discard(connection)
                self._workers.discard(threading.current_thread())

    def _key_ok(self, headers: Mapping[str, str]) -> bool:
        if self._api_key is None:
            return True
        sent = headers.get("authorization", "").removeprefix("Bearer ") or headers.get("api-key")
        return hmac.compare_digest((sent or "").encode(), self._api_key.encode())

    def _next(self, body: dict[str, Any]) -> Scripted:
        with self._lock:
            if self._script:
                return self._script.popleft()
        return self._reply(body)

    def _model(self, body: Any) -> str:
        asked = body.get("model") if isinstance(body, dict) else None
        return self.model or str(asked or "stand-in")

    def _new_id(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}{next(self._ids)}"

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds``; False (at once) when the stand-in is stopping."""
        if seconds > 0:
            self._stopping.wait(seconds)
        return not self._stopping.is_set()


def _refusal(
    owner: StandIn, headers: Mapping[str, str], endpoint: str, asked: str, body: Any
) -> Error | None:
    """The error a request gets before any script: a wrong key, an unknown path, no JSON."""
    if not owner._key_ok(headers):
        return Error(401, "stand-in: incorrect API key provided")
    if not endpoint:
        return Error(404, f"stand-in: no {asked}")
    if endpoint != "models" and not isinstance(body, dict):
        return Error(400, "stand-in: the body is not a JSON object")
    return None


def _scripted(body: dict[str, Any], owner: StandIn) -> Reply | Error | Timeout:
    """The next item of the script (or the reply function's answer), as a Reply if text."""
    try:
        item = owner._next(body)
    except Exception as exc:  # the test's own function: say so in the answer, do not retry
        logger.warning("stand-in: the reply function raised %r", exc)
        message = f"stand-in: the reply function raised {type(exc).__name__}: {exc}"
        return Error(500, message, should_retry=False)
    if isinstance(item, str):
        return Reply(item)
    if isinstance(item, (Reply, Error, Timeout)):
        return item
    message = f"stand-in: a reply is a str, Reply, Error or Timeout, not {item!r}"
    return Error(500, message, should_retry=False)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: StandIn) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", owner._port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    """One connection: HTTP/1.1 keep-alive, like the API; streams are chunked."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no delayed-ACK wait
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.owner._attach(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._attach(self.connection, False)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- a request -----------------------------------------------------------------------
    def _handle(self, method: str) -> None:
        try:
            self._serve(method, self.server.owner)
        except _GONE:  # the client gave up (a timeout): nothing to answer
            self.close_connection = True

    def _serve(self, method: str, owner: StandIn) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if method == "GET" and path == STATS_PATH:
            self._send_json(200, owner._stats())
            return
        body = self._read_body()
        sent = {k.lower(): v for k, v in self.headers.items()}
        masked = {k: _masked(k, v) for k, v in sent.items()}
        endpoint = ENDPOINTS.get((method, path), "")
        owner._record(Request(method, path, endpoint, body, masked, time.monotonic()))
        with owner._busy():
            refused = _refusal(owner, sent, endpoint, f"{method} {path}", body)
            if refused is not None:
                self._send_error(refused)
            elif not owner._wait(owner.delay):
                self.close_connection = True
            elif endpoint == "models":
                model = {"id": owner._model(body), "object": "model", "owned_by": "stand-in"}
                self._send_json(200, {"object": "list", "data": [{**model, "created": 0}]})
            elif endpoint == "embeddings":
                self._send_json(200, embeddings_response(body, owner._model(body)))
            else:
                self._answer(endpoint, body, owner)

    def _answer(self, endpoint: str, body: dict[str, Any], owner: StandIn) -> None:
        """A chat or responses request: the next scripted item, answered as it says."""
        item = _scripted(body, owner)
        if isinstance(item, Timeout):
            owner._wait(item.seconds)
            self.close_connection = True
        elif isinstance(item, Error):
            self._send_error(item)
        elif not owner._wait(item.delay):
            self.close_connection = True
        else:
            self._reply(endpoint, body, item, owner)

    def _reply(self, endpoint: str, body: dict[str, Any], item: Reply, owner: StandIn) -> None:
        calls = [replace(c, id=c.id or owner._new_id("call_standin_")) for c in item.tool_calls]
        reply = replace(item, tool_calls=calls)
        message = assistant_message(reply)
        usage = item.usage if isinstance(item.usage, Usage) else None
        if item.usage is True:
            usage = counted_usage(body, message)
        model, stream = owner._model(body), bool(body.get("stream"))
        if endpoint == "responses":
            ident = owner._new_id("resp_standin_")
            if stream:
                found = events(body, reply, usage, model=model, ident=ident)
                self._send_events([(e["type"], e) for e in found], done=False)
            else:
                self._send_json(200, response(body, reply, usage, model=model, ident=ident))
            return
        ident, finish = owner._new_id("chatcmpl-standin-"), finish_reason(reply)
        if stream:
            found = chunks(body, message, finish, usage, model=model, ident=ident)
            self._send_events([(None, c) for c in found], done=True)
        else:
            self._send_json(200, completion(message, finish, usage, model=model, ident=ident))

    # -- writing -------------------------------------------------------------------------
    def _read_body(self) -> Any:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def _send_json(
        self, status: int, payload: Any, headers: Mapping[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, error: Error) -> None:
        headers: dict[str, str] = {}
        if error.retry_after is not None:
            seconds = error.retry_after
            headers["retry-after"] = str(int(seconds)) if seconds == int(seconds) else str(seconds)
        if error.should_retry is not None:
            headers["x-should-retry"] = "true" if error.should_retry else "false"
        self._send_json(error.status, _error_body(error), headers)

    def _send_events(self, found: Iterable[tuple[str | None, Any]], done: bool) -> None:
        """Server-sent events, one HTTP chunk each; ``done``: a final ``data: [DONE]``."""
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        owner = self.server.owner
        lines = [
            (f"event: {name}\n" if name else "") + f"data: {json.dumps(e)}\n\n" for name, e in found
        ]
        for line in [*lines, *(["data: [DONE]\n\n"] if done else [])]:
            data = line.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
            if not owner._wait(owner.stream_delay):
                self.close_connection = True
                return
        self.wfile.write(b"0\r\n\r\n")
