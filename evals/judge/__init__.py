"""LLM judges and the metrics that use them.

`OpenAIJudge` talks to the OpenAI API or any OpenAI-compatible server; the metrics in
`evals.judge.metrics` ask it through the `evals.Judge` protocol, so another judge works too.

Example:
    >>> from evals.judge import OpenAIJudge, Faithfulness
    >>> Faithfulness().score(row, OpenAIJudge("gpt-4o-mini"))
"""

from ._openai import OpenAIJudge
from .metrics import (
    AnswerRelevancy,
    ContextPrecision,
    ContextRecall,
    Criteria,
    Faithfulness,
    TaskCompletion,
    criteria,
)

__all__ = [
    "AnswerRelevancy",
    "ContextPrecision",
    "ContextRecall",
    "Criteria",
    "Faithfulness",
    "OpenAIJudge",
    "TaskCompletion",
    "criteria",
]
