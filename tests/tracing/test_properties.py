"""Property: whatever a traced function takes, returns or raises, the caller sees exactly that,
and every span is counted (`enqueued == exported + dropped + failed + queued`). Issue 14."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmtrace

ARMED = {"on": False}  # hostile only while llmtrace handles them (pytest's reports use repr)


class Hostile:
    """An object whose every hook raises the given exception type (while armed)."""

    def __init__(self, exc: type[BaseException]) -> None:
        self._exc = exc

    def __repr__(self) -> str:
        if ARMED["on"]:
            raise self._exc("repr")
        return f"Hostile({self._exc.__name__})"

    def __str__(self) -> str:
        if ARMED["on"]:
            raise self._exc("str")
        return repr(self)

    def __getattr__(self, name: str) -> Any:
        if ARMED["on"] and not name.startswith("_"):
            raise self._exc(name)
        raise AttributeError(name)


class UserError(Exception):
    def __init__(self, payload: Any, str_raises: type[BaseException] | None) -> None:
        super().__init__(payload)
        self.str_raises = str_raises

    def __str__(self) -> str:
        if self.str_raises is not None:
            raise self.str_raises("no str for you")
        return super().__str__()


texts = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=200)
leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**5000), max_value=10**5000)
    | st.floats(allow_nan=True, allow_infinity=True)
    | texts
    | st.binary(max_size=50)
    | st.sampled_from([KeyboardInterrupt, SystemExit, ValueError, RecursionError]).map(Hostile)
)
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.one_of(texts, st.integers(), st.floats()), inner, max_size=4)
    | st.tuples(inner, inner)
    | st.sets(st.integers(), max_size=3),
    max_leaves=12,
)
str_failures = st.sampled_from([None, ValueError, SystemExit, KeyboardInterrupt])


@llmtrace.trace
def returns(arg: Any, *args: Any, **kwargs: Any) -> Any:
    return arg


@llmtrace.trace
def raises(arg: Any, error: BaseException) -> Any:
    raise error


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(arg=values, extra=values, kw=st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), values, max_size=3), str_raises=str_failures, fail=st.booleans())  # noqa: E501
def test_the_caller_sees_exactly_its_own_result_and_every_span_is_counted(
    memory: InMemorySpanExporter,
    arg: Any,
    extra: Any,
    kw: dict[str, Any],
    str_raises: type[BaseException] | None,
    fail: bool,
) -> None:
    before = llmtrace.stats().enqueued
    ARMED["on"] = True
    try:
        flushed = _run(arg, extra, kw, str_raises, fail)
    finally:
        ARMED["on"] = False
    assert flushed
    stats = llmtrace.stats()
    assert stats.enqueued == stats.exported + stats.dropped + stats.failed + stats.queued
    assert stats.queued == 0 and stats.dropped == 0 and stats.failed == 0
    assert stats.enqueued - before == (1 if fail else 2)


def _run(
    arg: Any, extra: Any, kw: dict[str, Any], str_raises: type[BaseException] | None, fail: bool
) -> bool:
    if fail:
        error = UserError(arg, str_raises)
        with pytest.raises(UserError) as info:
            raises(arg, error)
        assert info.value is error
    else:
        assert returns(arg, extra, **kw) is arg
        with llmtrace.span("block", attributes={"k": "v"}) as s:
            s.set_inputs(extra)
            s.set_outputs(arg)
            s.set_attribute("value", arg)
            s.add_event("seen", {"value": extra})
    return llmtrace.flush(30)
