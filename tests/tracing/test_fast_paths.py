"""The export thread's and the caller's fast paths give what the slow, general ones give.

`CallShape.bind` against ``inspect.Signature.bind_partial``, `plain_json` against the walk that
`dump_json` takes for every other value,
`approx_bytes` (reading the span's own fields) against the same sum over its public properties.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider

import llmtrace
from llmtrace.export._processor import _shed
from llmtrace.tracing import _payload
from llmtrace.tracing._binding import CallShape
from llmtrace.tracing._kinds import SpanKind
from llmtrace.tracing._plainjson import plain_json
from llmtrace.tracing._serialize import _dumps, dump_json, to_jsonable
from llmtrace.tracing._size import SPAN_OVERHEAD, _flat, _shallow, approx_bytes

P = inspect.Parameter
NAMES = ["a", "b", "c", "d", "e"]


@st.composite
def signatures(draw: Any) -> inspect.Signature:
    """Signatures of every parameter kind, in a valid order."""
    kinds = draw(
        st.lists(
            st.sampled_from(
                [P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD, P.VAR_POSITIONAL, P.KEYWORD_ONLY]
            ),
            max_size=5,
        )
    )
    kinds = sorted(kinds, key=lambda k: k.value)
    if kinds.count(P.VAR_POSITIONAL) > 1:
        kinds = [k for k in kinds if k is not P.VAR_POSITIONAL] + [P.VAR_POSITIONAL]
        kinds = sorted(kinds, key=lambda k: k.value)
    params = [P(NAMES[i], k) for i, k in enumerate(kinds)]
    if draw(st.booleans()):
        params.append(P("kw", P.VAR_KEYWORD))
    return inspect.Signature(params)


def _bind_partial(sig: inspect.Signature, args: tuple, kwargs: dict) -> Any:
    try:
        return dict(sig.bind_partial(*args, **kwargs).arguments)
    except TypeError as exc:
        return TypeError, str(exc)


def _fast(shape: CallShape, args: tuple, kwargs: dict) -> Any:
    try:
        return shape.bind(args, kwargs)
    except TypeError as exc:
        return TypeError, str(exc)


@settings(max_examples=600, deadline=None)
@given(
    sig=signatures(),
    args=st.lists(st.integers(), max_size=6).map(tuple),
    kwargs=st.dictionaries(st.sampled_from([*NAMES, "kw", "zz"]), st.integers(), max_size=4),
)
def test_bind_equals_bind_partial_in_value_order_and_error(
    sig: inspect.Signature, args: tuple, kwargs: dict
) -> None:
    got, want = _fast(CallShape(sig), args, kwargs), _bind_partial(sig, args, kwargs)
    assert got == want
    if isinstance(want, dict):
        assert list(got) == list(want)  # the same order: inputs are shown in it


def test_var_keyword_is_named_once_for_the_decorator() -> None:
    def f(a: int, **extra: Any) -> None: ...

    assert CallShape(inspect.signature(f)).var_keyword == "extra"
    assert CallShape(inspect.signature(lambda a: a)).var_keyword is None


PLAIN = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.just({}),
    st.just([]),
    st.just(()),
    st.text(max_size=5),
)


@settings(max_examples=800, deadline=None)
@given(value=PLAIN, limit=st.sampled_from([0, 1, 3, 5, 10, 100_000]))
def test_plain_json_is_the_walks_text_or_declines(value: Any, limit: int) -> None:
    fast = plain_json(value, limit)
    if fast is None:
        return
    walked = _dumps(to_jsonable(value, limit))  # dump_json's path for a value it must clean
    assert fast == walked and (limit == 0 or len(walked) <= limit)
    assert dump_json(value, limit) == (fast, False)


def test_a_redact_hook_sees_even_the_plain_values() -> None:
    seen: list[Any] = []

    def hook(value: Any) -> Any:
        seen.append(value)
        return "withheld"

    assert dump_json(None, 100, hook) == ('"withheld"', False)
    assert dump_json({}, 100, hook) == ('"withheld"', False)
    assert seen == [None, {}]


def test_plain_json_takes_the_common_values_and_leaves_the_rest() -> None:
    assert [plain_json(v) for v in (None, True, 0, -7, 1.5, {}, [])] == [
        "null", "true", "0", "-7", "1.5", "{}", "[]"
    ]  # fmt: skip
    for value in ("text", 2**60, math.nan, math.inf, {"a": 1}, [1], (), object()):
        assert plain_json(value) is None
    assert plain_json(12345, 3) is None  # to be cut by dump_json


def _public_sum(span: ReadableSpan) -> int:
    """approx_bytes as written before, over the span's public properties."""
    total = SPAN_OVERHEAD
    for value in (span.attributes or {}).values():
        total += _flat(value)
    for event in span.events:
        total += 64
        for value in (event.attributes or {}).values():
            total += _flat(value)
    payload = _payload.lookup(span.context.span_id)
    if payload is not None:
        if payload.args is not None:
            args, kwargs = payload.args
            total += sum(_shallow(a) for a in args) + sum(_shallow(v) for v in kwargs.values())
        total += _shallow(payload.inputs) + _shallow(payload.outputs)
        for value in (payload.extra or {}).values():
            total += _shallow(value)
    return total


