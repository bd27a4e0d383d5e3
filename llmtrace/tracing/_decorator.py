"""`@trace`: one typed decorator for functions, methods, coroutines and (async) generators."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator, Mapping, Sequence
from typing import Any, TypeVar, overload

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace

from .._errors import LLMTraceError
from .._log import warn_once
from . import _state
from ._binding import CallShape
from ._kinds import SpanKind, to_kind
from ._payload import COPIED, EXCLUDED, SpanPayload, snapshot
from ._span import SpanHandle, start_span

F = TypeVar("F", bound=Callable[..., Any])

_attach = otel_context.attach
_detach = otel_context.detach
_in_context = otel_trace.set_span_in_context


@overload
def trace(func: F, /) -> F: ...


@overload
def trace(
    *,
    name: str | None = None,
    kind: SpanKind | str | None = None,
    attributes: Mapping[str, Any] | None = None,
    capture_inputs: bool = True,
    capture_outputs: bool = True,
    output_reducer: Callable[[list[Any]], Any] | None = None,
    exclude_inputs: Sequence[str] = (),
) -> Callable[[F], F]: ...


def trace(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    kind: SpanKind | str | None = None,
    attributes: Mapping[str, Any] | None = None,
    capture_inputs: bool = True,
    capture_outputs: bool = True,
    output_reducer: Callable[[list[Any]], Any] | None = None,
    exclude_inputs: Sequence[str] = (),
) -> Any:
    """Trace every call of a function as a span (bare ``@trace`` or ``@trace(...)``).

    Works on sync and ``async`` functions, generators and async generators, functions and
    methods. Inputs are the call's bound arguments (``self``/``cls`` left out), outputs its
    return value; a generator's output is the list of what it yielded, or
    ``output_reducer(items)``. The function's own exception passes through unchanged and is
    recorded on the span; llmtrace's failures never reach the caller.

    Args:
        name: span name; default the function's ``__qualname__``.
        kind: a `SpanKind` or its name (``"LLM"``, ``"RETRIEVER"``, ``"TOOL"``...).
        attributes: attributes set on every span of this function.
        capture_inputs: record the arguments (default True).
        capture_outputs: record the return value (default True).
        output_reducer: for generators, turns the list of yielded items into the output.
        exclude_inputs: names of arguments to leave out of the inputs (a client, a
            connection, a large object); a name the function does not take is an error.

    Arguments without a readable form of their own (objects with Python's default repr, such
    as an SDK client) are recorded as a short ``<Type object>`` tag, after the plain values.

    Example:
        >>> @llmtrace.trace(kind="RETRIEVER")
        ... def retrieve(query: str, k: int = 3) -> list[dict]:
        ...     return [{"content": "Paris is in France", "score": 0.9}]
        >>> @llmtrace.trace(exclude_inputs=("client",))
        ... def chat(client: OpenAI, text: str) -> str: ...
    """
    span_kind = to_kind(kind)
    if attributes is not None and not isinstance(attributes, Mapping):
        raise LLMTraceError(f"attributes must be a mapping, got {type(attributes).__name__}")
    if output_reducer is not None and not callable(output_reducer):
        raise LLMTraceError("output_reducer must be a function taking the list of yielded items")
    if isinstance(exclude_inputs, str) or not all(isinstance(n, str) for n in exclude_inputs):
        raise LLMTraceError(
            f"exclude_inputs must be a list or tuple of argument names, e.g. ('client',), "
            f"got {exclude_inputs!r}"
        )
    excluded = frozenset(exclude_inputs)

    def decorate(fn: F) -> F:
        target = fn.__func__ if isinstance(fn, (classmethod, staticmethod)) else fn
        if not callable(target):
            raise LLMTraceError(f"@trace needs a function, got {type(fn).__name__}")
        wrapped = _wrap(
            target,
            name or getattr(target, "__qualname__", None) or repr(target),
            span_kind,
            dict(attributes) if attributes else None,
            capture_inputs,
            capture_outputs,
            output_reducer,
            excluded,
        )
        if isinstance(fn, classmethod):
            return classmethod(wrapped)  # type: ignore[return-value]
        if isinstance(fn, staticmethod):
            return staticmethod(wrapped)  # type: ignore[return-value]
        return wrapped  # type: ignore[return-value]

    if func is not None:
        return decorate(func)  # type: ignore[type-var]
    return decorate


def _excluded_positions(
    sig: inspect.Signature | None, excluded: frozenset[str], span_name: str
) -> frozenset[int]:
    """Positions of the excluded arguments; an `LLMTraceError` for a name the function lacks."""
    if not excluded:
        return frozenset()
    if sig is None:
        return frozenset()
    params = sig.parameters
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for name in sorted(excluded):
        if name not in params and not takes_kwargs:
            raise LLMTraceError(
                f"@trace({span_name!r}) exclude_inputs: {name!r} is not an argument of the "
                f"function (arguments: {', '.join(params) or 'none'})"
            )
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return frozenset(
        i for i, (name, p) in enumerate(params.items()) if name in excluded and p.kind in positional
    )


def _signature(fn: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins have none
        return None


def _wrap(
    fn: Callable[..., Any],
    span_name: str,
    kind: SpanKind,
    attributes: dict[str, Any] | None,
    capture_inputs: bool,
    capture_outputs: bool,
    reducer: Callable[[list[Any]], Any] | None,
    excluded: frozenset[str] = frozenset(),
) -> Callable[..., Any]:
    sig = _signature(fn)
    params = list(sig.parameters) if sig is not None else []
    skip_first = bool(params) and params[0] in ("self", "cls")
    func_name = getattr(fn, "__name__", span_name)
    skip_positions = _excluded_positions(sig, excluded, span_name)
    shape = CallShape(sig)

    def begin(args: tuple[Any, ...], kwargs: dict[str, Any]) -> SpanHandle | None:
        try:
            if capture_inputs:  # each branch below is the same record, minus work not needed
                if not args:
                    positional: tuple[Any, ...] = ()
                elif skip_positions:
                    positional = tuple(
                        [
                            EXCLUDED if i in skip_positions else snapshot(a)
                            for i, a in enumerate(args)
                        ]
                    )
                else:
                    positional = tuple([a.copy() if type(a) in COPIED else a for a in args])
                if not kwargs:
                    named = kwargs  # the call's own (fresh, empty) dict
                elif excluded:
                    named = {
                        k: EXCLUDED if k in excluded else snapshot(v) for k, v in kwargs.items()
                    }
                else:
                    named = {k: v.copy() if type(v) in COPIED else v for k, v in kwargs.items()}
                recorded: tuple[tuple[Any, ...], dict[str, Any]] | None = (positional, named)
            else:
                recorded = None
            payload = SpanPayload(
                kind,
                func_name=func_name,
                shape=shape,
                args=recorded,
                skip_first=skip_first,
                capture_inputs=capture_inputs,
                capture_outputs=capture_outputs,
            )
            return start_span(span_name, payload, attributes)
        except Exception as exc:
            warn_once("trace-start", "llmtrace could not start span %r: %r", span_name, exc)
            return None

    def finish(handle: SpanHandle, token: object, result: Any) -> None:
        try:
            if capture_outputs:
                handle._payload.outputs = result.copy() if type(result) in COPIED else result
            handle.end()
        except Exception as exc:
            warn_once("trace-end", "llmtrace could not end span %r: %r", span_name, exc)
        finally:
            _safe_detach(token)

    def fail(handle: SpanHandle, token: object, exc: BaseException) -> None:
        try:
            handle.record_exception(exc)
            handle.end()
        except BaseException as err:  # the user's exception passes unchanged
            warn_once("trace-end", "llmtrace could not end span %r: %r", span_name, err)
        finally:
            _safe_detach(token)

    if inspect.isasyncgenfunction(fn):
        return _wrap_async_gen(fn, begin, reducer)
    if inspect.isgeneratorfunction(fn):
        return _wrap_gen(fn, begin, reducer)
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            handle = begin(args, kwargs)
            if handle is None:
                return await fn(*args, **kwargs)
            token = _attach_span(handle)
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                fail(handle, token, exc)
                raise
            finish(handle, token, result)
            return result

        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        handle = begin(args, kwargs)
        if handle is None:
            return fn(*args, **kwargs)
        token = _attach_span(handle)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            fail(handle, token, exc)
            raise
        finish(handle, token, result)
        return result

    return wrapper


def _attach_span(handle: SpanHandle) -> object:
    try:
        return _attach(_in_context(handle._span))
    except Exception as exc:
        warn_once("attach", "llmtrace could not attach span context: %r", exc)
        return None


def _safe_detach(token: object) -> None:
    if token is None:
        return
    try:
        _detach(token)  # type: ignore[arg-type]
    except Exception as exc:
        warn_once("detach", "llmtrace could not detach span context: %r", exc)


class _GeneratorSpan:
    """Ends a generator's span exactly once, whatever way the generator stops."""

    __slots__ = ("__weakref__", "closed_early", "handle", "items", "reducer")

    def __init__(self, handle: SpanHandle, reducer: Callable[[list[Any]], Any] | None) -> None:
        self.handle = handle
        self.items: list[Any] = []
        self.reducer = reducer
        self.closed_early = False
        _state.register_open_generator(self)

    def _outputs(self) -> Any:
        if self.reducer is None:
            return self.items
        try:
            return self.reducer(self.items)
        except Exception as exc:
            warn_once("reducer", "llmtrace: output_reducer raised %r; storing the items", exc)
            return self.items

    def end(self, exc: BaseException | None = None, *, reason: str | None = None) -> None:
        if self.handle._ended:
            return
        _state.unregister_open_generator(self)
        try:
            payload = self.handle._payload
            if payload.capture_outputs:
                payload.outputs = self._outputs()
            if reason is not None:
                self.handle.set_attribute("llmtrace.generator.stopped", reason)
                self.handle.set_attribute("llmtrace.generator.items", len(self.items))
            if exc is not None:
                self.handle.record_exception(exc)
            self.handle.end()
        except Exception as err:
            warn_once("gen-end", "llmtrace could not end a generator span: %r", err)

    def end_at_exit(self) -> None:
        self.end(reason="interpreter exit")


