"""Agent metrics: tool calls and trajectories against the expected ones.

A call is ``{"name": str, "arguments": dict}``; rows made from traces get their calls from the
TOOL spans. An actual call matches an expected one when the names are equal and (with
``check_arguments``) every argument the expected call gives has an equal value in the actual
call (equal as Python values, or as text: ``3`` matches ``"3"``); arguments the expected call
leaves out are not checked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from .._data import normalize_tool_calls
from .._types import Row, Score
from ._base import FunctionMetric, text


def _calls(row: Row) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(made, expected) calls of a row, in the ``{"name", "arguments"}`` shape."""
    return (
        normalize_tool_calls(row.index, "tool_calls", row.tool_calls or []),
        normalize_tool_calls(row.index, "expected_tool_calls", row.expected_tool_calls or []),
    )


def _same_value(actual: Any, expected: Any) -> bool:
    if actual == expected:
        return True
    return text(actual).strip() == text(expected).strip()


def call_matches(actual: Mapping[str, Any], expected: Mapping[str, Any], arguments: bool) -> bool:
    """Whether an actual call satisfies an expected one (see the module rules)."""
    if actual.get("name") != expected.get("name"):
        return False
    if not arguments:
        return True
    given = actual.get("arguments") or {}
    return all(
        key in given and _same_value(given[key], value)
        for key, value in (expected.get("arguments") or {}).items()
    )


def matched_in_order(actual: list[Any], expected: list[Any], arguments: bool) -> int:
    """Most expected calls matched in their order (longest common subsequence)."""
    table = [[0] * (len(expected) + 1) for _ in range(len(actual) + 1)]
    for i, a in enumerate(actual, start=1):
        for j, e in enumerate(expected, start=1):
            if call_matches(a, e, arguments):
                table[i][j] = table[i - 1][j - 1] + 1
            else:
                table[i][j] = max(table[i - 1][j], table[i][j - 1])
    return table[len(actual)][len(expected)]


def matched_any_order(actual: list[Any], expected: list[Any], arguments: bool) -> int:
    """Most expected calls matched, each by a different actual call (bipartite matching)."""
    owner: dict[int, int] = {}  # actual index -> expected index

    def assign(j: int, seen: set[int]) -> bool:
        for i, a in enumerate(actual):
            if i in seen or not call_matches(a, expected[j], arguments):
                continue
            seen.add(i)
            if i not in owner or assign(owner[i], seen):
                owner[i] = j
                return True
        return False

    return sum(assign(j, set()) for j in range(len(expected)))


def tool_call_accuracy(
    *,
    ordered: bool = True,
    check_arguments: bool = True,
    name: str | None = None,
    threshold: float | None = None,
) -> FunctionMetric:
    """Matched calls / max(number expected, number made); 1.0 when none expected and none made.

    ``ordered=True`` matches calls in order (longest common subsequence), ``False`` in any
    order. Extra calls lower the score as missing ones do.

    Example:
        >>> row = Row(0, tool_calls=[{"name": "search", "arguments": {"q": "paris"}}],
        ...           expected_tool_calls=[{"name": "search", "arguments": {"q": "paris"}}])
        >>> metrics.tool_call_accuracy().score(row).value
        1.0
    """

    def fn(row: Row) -> Score:
        actual, expected = _calls(row)
        if not actual and not expected:
            return Score(1.0, reason="no tool call expected and none made")
        match = matched_in_order if ordered else matched_any_order
        hits = match(actual, expected, check_arguments)
        return Score(
            hits / max(len(actual), len(expected)),
            reason=f"{hits} of {len(expected)} expected calls matched; {len(actual)} made",
        )

    return FunctionMetric(
        name or ("tool_call_accuracy" if ordered else "tool_call_accuracy_any_order"),
        fn,
        requires=("tool_calls", "expected_tool_calls"),
        threshold=threshold,
        settings={"ordered": ordered, "check_arguments": check_arguments},
    )


def tool_call_f1(
    *, check_arguments: bool = True, name: str = "tool_call_f1", threshold: float | None = None
) -> FunctionMetric:
    """F1 of the calls made against the expected calls, in any order.

    precision = matched / made, recall = matched / expected; 1.0 when none expected and none
    made.

    Example:
        >>> row = Row(0, tool_calls=[{"name": "a"}, {"name": "b"}],
        ...           expected_tool_calls=[{"name": "a"}])
        >>> metrics.tool_call_f1().score(row).value
        0.6666666666666666
    """

    def fn(row: Row) -> Score:
        actual, expected = _calls(row)
        if not actual and not expected:
            return Score(1.0, reason="no tool call expected and none made")
        hits = matched_any_order(actual, expected, check_arguments)
        if hits == 0:
            return Score(0.0, reason=f"none of {len(actual)} calls matches {len(expected)}")
        precision, recall = hits / len(actual), hits / len(expected)
        return Score(
            2 * precision * recall / (precision + recall),
            reason=f"precision {precision:.3g}, recall {recall:.3g}",
            details={"precision": precision, "recall": recall},
        )

    return FunctionMetric(
        name,
        fn,
        requires=("tool_calls", "expected_tool_calls"),
        threshold=threshold,
        settings={"check_arguments": check_arguments},
    )


_MODES = ("exact", "in_order", "any_order")


def trajectory_match(
    mode: str = "exact", *, name: str | None = None, threshold: float | None = 1.0
) -> FunctionMetric:
    """1.0 when the sequence of tool names matches the expected one, else 0.0.

    Modes: ``"exact"`` — the same names in the same order, nothing else; ``"in_order"`` — the
    expected names appear in that order, other calls allowed between them; ``"any_order"`` —
    every expected name appears (as often as expected), in any order.

    Example:
        >>> row = Row(0, tool_calls=["plan", "search", "answer"],
        ...           expected_tool_calls=["search", "answer"])
        >>> metrics.trajectory_match("in_order").score(row).value
        1.0
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {', '.join(_MODES)}, got {mode!r}")

    def fn(row: Row) -> Score:
        made, wanted = _calls(row)
        actual = [c["name"] for c in made]
        expected = [c["name"] for c in wanted]
        if mode == "exact":
            ok = actual == expected
        elif mode == "in_order":
            steps = iter(actual)
            ok = all(any(step == want for step in steps) for want in expected)
        else:
            ok = not (Counter(expected) - Counter(actual))
        return Score(float(ok), reason=f"made {actual}, expected {expected} ({mode})")

    return FunctionMetric(
        name or f"trajectory_{mode}",
        fn,
        requires=("tool_calls", "expected_tool_calls"),
        threshold=threshold,
        settings={"mode": mode},
    )