VALUES = st.one_of(st.text(max_size=300), st.integers(), st.lists(st.text(max_size=20), max_size=5))


@settings(max_examples=200, deadline=None)
@given(
    attrs=st.dictionaries(st.text(min_size=1, max_size=8), VALUES, max_size=6),
    events=st.lists(
        st.dictionaries(st.text(min_size=1, max_size=5), VALUES, max_size=3), max_size=3
    ),
    args=st.lists(VALUES, max_size=4),
    kwargs=st.dictionaries(st.text(max_size=4), VALUES, max_size=3),
    inputs=st.one_of(st.just(_payload._MISSING), st.none(), st.booleans(), st.floats(), VALUES),
    outputs=st.one_of(
        st.just(_payload._MISSING),
        st.none(),
        VALUES,
        st.dictionaries(st.text(max_size=4), VALUES, max_size=4),
    ),
    extra=st.one_of(st.none(), st.dictionaries(st.text(max_size=4), VALUES, max_size=3)),
    registered=st.booleans(),
    shed=st.booleans(),
)
def test_approx_bytes_equals_the_sum_over_public_properties(
    attrs: dict,
    events: list,
    args: list,
    kwargs: dict,
    inputs: Any,
    outputs: Any,
    extra: Any,
    registered: bool,
    shed: bool,
) -> None:
    tracer = TracerProvider().get_tracer("t")
    live = tracer.start_span("s", attributes=attrs)
    for i, ev in enumerate(events):
        live.add_event(f"e{i}", ev)
    live.end()
    span = live._readable_span()
    if shed:  # as the processor leaves a span whose event and link lists were empty
        _shed(span)
    key = span.context.span_id
    if registered:
        payload = _payload.SpanPayload(SpanKind.UNKNOWN, args=(tuple(args), kwargs))
        payload.inputs, payload.outputs, payload.extra = inputs, outputs, extra
        _payload.register(key, payload)
    try:
        assert approx_bytes(span) == _public_sum(span)
        bare = ReadableSpan(
            name="s", context=span.context, attributes=dict(attrs),
            events=[Event(f"e{i}", ev) for i, ev in enumerate(events)],
        )  # fmt: skip
        assert approx_bytes(bare) == _public_sum(bare)
    finally:
        _payload.discard(key)


ARGS = st.one_of(
    st.text(max_size=5),
    st.integers(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
    st.sets(st.integers(), max_size=3),
    st.tuples(st.integers()),
)


@settings(max_examples=150, deadline=None)
@given(
    args=st.lists(ARGS, max_size=3),
    kwargs=st.dictionaries(st.sampled_from(["k", "m", "n"]), ARGS, max_size=3),
    exclude=st.sets(st.sampled_from(["a", "b", "k", "m"]), max_size=2),
)
def test_the_decorator_records_a_call_as_the_general_comprehension_does(
    args: list, kwargs: dict, exclude: set
) -> None:
    """The decorator's branches (no arguments, none excluded, some excluded) all record what
    one comprehension over every argument records: copies of top-level lists, dicts and sets,
    `EXCLUDED` in place of the arguments left out."""
    llmtrace.configure(export_to_mlflow=False, exporters=[])

    def fn(a: Any = None, b: Any = None, c: Any = None, **kw: Any) -> Any:
        return llmtrace.current_span()._payload.args

    try:
        recorded = llmtrace.trace(exclude_inputs=sorted(exclude))(fn)(*args, **kwargs)
    finally:
        llmtrace.shutdown()
    skip = {i for i, name in enumerate("abc") if name in exclude}
    want_args = tuple(
        _payload.EXCLUDED if i in skip else _payload.snapshot(a) for i, a in enumerate(args)
    )
    want_kwargs = {
        k: _payload.EXCLUDED if k in exclude else _payload.snapshot(v) for k, v in kwargs.items()
    }
    assert recorded == (want_args, want_kwargs)
    pairs = [*zip(recorded[0], args, strict=True), *((recorded[1][k], kwargs[k]) for k in kwargs)]
    for got, given_ in pairs:
        if type(given_) in (list, dict, set) and got is not _payload.EXCLUDED:
            assert got is not given_  # a copy: the caller's later changes are not stored
