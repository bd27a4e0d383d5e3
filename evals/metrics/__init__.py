"""Deterministic metrics: no network, no downloads. Each factory returns a `FunctionMetric`.

Example:
    >>> from evals import evaluate, metrics
    >>> evaluate(rows, [metrics.exact_match(normalize=True), metrics.token_f1(), metrics.rouge_l()])

``evaluate`` also takes a factory uncalled (``metrics.token_f1``) and calls it with no arguments.
"""

from ._agent import tool_call_accuracy, tool_call_f1, trajectory_match
from ._base import FunctionMetric
from ._json import json_schema, json_valid
from ._rag import (
    id_based_context_precision,
    id_based_context_recall,
    non_llm_context_precision,
    non_llm_context_recall,
)
from ._text import (
    answer_length,
    bleu,
    contains,
    exact_match,
    levenshtein,
    regex,
    rouge,
    rouge1,
    rouge2,
    rouge_l,
    squad_normalize,
    token_f1,
)
from ._trace import cost, latency, num_steps, tokens

__all__ = [
    "FunctionMetric",
    "answer_length",
    "bleu",
    "contains",
    "cost",
    "exact_match",
    "id_based_context_precision",
    "id_based_context_recall",
    "json_schema",
    "json_valid",
    "latency",
    "levenshtein",
    "non_llm_context_precision",
    "non_llm_context_recall",
    "num_steps",
    "regex",
    "rouge",
    "rouge1",
    "rouge2",
    "rouge_l",
    "squad_normalize",
    "token_f1",
    "tokens",
    "tool_call_accuracy",
    "tool_call_f1",
    "trajectory_match",
]
