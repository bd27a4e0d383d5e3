"""evals: score RAG and agent outputs and log the scores next to the traces.

Example:
    >>> from evals import evaluate, metrics
    >>> result = evaluate("qa.jsonl", [metrics.exact_match(normalize=True), metrics.token_f1()])
    >>> print(result.summary())
"""

from . import datasets, metrics
from ._agreement import AgreementReport, Disagreement, MetricAgreement, agreement
from ._assert import assert_scores
from ._custom import metric
from ._data import load_rows
from ._evaluate import evaluate
from ._result import EvaluationResult
from ._types import (
    BudgetExceeded,
    Judge,
    JudgeParseError,
    JudgeReply,
    Metric,
    MetricError,
    Row,
    Score,
)
from ._watch import WatchResult, watch
from .judge import (
    AnswerRelevancy,
    ContextPrecision,
    ContextRecall,
    Criteria,
    Faithfulness,
    OpenAIJudge,
    TaskCompletion,
    criteria,
)

__all__: list[str] = [
    "AgreementReport",
    "AnswerRelevancy",
    "BudgetExceeded",
    "ContextPrecision",
    "ContextRecall",
    "Criteria",
    "Disagreement",
    "EvaluationResult",
    "Faithfulness",
    "Judge",
    "JudgeParseError",
    "JudgeReply",
    "Metric",
    "MetricAgreement",
    "MetricError",
    "OpenAIJudge",
    "Row",
    "Score",
    "TaskCompletion",
    "WatchResult",
    "agreement",
    "assert_scores",
    "criteria",
    "datasets",
    "evaluate",
    "load_rows",
    "metric",
    "metrics",
    "watch",
]
