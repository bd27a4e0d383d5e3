"""Trace a small RAG app over the library handbook in examples/data/docs, then evaluate it from
its traces with deterministic metrics and LLM-judge metrics.

1. The app (retrieve -> generate, every step a span) answers seven questions about a fictional
   public library, one trace each, in experiment 'rag-eval' of ./mlflow.db. Its "LLM" is a
   deterministic extractive stand-in (the retrieved sentence closest to the question), with one
   deliberate flaw: it adds an unsupported sentence about a café when asked about opening hours,
   so faithfulness has something to catch.
2. `evals.evaluate` reads the traces back (question and answer from the root span, retrieved
   passages and their ids from the RETRIEVER span), adds the reference answers, and scores:
   token F1, ROUGE-L, id-based context recall and latency (deterministic), then faithfulness,
   answer relevancy, context precision and a `criteria` metric ("grounded") with a judge.
3. The run (params, aggregates, per-row table eval/rows.json) and one assessment per score on
   each trace land in MLflow. Judge replies are cached in ./.llmtrace/judge_cache.sqlite: run
   the script twice and the second run makes zero judge calls.

The judge: with OPENAI_API_KEY set, the real OpenAI API (model RAG_EVAL_JUDGE_MODEL, default
gpt-4o-mini). Without it, a LOCAL STAND-IN server on 127.0.0.1 (llmtrace.testing.StandIn) that
answers the judge's JSON schema with word-overlap heuristics and hashed-word embeddings. It is
not a model, and the output says so.

    python examples/rag_eval.py        # twice, to see the cache
"""

from __future__ import annotations

import math
import os
import re
import uuid
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pandas as pd

import evals
import llmtrace
import llmtrace.openai
from evals import metrics
from llmtrace.testing import StandIn, judge_reply

EXPERIMENT = "rag-eval"
STANDIN_MODEL = "local-stand-in"
STANDIN_EMBEDDINGS = f"{STANDIN_MODEL}-embeddings"
DOCS_DIR = Path(__file__).resolve().parent / "data" / "docs"
TOP_K = 2
#: question -> (reference answer, ids of the passages that hold it)
DATASET: dict[str, tuple[str, list[str]]] = {
    "How many items can a member borrow at a time?": (
        "A member can borrow up to 12 items at a time, of which at most 3 may be DVDs or "
        "board games.",
        ["borrowing#1"],
    ),
    "How much is the late fee for a DVD?": ("Late DVDs cost 1 euro per day.", ["fees#1"]),
    "When is the library open on Sundays?": (
        "On Sundays the library is open from noon to 4 pm.",
        ["hours#2"],
    ),
    "What must members do before using the laser cutter?": (
        "Members must complete a one-hour safety course, which runs every Tuesday at 6 pm.",
        ["makerspace#2"],
    ),
    "How long are books lent for?": ("Books are lent for three weeks.", ["borrowing#2"]),
    "Is membership free?": (
        "Membership is free for anyone who lives, works or studies in the city.",
        ["membership#1"],
    ),
    "Does the library sell coffee?": ("I don't know: the handbook does not say.", []),
}
STOPWORDS = frozenset(
    "a an and are as at be by can do does for from how i in is it of on or the to what when "
    "which who with".split()
)


def words(text: str) -> list[str]:
    found = re.findall(r"[a-z0-9]+", text.lower())
    return [w[:-1] if len(w) > 3 and w.endswith("s") else w for w in found if w not in STOPWORDS]


def load_passages() -> list[dict[str, Any]]:
    """Every paragraph of every document, with an id ``<file stem>#<n>`` and its title."""
    passages = []
    for path in sorted(DOCS_DIR.glob("*.md")):
        title, *paragraphs = [p.strip() for p in path.read_text().split("\n\n") if p.strip()]
        for n, text in enumerate(paragraphs, 1):
            passages.append(
                {
                    "id": f"{path.stem}#{n}",
                    "page_content": text,
                    "metadata": {"title": title.lstrip("# "), "source": path.name},
                }
            )
    return passages


