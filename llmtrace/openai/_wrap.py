"""`wrap(client)` and `instrument()`: trace the OpenAI SDK's resource methods.

Both put the same traced function in front of ``chat.completions.create``/``parse``,
``responses.create``/``parse`` and ``embeddings.create`` (sync and async): `wrap` on one client's
resource objects, `instrument` on the SDK's resource classes. The HTTP layer is never touched,
so whichever transport the client uses works. A call already being traced is never traced
again (a client both wrapped and instrumented gives one span per call).

Work is split as the style guide asks: what happens before the user's call and what happens
after it are guarded separately; the user's exception passes through unchanged; if llmtrace
fails to read a response, the response still reaches the caller.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace

from .. import _runtime
from .. import _semconv as sc
from .._errors import LLMTraceError
from .._log import warn_once
from ..tracing._payload import SpanPayload
from ..tracing._span import SpanHandle, start_span
from ._errors import record_error
from ._request import (
    CHAT_CREATE,
    CHAT_PARSE,
    EMBEDDINGS_CREATE,
    RESPONSES_CREATE,
    RESPONSES_PARSE,
    Api,
    Deferred,
    chat_input_messages,
    client_info,
    client_secrets,
    given,
    request_attributes,
    request_inputs,
    responses_input_messages,
    tool_definitions,
)
from ._response import record_result
from ._stream import StreamSpan, trace_stream

_SUPPRESS = otel_context._SUPPRESS_INSTRUMENTATION_KEY  # honoured by OTel instrumentations

ClientT = TypeVar("ClientT")

_MARK = "__llmtrace_openai__"
#: True while a traced OpenAI call is in progress in this context (no span inside a span).
_inside: ContextVar[bool] = ContextVar("llmtrace_openai_inside", default=False)

#: (module, class, method, api) patched by `instrument`.
_CLASS_TARGETS: tuple[tuple[str, str, str, Api], ...] = (
    ("openai.resources.chat.completions", "Completions", "create", CHAT_CREATE),
    ("openai.resources.chat.completions", "Completions", "parse", CHAT_PARSE),
    ("openai.resources.chat.completions", "AsyncCompletions", "create", CHAT_CREATE),
    ("openai.resources.chat.completions", "AsyncCompletions", "parse", CHAT_PARSE),
    ("openai.resources.responses", "Responses", "create", RESPONSES_CREATE),
    ("openai.resources.responses", "Responses", "parse", RESPONSES_PARSE),
    ("openai.resources.responses", "AsyncResponses", "create", RESPONSES_CREATE),
    ("openai.resources.responses", "AsyncResponses", "parse", RESPONSES_PARSE),
    ("openai.resources.embeddings", "Embeddings", "create", EMBEDDINGS_CREATE),
    ("openai.resources.embeddings", "AsyncEmbeddings", "create", EMBEDDINGS_CREATE),
)

#: (attribute path from the client, method, api) wrapped by `wrap`.
_CLIENT_TARGETS: tuple[tuple[tuple[str, ...], str, Api], ...] = (
    (("chat", "completions"), "create", CHAT_CREATE),
    (("chat", "completions"), "parse", CHAT_PARSE),
    (("responses",), "create", RESPONSES_CREATE),
    (("responses",), "parse", RESPONSES_PARSE),
    (("embeddings",), "create", EMBEDDINGS_CREATE),
)
_CACHED_VIEWS = ("with_raw_response", "with_streaming_response")


@dataclass(frozen=True)
class _Options:
    stream_usage: bool = True


class _Call:
    """One traced call in flight; ``with call:`` makes its span current around the user's call."""

    __slots__ = (
        "api",
        "capture",
        "client",
        "guard",
        "handle",
        "hide_usage",
        "model",
        "started",
        "token",
    )

    def __init__(self, api: Api, handle: SpanHandle, client: Any, model: Any) -> None:
        self.api = api
        self.handle = handle
        self.client = client
        self.model = model if isinstance(model, str) else None
        self.started = time.perf_counter()
        self.capture = True
        self.hide_usage = False
        self.guard: Any = None
        self.token: Any = None

    def __enter__(self) -> None:
        self.guard = _inside.set(True)
        try:
            # The span current, and other instrumentations of the same call (OpenInference's
            # or the official OpenAI instrumentor) told to stand aside: one LLM span, not two.
            context = otel_trace.set_span_in_context(self.handle.otel_span)
            context = otel_context.set_value(_SUPPRESS, True, context)
            self.token = otel_context.attach(context)
        except Exception as exc:
            warn_once("openai-attach", "llmtrace could not attach span context: %r", exc)

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        """Detach the span; when the user's call raised, record it (the exception propagates)."""
        try:
            if self.token is not None:
                otel_context.detach(self.token)
            _inside.reset(self.guard)
        except Exception as err:
            warn_once("openai-detach", "llmtrace could not detach span context: %r", err)
        if exc is not None:
            if self.handle.is_recording:
                record_error(self.handle, exc, client_secrets(self.client))
            self.handle.end()