def _wrap_gen(
    fn: Callable[..., Generator[Any, Any, Any]],
    begin: Callable[[tuple[Any, ...], dict[str, Any]], SpanHandle | None],
    reducer: Callable[[list[Any]], Any] | None,
) -> Callable[..., Generator[Any, Any, Any]]:
    @functools.wraps(fn)
    def gen_wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        handle = begin(args, kwargs)
        if handle is None:
            return (yield from fn(*args, **kwargs))
        state = _GeneratorSpan(handle, reducer)
        context = _in_context(handle._span)
        try:
            token = _attach(context)
            try:
                gen = fn(*args, **kwargs)
            finally:
                _safe_detach(token)
            to_send: Any = None
            to_throw: BaseException | None = None
            while True:
                token = _attach(context)
                try:
                    if to_throw is not None:
                        exc, to_throw = to_throw, None
                        item = gen.throw(exc)
                    else:
                        item = gen.send(to_send)
                except StopIteration as stop:
                    state.end()
                    return stop.value
                finally:
                    _safe_detach(token)
                state.items.append(item)
                try:
                    to_send = yield item
                except GeneratorExit:
                    gen.close()
                    state.end(reason="closed")
                    raise
                except BaseException as exc:  # thrown in by the caller: pass it on
                    to_send, to_throw = None, exc
        except BaseException as exc:
            state.end(exc)
            raise
        finally:
            state.end(reason="closed")

    return gen_wrapper