PASSAGES = load_passages()
_DF = Counter(w for p in PASSAGES for w in set(words(p["page_content"])))


def _idf(word: str) -> float:
    return math.log(1 + len(PASSAGES) / (1 + _DF[word]))


@llmtrace.trace(kind="RETRIEVER")
def retrieve(question: str, k: int = TOP_K) -> list[dict[str, Any]]:
    """The ``k`` passages sharing the most (IDF-weighted) words with the question."""
    asked = set(words(question))
    scored = [(sum(_idf(w) for w in asked & set(words(p["page_content"]))), p) for p in PASSAGES]
    ranked = sorted(scored, key=lambda sp: -sp[0])
    return [{**p, "metadata": {**p["metadata"], "score": round(s, 3)}} for s, p in ranked[:k] if s]


@llmtrace.trace(kind="LLM")
def generate(question: str, passages: list[dict[str, Any]]) -> str:
    """Stand-in LLM: the retrieved sentence covering most of the question, or "I don't know"."""
    asked = set(words(question))
    candidates = [
        s for p in passages for s in re.split(r"(?<=[.!?])\s+", p["page_content"]) if s.strip()
    ]
    best = max(candidates, key=lambda s: len(asked & set(words(s))), default="")
    covered = len(asked & set(words(best)))
    answer = best if asked and covered * 2 >= len(asked) else "I don't know."
    if "open" in asked and answer != "I don't know.":
        answer += " The café on the ground floor keeps the same hours."  # the deliberate flaw
    prompt_tokens = len(question.split()) + sum(len(p["page_content"].split()) for p in passages)
    llmtrace.current_span().set_attributes(
        {
            "gen_ai.request.model": "extractive-stand-in",
            "gen_ai.usage.input_tokens": prompt_tokens,
            "gen_ai.usage.output_tokens": len(answer.split()),
        }
    )
    return answer


@llmtrace.trace(kind="CHAIN")
def answer(question: str) -> str:
    """The RAG pipeline: retrieve, then generate."""
    return generate(question, retrieve(question))


JUDGE_METRICS = [
    evals.Faithfulness(),
    evals.AnswerRelevancy(),
    evals.ContextPrecision(),
    evals.criteria(
        "grounded",
        "The response states only facts found in the retrieved context.",
        rubric={1: "mostly unsupported", 3: "partly supported", 5: "fully supported"},
        inputs=("question", "answer", "contexts"),
        threshold=0.75,
    ),
]


def evaluate_traces(traces: pd.DataFrame, judge: evals.OpenAIJudge) -> evals.EvaluationResult:
    """Add the references beside the traces and score them."""
    questions = [request["question"] for request in traces["request"]]
    traces["expected"] = [DATASET[q][0] for q in questions]
    traces["reference_context_ids"] = [DATASET[q][1] for q in questions]
    return evals.evaluate(
        traces,
        [
            metrics.token_f1(threshold=0.5),
            metrics.rouge_l(),
            metrics.id_based_context_recall(threshold=1.0),
            metrics.latency(),
            *JUDGE_METRICS,
        ],
        judge=judge,
        run_name="rag-eval",
        max_concurrency=4,
    )


