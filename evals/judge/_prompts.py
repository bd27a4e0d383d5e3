"""The judge prompts, versioned. Change a prompt's text ⇒ bump its version.

The version is recorded with every score (``Score.details["judge_prompt_version"]``) and is part
of the judge's cache key, so a changed prompt is never answered from an old reply. Templates use
``$name`` placeholders (`string.Template`), so JSON braces need no escaping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from string import Template
from typing import Any

__all__ = [
    "ANSWER_RELEVANCY",
    "CONTEXT_PRECISION",
    "CONTEXT_RECALL",
    "CRITERIA_SCORE",
    "CRITERIA_STEPS",
    "FAITHFULNESS_CLAIMS",
    "FAITHFULNESS_VERDICTS",
    "TASK_COMPLETION",
    "JudgePrompt",
    "numbered",
]

_SYSTEM = (
    "You are a careful, impartial evaluator. Follow the instructions exactly and reply with a "
    "single JSON object only, no prose around it."
)


@dataclass(frozen=True)
class JudgePrompt:
    """One judge prompt: id, version, user template and the JSON schema of the reply.

    Example:
        >>> FAITHFULNESS_CLAIMS.messages(question="Capital of France?", answer="Paris.")
        [{'role': 'system', ...}, {'role': 'user', 'content': 'Break the answer ...'}]
    """

    id: str
    version: str
    template: str
    schema: dict[str, Any] = field(default_factory=dict)
    system: str = _SYSTEM

    def messages(self, **values: Any) -> list[dict[str, str]]:
        """The chat messages with ``values`` filled in (a missing value raises KeyError)."""
        user = Template(self.template).substitute({k: str(v) for k, v in values.items()})
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]


def numbered(items: list[str]) -> str:
    """``[1] first\\n[2] second`` — how lists of contexts and statements are shown to the judge."""
    return "\n".join(f"[{i}] {item}" for i, item in enumerate(items, 1))


def _verdict_list(key: str, n: int, fields: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """A reply schema with exactly ``n`` entries under ``key``."""
    return {
        "type": "object",
        "properties": {
            key: {
                "type": "array",
                "minItems": n,
                "maxItems": n,
                "items": {"type": "object", "properties": fields, "required": required},
            }
        },
        "required": [key],
    }


_BIT = {"type": "integer", "enum": [0, 1]}
_TEXT = {"type": "string"}

# --- faithfulness (Ragas): claims of the answer, then a verdict per claim against the contexts ---

FAITHFULNESS_CLAIMS = JudgePrompt(
    id="faithfulness.claims",
    version="1",
    template="""Break the answer below into its factual claims.

Each claim must be a short, self-contained statement: replace pronouns by what they refer to
and do not add anything the answer does not say. Leave out what carries no fact (greetings,
hedges, restating the question). If the answer states no fact at all, return an empty list.

Question: $question
Answer: $answer

Reply with JSON: {"claims": ["<claim>", ...]}""",
    schema={
        "type": "object",
        "properties": {"claims": {"type": "array", "items": _TEXT}},
        "required": ["claims"],
    },
)

FAITHFULNESS_VERDICTS = JudgePrompt(
    id="faithfulness.verdicts",
    version="1",
    template="""Judge each statement against the context. Verdict 1 if the statement can be
directly inferred from the context, 0 if it cannot (not stated, or contradicted). Give a short
reason before each verdict.

Context:
$contexts

Statements:
$statements

Reply with JSON:
{"verdicts": [{"statement": "<statement>", "reason": "<why>", "verdict": 0 or 1}, ...]}
with exactly one entry per statement, in the same order.""",
)


def faithfulness_verdicts_schema(n: int) -> dict[str, Any]:
    """Reply schema of `FAITHFULNESS_VERDICTS` for ``n`` statements."""
    return _verdict_list(
        "verdicts",
        n,
        {"statement": _TEXT, "reason": _TEXT, "verdict": _BIT},
        ["reason", "verdict"],
    )


# --- answer relevancy (Ragas): questions the answer would answer, and a noncommittal flag ---

ANSWER_RELEVANCY = JudgePrompt(
    id="answer_relevancy.questions",
    version="1",
    template="""Write $n different questions that the answer below answers, each one a question
a user could have asked to get this answer. Also say whether the answer is noncommittal: 1 if
it is evasive, vague or non-committal ("I don't know", "I'm not sure", "it depends" with
nothing more), else 0.

