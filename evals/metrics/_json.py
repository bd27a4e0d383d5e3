"""Structured answers: is the answer JSON, and does it match a JSON Schema (jsonschema)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .._types import Row, Score
from ._base import FunctionMetric


def _parse(answer: Any) -> tuple[Any, str | None]:
    """(the JSON value, None) or (None, why it is not JSON)."""
    if isinstance(answer, (Mapping, list)):
        return answer, None
    if not isinstance(answer, str):
        return None, f"the answer is a {type(answer).__name__}, not JSON text"
    try:
        return json.loads(answer), None
    except ValueError as exc:
        return None, f"not valid JSON: {exc}"


def json_valid(*, name: str = "json_valid", threshold: float | None = 1.0) -> FunctionMetric:
    """1.0 when the answer is valid JSON text (or already a dict/list), else 0.0 with the reason.

    Example:
        >>> metrics.json_valid().score(Row(0, answer='{"a": 1}')).value
        1.0
    """

    def fn(row: Row) -> Score:
        _, problem = _parse(row.answer)
        return Score(0.0, reason=problem) if problem else Score(1.0, reason="valid JSON")

    return FunctionMetric(name, fn, requires=("answer",), threshold=threshold)


def json_schema(
    schema: Mapping[str, Any], *, name: str = "json_schema", threshold: float | None = 1.0
) -> FunctionMetric:
    """1.0 when the answer is JSON that validates against ``schema``; the reason names the
    first violation (path and message).

    Example:
        >>> m = metrics.json_schema({"type": "object", "required": ["city"]})
        >>> m.score(Row(0, answer='{"town": "Paris"}')).reason
        "$: 'city' is a required property"
    """
    from jsonschema import validators

    try:
        cls = validators.validator_for(schema)
        cls.check_schema(schema)
    except Exception as exc:
        raise ValueError(f"json_schema: the schema itself is invalid: {exc}") from exc
    validator = cls(schema)

    def fn(row: Row) -> Score:
        value, problem = _parse(row.answer)
        if problem:
            return Score(0.0, reason=problem)
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        if not errors:
            return Score(1.0, reason="matches the schema")
        first = errors[0]
        path = "$" + "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in first.absolute_path
        )
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return Score(0.0, reason=f"{path}: {first.message}{more}")

    return FunctionMetric(
        name,
        fn,
        requires=("answer",),
        threshold=threshold,
        settings={"schema": json.dumps(schema, sort_keys=True)[:500]},
    )