def _wrap_async_gen(
    fn: Callable[..., AsyncGenerator[Any, Any]],
    begin: Callable[[tuple[Any, ...], dict[str, Any]], SpanHandle | None],
    reducer: Callable[[list[Any]], Any] | None,
) -> Callable[..., AsyncGenerator[Any, Any]]:
    @functools.wraps(fn)
    async def agen_wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        handle = begin(args, kwargs)
        if handle is None:
            async for item in fn(*args, **kwargs):
                yield item
            return
        state = _GeneratorSpan(handle, reducer)
        context = _in_context(handle._span)
        try:
            token = _attach(context)
            try:
                agen = fn(*args, **kwargs)
            finally:
                _safe_detach(token)
            to_send: Any = None
            to_throw: BaseException | None = None
            while True:
                token = _attach(context)
                try:
                    if to_throw is not None:
                        exc, to_throw = to_throw, None
                        item = await agen.athrow(exc)
                    else:
                        item = await agen.asend(to_send)
                except StopAsyncIteration:
                    state.end()
                    return
                finally:
                    _safe_detach(token)
                state.items.append(item)
                try:
                    to_send = yield item
                except GeneratorExit:
                    await agen.aclose()
                    state.end(reason="closed")
                    raise
                except BaseException as exc:
                    to_send, to_throw = None, exc
        except BaseException as exc:
            state.end(exc)
            raise
        finally:
            state.end(reason="closed")

    return agen_wrapper
