"""The export rows' JSON fast paths equal the slow ``json.loads`` ones on generated strings.

`_translate.json_string` (a JSON string literal without escapes, decoded by slicing),
`_translate.sanitize`'s pre-check (values whose first character after the opening quote cannot
begin a double encoding are kept without decoding) and `_sql_rows.preview`'s (JSON text of a
scalar is its own preview) are compared with ``json.loads``, MLflow's own `sanitize_attributes`
and `_get_truncated_preview` and the decoding path itself, on strings built from the characters
that matter: quotes, backslashes and escapes, brackets, ASCII and unicode whitespace, control
characters, and JSON (nested, once or twice encoded, ASCII-escaped or not).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlflow.tracing.otel.translation import sanitize_attributes

from llmtrace.export import _sql_rows, _translate

_CHARS = st.sampled_from(
    ['"', "\\", "{", "}", "[", "]", ":", ",", " ", "\t", "\n", "\r", "\u2003", "\u00a0",
     "\u3000", "\x1c", "\x1f", "\x00", "\x7f", "a", "1", "-", "u", "0", "n", "t", "é", "\ud800",
     "\\u0020", "\\u2003", '\\"', "\\n", "\\t", "\\/", "\\u005b", "\\u007b", "\\u0022", "\\x"]
)  # fmt: skip
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
_PAD = st.sampled_from(["", " ", "\n", "\t ", "\r", "\u2003", "\u00a0", "\x1c"])


def _encoded(value: Any, times: int, ascii_only: bool) -> str:
    text = value
    for _ in range(times):
        text = json.dumps(text, ensure_ascii=ascii_only)
    return text if isinstance(text, str) else json.dumps(text)


_STRINGS = st.one_of(
    st.lists(_CHARS, max_size=8).map("".join),
    st.lists(_CHARS, max_size=6).map(lambda parts: '"' + "".join(parts) + '"'),
    st.builds(
        lambda pad, value, times, ascii_only, end: pad + _encoded(value, times, ascii_only) + end,
        _PAD, _JSON, st.integers(1, 3), st.booleans(), _PAD,
    ),
    st.builds(  # whitespace inside the outer encoding, before the inner JSON
        lambda pad, value, ascii_only: json.dumps(pad + json.dumps(value), ensure_ascii=ascii_only),
        _PAD, _JSON, st.booleans(),
    ),
    st.text(max_size=12).map(lambda s: '"' + s),
    st.text(max_size=12),
)  # fmt: skip


def _loads(value: str) -> Any:
    try:
        return ("ok", json.loads(value))
    except ValueError:
        return ("error", None)


@settings(max_examples=3000, deadline=None)
@given(value=_STRINGS)
def test_json_string_equals_json_loads(value: str) -> None:
    fast = _translate.json_string(value)
    if fast is not None:
        assert _loads(value) == ("ok", fast)
        assert _sql_rows.parse_json_string(value) == fast
        assert _sql_rows._loads_or_same(value) == fast


def _slow_sanitize(attributes: dict[str, Any]) -> dict[str, Any]:
    """`sanitize` as it was before its pre-check (the decoding path alone)."""
    out = {}
    for key, value in attributes.items():
        if not isinstance(value, str) or value.lstrip()[:1] != '"':
            out[key] = value
            continue
        try:
            result = json.loads(value)
            if isinstance(result, str) and result.lstrip()[:1] in ('"', "{", "["):
                try:
                    if isinstance(json.loads(result), (str, dict, list)):
                        out[key] = result
                        continue
                except json.JSONDecodeError:
                    pass
        except (json.JSONDecodeError, TypeError):
            pass
        out[key] = value
    return out


@settings(max_examples=3000, deadline=None)
@given(values=st.lists(_STRINGS, min_size=1, max_size=4))
def test_sanitize_pre_check_equals_decoding(values: list[str]) -> None:
    attributes = {f"k{i}": v for i, v in enumerate(values)}
    fast = _translate.sanitize(attributes)
    assert fast == _slow_sanitize(attributes)
    try:
        theirs = sanitize_attributes(attributes)
    except (ValueError, RecursionError):  # MLflow's own raises here: log_spans would fail
        return
    assert fast == theirs


@pytest.mark.parametrize(
    "value",
    ['"plain"', '""', '"', '" x"', '"\\"x\\""', '"\\u0022{}\\u0022"', '"\u2003\\"a\\""',
     '"{\\"a\\": 1}"', '"[1]"', '"\\n[1]"', '" [1]"',
     '"\t{}"', '"\r\\"\\""', '"\x1c[1]"', ' "\\"a\\""', '"\\\\"'],
)  # fmt: skip
def test_sanitize_pre_check_on_the_edges(value: str) -> None:
    attributes = {"k": value}
    assert _translate.sanitize(attributes) == _slow_sanitize(attributes)
    assert _translate.sanitize(attributes) == sanitize_attributes(attributes)


def _outcome(function: Any, *args: Any) -> tuple[str, Any]:
    try:
        return ("ok", function(*args))
    except (ValueError, RecursionError) as exc:  # e.g. an int of more than 4,300 digits
        return ("raises", type(exc))


_PREVIEWED = st.one_of(
    _STRINGS,
    st.integers(3990, 4400).map(lambda n: "1" * n),
    st.integers(1, 3000).map(lambda n: "[" * n),
    st.builds(
        lambda pad, text: pad + text,
        _PAD,
        st.sampled_from(['{"messages": [{"role": "user", "content": "hi"}]}', "[" * 3000]),
    ),
)


@settings(max_examples=2000, deadline=None)
@given(value=_PREVIEWED, role=st.sampled_from(["user", "assistant"]))
def test_preview_equals_mlflows(value: str, role: str) -> None:
    from mlflow.tracing.utils.truncation import _get_truncated_preview

    assert _outcome(_sql_rows.preview, value, role) == _outcome(_get_truncated_preview, value, role)