Answer: $answer

Reply with JSON: {"questions": ["<question>", ...], "noncommittal": 0 or 1}
with exactly $n questions.""",
)


def answer_relevancy_schema(n: int) -> dict[str, Any]:
    """Reply schema of `ANSWER_RELEVANCY` for ``n`` questions."""
    return {
        "type": "object",
        "properties": {
            "questions": {"type": "array", "minItems": n, "maxItems": n, "items": _TEXT},
            "noncommittal": _BIT,
        },
        "required": ["questions", "noncommittal"],
    }


# --- context precision with reference (Ragas): was each retrieved context useful? ---

CONTEXT_PRECISION = JudgePrompt(
    id="context_precision.verdicts",
    version="1",
    template="""For each retrieved context below, decide whether it was useful in arriving at
the reference answer to the question: verdict 1 if useful, 0 if not. Give a short reason
before each verdict.

Question: $question
Reference answer: $reference

Retrieved contexts:
$contexts

Reply with JSON: {"verdicts": [{"reason": "<why>", "verdict": 0 or 1}, ...]}
with exactly one entry per context, in the same order.""",
)


def context_precision_schema(n: int) -> dict[str, Any]:
    """Reply schema of `CONTEXT_PRECISION` for ``n`` contexts."""
    return _verdict_list("verdicts", n, {"reason": _TEXT, "verdict": _BIT}, ["reason", "verdict"])


# --- context recall (Ragas): claims of the reference attributable to the retrieved contexts ---

CONTEXT_RECALL = JudgePrompt(
    id="context_recall.attributions",
    version="1",
    template="""Break the reference answer below into its claims (sentences carrying one fact
each), and for each claim decide whether it can be attributed to the retrieved context:
attributed 1 if the context supports it, 0 if not. Give a short reason for each. If the
reference states no fact, return an empty list.

Question: $question

Retrieved context:
$contexts

Reference answer: $reference

Reply with JSON:
{"claims": [{"statement": "<claim>", "reason": "<why>", "attributed": 0 or 1}, ...]}""",
    schema={
        "type": "object",
        "properties": {
            "claims": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"statement": _TEXT, "reason": _TEXT, "attributed": _BIT},
                    "required": ["statement", "attributed"],
                },
            }
        },
        "required": ["claims"],
    },
)

# --- agent task completion: a rubric judge ---

TASK_COMPLETION = JudgePrompt(
    id="task_completion",
    version="1",
    template="""Judge whether an AI agent completed the task it was given.

Task: $task

Steps the agent took (tool calls, in order):
$steps

Agent's final output: $output

Expected outcome (may be empty): $expected

Rubric:
5 - the task is fully and correctly completed
4 - completed, with minor omissions or inaccuracies that do not defeat the goal
3 - partly completed: some of what was asked is done, some is missing or wrong
2 - attempted, but the result mostly fails the task
1 - not completed, wrong, or the agent gave up

Reply with JSON: {"reason": "<one or two sentences>", "score": <integer 1-5>}""",
    schema={
        "type": "object",
        "properties": {"reason": _TEXT, "score": {"type": "integer", "minimum": 1, "maximum": 5}},
        "required": ["reason", "score"],
    },
)

# --- criteria (G-Eval-like): evaluation steps from the criteria, then a rubric score ---

CRITERIA_STEPS = JudgePrompt(
    id="criteria.steps",
    version="1",
    template="""Write 3 to 5 concise evaluation steps an evaluator should follow to judge a
response against these criteria ("$name"):

$criteria

Reply with JSON: {"steps": ["<step>", ...]}""",
    schema={
        "type": "object",
        "properties": {"steps": {"type": "array", "minItems": 1, "items": _TEXT}},
        "required": ["steps"],
    },
)

CRITERIA_SCORE = JudgePrompt(
    id="criteria.score",
    version="1",
    template="""Evaluate the response for "$name".

Criteria:
$criteria

Evaluation steps:
$steps

Rubric:
$rubric

$fields

Reply with JSON: {"reason": "<one or two sentences>", "score": <integer $low-$high>}""",
)


def criteria_score_schema(low: int, high: int) -> dict[str, Any]:
    """Reply schema of `CRITERIA_SCORE` on the scale ``low``..``high``."""
    return {
        "type": "object",
        "properties": {
            "reason": _TEXT,
            "score": {"type": "integer", "minimum": low, "maximum": high},
        },
        "required": ["reason", "score"],
    }
