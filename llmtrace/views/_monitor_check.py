"""``--fail-if`` conditions: ``error_rate > 0.05``, ``p95_ms > 2000 or cost_usd >= 10``.

Parsed by a small grammar, never `eval`: ``METRIC OP NUMBER`` joined by ``and``/``or`` (``and``
binds first), where METRIC is one of `METRICS`, OP one of ``> >= < <= == !=`` and NUMBER may end
in ``%`` (``error_rate > 5%``). A condition that does not parse is a `ConditionError` whose
message says what is wrong and lists the metrics.

Example:
    >>> check = parse_condition("error_rate > 5% or p95_ms > 2000")
    >>> check.holds({"error_rate": 0.08, "p95_ms": 900.0})
    (True, 'error_rate 0.08 > 0.05')
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .._errors import LLMTraceError
from ._monitor_figures import METRICS

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_TOKEN = re.compile(
    r"\s*(?:(>=|<=|==|!=|>|<)|(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?%?)|([A-Za-z_]\w*)|(\S))"
)


class ConditionError(LLMTraceError):
    """A ``--fail-if`` condition that does not parse (message fits one line)."""


@dataclass(frozen=True)
class Comparison:
    """One ``METRIC OP NUMBER``."""

    metric: str
    op: str
    number: float

    def holds(self, values: Mapping[str, float]) -> bool:
        return _OPS[self.op](values[self.metric], self.number)

    def describe(self, values: Mapping[str, float]) -> str:
        return f"{self.metric} {values[self.metric]:g} {self.op} {self.number:g}"


@dataclass(frozen=True)
class Condition:
    """Comparisons in disjunctive form: any of the ``and``-groups whose members all hold."""

    text: str
    any_of: tuple[tuple[Comparison, ...], ...]

    def holds(self, values: Mapping[str, float]) -> tuple[bool, str]:
        """(whether the condition holds, the comparisons that made it so)."""
        for group in self.any_of:
            if all(c.holds(values) for c in group):
                return True, " and ".join(c.describe(values) for c in group)
        return False, ""


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    for match in _TOKEN.finditer(text):
        op, number, word, other = match.groups()
        if other:
            raise ConditionError(f"--fail-if {text!r}: unexpected {other!r}; {_HELP}")
        if op:
            out.append(("op", op))
        elif number:
            out.append(("number", number))
        elif word:
            out.append(("word", word))
    return out


_HELP = (
    f'write METRIC OP NUMBER [and|or ...], e.g. "error_rate > 0.05"; metrics: {", ".join(METRICS)}'
)


def parse_condition(text: str) -> Condition:
    """The `Condition` in ``text``; a one-line `ConditionError` when it does not parse."""
    tokens = _tokens(text)
    if not tokens:
        raise ConditionError(f"--fail-if is empty; {_HELP}")
    groups: list[tuple[Comparison, ...]] = []
    current: list[Comparison] = []
    i = 0
    while True:
        if i + 3 > len(tokens):
            raise ConditionError(f"--fail-if {text!r}: incomplete comparison; {_HELP}")
        (k1, metric), (k2, op), (k3, number) = tokens[i : i + 3]
        if k1 != "word" or metric not in METRICS:
            raise ConditionError(f"--fail-if {text!r}: unknown metric {metric!r}; {_HELP}")
        if k2 != "op":
            raise ConditionError(
                f"--fail-if {text!r}: expected a comparison after {metric}; {_HELP}"
            )
        if k3 != "number":
            raise ConditionError(f"--fail-if {text!r}: expected a number after {op}; {_HELP}")
        value = float(number[:-1]) / 100 if number.endswith("%") else float(number)
        current.append(Comparison(metric, op, value))
        i += 3
        if i == len(tokens):
            break
        kind, word = tokens[i]
        if kind != "word" or word.lower() not in ("and", "or"):
            raise ConditionError(f"--fail-if {text!r}: expected 'and' or 'or', got {word!r}")
        if word.lower() == "or":
            groups.append(tuple(current))
            current = []
        i += 1
    groups.append(tuple(current))
    return Condition(text, tuple(groups))