# --- before / after the user's call --------------------------------------------------------


def _begin(
    api: Api,
    options: _Options | None,
    resource: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> _Call | None:
    """Start the span and record the request; None when the call is not to be traced.

    ``options`` None means `instrument`: its current options, and the resource is ``args[0]``
    (``self`` of the SDK method). May adjust ``kwargs`` in ways that do not change what the user
    gets: a one-shot iterable of messages, input items or tools becomes a list (so it can be both
    recorded and sent) and, for a streamed chat call without ``stream_options``, usage is
    requested (its extra chunk is hidden from the user).
    """
    if options is None:
        if not _state.active or not args:
            return None
        options, resource = _state.options, args[0]
    if _inside.get():
        return None
    try:
        client = getattr(resource, "_client", None)
        model = kwargs.get("model")
        name = f"{api.operation} {model}" if isinstance(model, str) else api.operation
        attributes = request_attributes(api, kwargs, client_info(client))
        handle = start_span(name, SpanPayload(api.kind, func_name=api.qualname), attributes)
    except Exception as exc:
        warn_once("openai-start", "llmtrace could not start an OpenAI span: %r", exc)
        return None
    if handle is None:
        return None
    call = _Call(api, handle, client, model)
    if not handle.is_recording:
        return call
    try:
        call.capture = _runtime.current_config().capture_content
        for key in ("messages", "input", "tools"):
            value = kwargs.get(key)
            if given(value) and not isinstance(value, (str, list, tuple, dict)):
                kwargs[key] = list(value)
        handle.set_inputs(request_inputs(kwargs))
        tools = kwargs.get("tools")
        if given(tools):
            handle.set_attribute(sc.MLFLOW_CHAT_TOOLS, Deferred(tool_definitions, list(tools)))
        if call.capture:
            if api.api == "chat.completions" and given(kwargs.get("messages")):
                messages = list(kwargs["messages"])
                handle.set_attribute(
                    sc.GEN_AI_INPUT_MESSAGES, Deferred(chat_input_messages, messages)
                )
            elif api.api == "responses":
                items = {"input": kwargs.get("input")}
                if isinstance(items["input"], list):
                    items["input"] = list(items["input"])
                handle.set_attribute(
                    sc.GEN_AI_INPUT_MESSAGES, Deferred(responses_input_messages, items)
                )
                instructions = kwargs.get("instructions")
                if isinstance(instructions, str):
                    handle.set_attribute(
                        sc.GEN_AI_SYSTEM_INSTRUCTIONS, [{"type": "text", "content": instructions}]
                    )
        if (
            api is CHAT_CREATE
            and options.stream_usage
            and kwargs.get("stream") is True
            and not given(kwargs.get("stream_options"))
        ):
            kwargs["stream_options"] = {"include_usage": True}
            call.hide_usage = True
    except Exception as exc:
        warn_once("openai-request", "llmtrace could not record an OpenAI request: %r", exc)
    return call


def _finish(call: _Call, result: Any) -> Any:
    """Record the result (or hook the stream) and end the span; always returns ``result``."""
    handle = call.handle
    if not handle.is_recording:
        handle.end()
        return result
    try:
        import openai
        from openai._legacy_response import LegacyAPIResponse

        parsed = result
        if isinstance(result, LegacyAPIResponse):  # with_raw_response: parse() is cached
            status = getattr(result, "status_code", None)
            if isinstance(status, int):
                handle.otel_span.set_attribute(sc.HTTP_RESPONSE_STATUS_CODE, status)
            parsed = result.parse()
        elif isinstance(result, (openai.APIResponse, openai.AsyncAPIResponse)):
            # with_streaming_response: the body is the caller's to read; record the status only
            handle.otel_span.set_attribute(sc.HTTP_RESPONSE_STATUS_CODE, result.status_code)
            handle.end()
            return result
        if isinstance(parsed, (openai.Stream, openai.AsyncStream)):
            state = StreamSpan(
                handle,
                call.api,
                call.model,
                call.started,
                call.capture,
                call.hide_usage,
                call.client,
            )
            trace_stream(parsed, state, isinstance(parsed, openai.AsyncStream))
            return result
        record_result(handle, call.api, parsed, call.model, call.capture)
    except Exception as exc:
        warn_once("openai-response", "llmtrace could not read an OpenAI response: %r", exc)
        try:
            handle.otel_span.set_attribute(
                sc.LLMTRACE_EXTRACTION_ERROR, f"{type(exc).__name__}: {exc}"
            )
        except Exception as err:
            warn_once("openai-response-2", "llmtrace could not flag a span: %r", err)
    handle.end()
    return result


def _traced(
    api: Api,
    fn: Callable[..., Any],
    is_async: bool,
    options: _Options | None = None,
    resource: Any = None,
) -> Callable[..., Any]:
    """``fn`` traced as ``api``, with its signature; `_begin` says which calls are traced."""

    @functools.wraps(fn)
    def straced(*args: Any, **kwargs: Any) -> Any:
        call = _begin(api, options, resource, args, kwargs)
        if call is None:
            return fn(*args, **kwargs)
        with call:
            result = fn(*args, **kwargs)
        return _finish(call, result)

    @functools.wraps(fn)
    async def atraced(*args: Any, **kwargs: Any) -> Any:
        call = _begin(api, options, resource, args, kwargs)
        if call is None:
            return await fn(*args, **kwargs)
        with call:
            result = await fn(*args, **kwargs)
        return _finish(call, result)

    traced = atraced if is_async else straced
    setattr(traced, _MARK, fn)
    return traced


# --- instrument(): every client in the process ----------------------------------------------


class _Instrumentation:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = False
        self.options = _Options()
        self.patched: list[tuple[type, str, Any]] = []


_state = _Instrumentation()


def _is_async(fn: Callable[..., Any], owner: type) -> bool:
    # The SDK's async methods are wrapped in sync decorators (``required_args``), so
    # ``iscoroutinefunction`` is not enough: async resources are ``AsyncAPIResource``s.
    if inspect.iscoroutinefunction(fn):
        return True
    try:
        from openai._resource import AsyncAPIResource
    except ImportError:
        return owner.__name__.startswith("Async")
    return issubclass(owner, AsyncAPIResource)


def instrument(*, stream_usage: bool = True) -> None:
    """Trace every OpenAI client of the process (sync, async and Azure); idempotent.

    Patches the SDK's resource classes (``chat.completions``, ``responses``, ``embeddings``);
    nothing is patched until this is called. Calling it again only updates the options.

    Args:
        stream_usage: for streamed chat calls without ``stream_options``, ask the API for token
            usage (``include_usage``); the extra usage chunk is not shown to your code. Turn
            off for OpenAI-compatible servers that reject ``stream_options``.

    Example:
        >>> import llmtrace.openai
        >>> llmtrace.openai.instrument()
        >>> OpenAI().chat.completions.create(model="gpt-4o-mini", messages=[...])  # traced
    """
    with _state.lock:
        _state.options = _Options(stream_usage=stream_usage)
        _state.active = True
        for module_name, class_name, method, api in _CLASS_TARGETS:
            try:
                cls = getattr(importlib.import_module(module_name), class_name, None)
            except ImportError:  # an older SDK without this API
                continue
            current = cls.__dict__.get(method) if cls is not None else None
            if current is None or getattr(current, _MARK, None) is not None:
                continue
            setattr(cls, method, _traced(api, current, _is_async(current, cls)))
            _state.patched.append((cls, method, current))


def uninstrument() -> None:
    """Undo `instrument` (clients wrapped with `wrap` stay traced); idempotent.

    Example:
        >>> llmtrace.openai.uninstrument()
    """
    with _state.lock:
        _state.active = False
        kept = []
        for cls, method, original in _state.patched:
            current = cls.__dict__.get(method)
            if current is not None and getattr(current, _MARK, None) is original:
                setattr(cls, method, original)
            else:  # someone patched on top of us: our wrapper stays, inactive
                kept.append((cls, method, original))
        _state.patched = kept


def is_instrumented() -> bool:
    """True between `instrument()` and `uninstrument()`."""
    return _state.active


# --- wrap(client): one client ---------------------------------------------------------------


def _resources(client: Any) -> list[tuple[list[Any], str, Api]]:
    found = []
    for path, method, api in _CLIENT_TARGETS:
        chain = [client]
        try:
            for attr in path:
                chain.append(getattr(chain[-1], attr))
        except AttributeError:  # an older SDK without this API
            continue
        found.append((chain, method, api))
    return found


def _forget_cached_views(chain: list[Any]) -> None:
    # `with_raw_response` objects capture the bound method when first built: rebuild them.
    for obj in chain:
        for name in _CACHED_VIEWS:
            vars(obj).pop(name, None)


def _check_client(client: Any) -> None:
    import openai

    if not isinstance(client, (openai.OpenAI, openai.AsyncOpenAI)):
        raise LLMTraceError(
            "llmtrace.openai.wrap() needs an openai.OpenAI, AsyncOpenAI, AzureOpenAI or "
            f"AsyncAzureOpenAI client, got {type(client).__name__}"
        )


def wrap(client: ClientT, *, stream_usage: bool = True) -> ClientT:
    """Trace one OpenAI client (``OpenAI``, ``AsyncOpenAI`` or Azure); returns the same client.

    Traced: ``chat.completions.create`` and ``.parse``, ``responses.create`` and ``.parse``,
    ``embeddings.create``, streamed or not, also through ``with_raw_response``. Each call is one
    LLM (or EMBEDDING) span with the request, the output, token usage and cost. Wrapping twice
    is harmless. Copies made later with ``client.with_options()`` are not wrapped.

    Args:
        client: the client to trace (modified in place).
        stream_usage: see `instrument`.

    Example:
        >>> from openai import OpenAI
        >>> client = llmtrace.openai.wrap(OpenAI())
        >>> client.chat.completions.create(model="gpt-4o-mini", messages=[...])
    """
    _check_client(client)
    options = _Options(stream_usage=stream_usage)
    for chain, method, api in _resources(client):
        resource = chain[-1]
        current = vars(resource).get(method)
        if current is not None and getattr(current, _MARK, None) is not None:
            continue
        bound = getattr(resource, method, None)
        if bound is None:
            continue
        traced = _traced(api, bound, _is_async(bound, type(resource)), options, resource)
        setattr(resource, method, traced)
        _forget_cached_views(chain)
    return client


def unwrap(client: ClientT) -> ClientT:
    """Undo `wrap` on ``client`` (idempotent); returns the same client."""
    _check_client(client)
    for chain, method, _api in _resources(client):
        resource = chain[-1]
        current = vars(resource).get(method)
        if current is not None and getattr(current, _MARK, None) is not None:
            delattr(resource, method)
            _forget_cached_views(chain)
    return client


def is_wrapped(client: Any) -> bool:
    """True when `wrap` traces this client's ``chat.completions.create``."""
    try:
        current = vars(client.chat.completions).get("create")
    except (AttributeError, TypeError):
        return False
    return current is not None and getattr(current, _MARK, None) is not None