def _short(value: Any, width: int) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def report(result: evals.EvaluationResult, judge: evals.OpenAIJudge, standin: Any) -> None:
    """The aggregate table, a line per question, judge usage and cost, the cache, where to look."""
    print()
    result.print_summary()  # the table `llmtrace eval run` prints
    print("\nPer question (an undefined score says why; never a NaN):")
    order = list(DATASET)
    for _, row in result.table.sort_values("question", key=lambda q: q.map(order.index)).iterrows():
        faith = row["faithfulness/value"]
        why = row["faithfulness/error"] or row["faithfulness/reason"]
        print(
            f"  {_short(row['question'], 48):48}  f1={row['token_f1/value']:.2f}  "
            f"faithfulness={'n/a' if faith is None else f'{faith:.2f}'}  ({_short(why, 60)})"
        )
    usage = result.judge_usage
    cost = usage.get("cost_usd")
    print(
        f"\nJudge {judge.model}: {usage.get('calls', 0)} API calls, "
        f"{usage.get('cached_calls', 0)} answered from the cache, "
        f"{usage.get('prompt_tokens', 0)} prompt + {usage.get('completion_tokens', 0)} completion "
        f"tokens, cost {'unknown' if cost is None else f'${cost:.4f}'}"
        + (" (the stand-in is priced at $0)" if standin is not None else "")
    )
    if standin is not None:
        served = standin.counts
        print(
            f"The LOCAL STAND-IN judge served {served['chat']} chat and "
            f"{served['embeddings']} embedding requests in this run."
        )
    if usage.get("calls", 0) == 0 and usage.get("cached_calls", 0) > 0:
        print("Cache: this run made 0 judge API calls; every judge reply came from the cache.")
    else:
        print(
            f"Cache: judge replies are kept in {judge.cache_path}; run the script again and "
            "unchanged rows make 0 judge API calls."
        )
    store = llmtrace.current_config().tracking_uri
    earlier = _previous_run(store, result.run_id)
    print(
        f"\nMLflow run {result.run_id} ('rag-eval', experiment {EXPERIMENT!r}) holds the params, "
        "the aggregate metrics and the per-row table (artifact eval/rows.json); every score is "
        "also an assessment on its trace.\nWhere to look:\n"
        f"  llmtrace traces list --experiment {EXPERIMENT}\n"
        f"  llmtrace ui --experiment {EXPERIMENT}   # run 'rag-eval' (Metrics, Artifacts), "
        "Traces tab (assessments beside each trace)"
        + (f"\n  llmtrace eval compare {earlier} {result.run_id}" if earlier else "")
    )


def _previous_run(store: str, run_id: str | None) -> str | None:
    """The id of the run 'rag-eval' before this one, if any (to suggest a comparison)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    runs = client.search_runs(
        [experiment.experiment_id] if experiment else [],
        filter_string="attributes.run_name = 'rag-eval'",
        order_by=["attributes.start_time DESC"],
        max_results=2,
    )
    earlier = [r.info.run_id for r in runs if r.info.run_id != run_id]
    return earlier[0] if earlier else None


def main() -> None:
    llmtrace.set_experiment(EXPERIMENT)
    session = f"rag-eval-{uuid.uuid4().hex[:8]}"
    print(f"Store: {llmtrace.current_config().tracking_uri}   experiment: {EXPERIMENT!r}")
    print(f"Documents: {len(PASSAGES)} passages from {DOCS_DIR}\n")
    with llmtrace.session(session):
        for question in DATASET:
            print(f"Q: {question}\nA: {answer(question)}")
    traces = llmtrace.search_traces(
        f"metadata.`mlflow.trace.session` = '{session}'", return_type="pandas"
    )  # this run's traces only (flushes first)

    with ExitStack() as stack:
        standin = None
        if os.environ.get("OPENAI_API_KEY"):
            model = os.environ.get("RAG_EVAL_JUDGE_MODEL", "gpt-4o-mini")
            print(f"\nJudge: the real OpenAI API, model {model}.")
            judge = evals.OpenAIJudge(model)
        else:
            print(
                "\n*** No OPENAI_API_KEY: the judge is a LOCAL STAND-IN server on 127.0.0.1\n"
                "*** (word-overlap heuristics, hashed-word embeddings), NOT a model. Set\n"
                "*** OPENAI_API_KEY to judge with the real API."
            )
            standin = stack.enter_context(StandIn(judge_reply))
            for name in (STANDIN_MODEL, STANDIN_EMBEDDINGS):  # a local model costs nothing
                llmtrace.openai.set_price(name, input=0.0, output=0.0)
            judge = evals.OpenAIJudge(
                STANDIN_MODEL, base_url=standin.url, embedding_model=STANDIN_EMBEDDINGS
            )
        result = evaluate_traces(traces, judge)
        report(result, judge, standin)


if __name__ == "__main__":
    main()
