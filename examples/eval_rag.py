"""Evaluate a traced RAG app from its traces, offline: deterministic and non-LLM RAG metrics.

1. A small RAG app (retrieve -> generate, every step a span) answers five questions; each answer
   is one trace in ./mlflow.db, experiment 'rag-eval'.
2. `evals.evaluate` reads those traces back (question and answer from the root span, retrieved
   documents from the RETRIEVER span), adds the expected answers and the ids of the documents
   that should have been retrieved, and scores every trace: exact match, token F1, ROUGE-L,
   BLEU, context precision/recall by text similarity and by document id, latency, tokens.
3. The scores land in MLflow: a run 'rag-eval' (params, aggregate metrics, the per-row table as
   the artifact eval/rows.json), and each score as feedback on its trace.

No API key, no network: the "LLM" is a deterministic stand-in. Run it from any folder:

    python examples/eval_rag.py
"""

from __future__ import annotations

import re

import pandas as pd

import evals
import llmtrace
from evals import metrics

EXPERIMENT = "rag-eval"
DOCS = {
    "capital": "Paris is the capital of France.",
    "eiffel": "The Eiffel Tower is 330 metres tall.",
    "louvre": "The Louvre is the most visited museum in the world.",
    "seine": "The Seine flows through Paris into the English Channel.",
    "bread": "A baguette is a long, thin loaf of French bread.",
}
#: question -> (expected answer, ids of the documents that hold it)
DATASET = {
    "What is the capital of France?": ("Paris is the capital of France.", ["capital"]),
    "How tall is the Eiffel Tower?": ("The Eiffel Tower is 330 metres tall.", ["eiffel"]),
    "Which river flows through Paris?": ("The Seine flows through Paris.", ["seine"]),
    "What is the most visited museum?": ("The Louvre is the most visited museum.", ["louvre"]),
    "Who painted the Mona Lisa?": ("Leonardo da Vinci painted the Mona Lisa.", []),
}
STOPWORDS = {"a", "the", "is", "of", "what", "how", "which", "who", "in", "into", "through"}


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOPWORDS}


@llmtrace.trace(kind="RETRIEVER")
def retrieve(question: str, k: int = 2) -> list[dict[str, object]]:
    """Documents sharing the most words with the question (id, content, score)."""
    scored = [
        {"id": doc_id, "content": text, "score": len(words(question) & words(text))}
        for doc_id, text in DOCS.items()
    ]
    ranked = sorted(scored, key=lambda d: -int(d["score"]))  # type: ignore[call-overload]
    return [d for d in ranked[:k] if int(d["score"]) > 0]  # type: ignore[call-overload]


@llmtrace.trace(kind="LLM")
def generate(question: str, docs: list[dict[str, object]]) -> str:
    """A deterministic stand-in for a chat model: quote the best document, or admit ignorance."""
    llmtrace.current_span().set_attributes(
        {"gen_ai.usage.input_tokens": 20 + 10 * len(docs), "gen_ai.usage.output_tokens": 9}
    )
    return str(docs[0]["content"]) if docs else "I don't know."


@llmtrace.trace(kind="CHAIN")
def answer(question: str) -> str:
    """The RAG pipeline."""
    return generate(question, retrieve(question))


def main() -> None:
    llmtrace.set_experiment(EXPERIMENT)
    store = llmtrace.current_config().tracking_uri
    print(f"Store: {store}   experiment: {EXPERIMENT!r}\n")
    for question in DATASET:
        print(f"Q: {question}\nA: {answer(question)}")

    # The app's traces, plus what the answers and retrievals should have been.
    traces = llmtrace.search_traces(return_type="pandas")  # flushes first
    questions = [request["question"] for request in traces["request"]]
    traces["expected"] = [DATASET[q][0] for q in questions]
    traces["reference_contexts"] = [[DOCS[i] for i in DATASET[q][1]] for q in questions]
    traces["reference_context_ids"] = [DATASET[q][1] for q in questions]

    result = evals.evaluate(
        traces,
        [
            metrics.exact_match(normalize=True),
            metrics.token_f1(threshold=0.8),
            metrics.rouge_l(),
            metrics.bleu(),
            metrics.non_llm_context_precision(),
            metrics.non_llm_context_recall(threshold=1.0),
            metrics.id_based_context_precision(),
            metrics.id_based_context_recall(threshold=1.0),
            metrics.latency(),
            metrics.tokens(),
        ],
        run_name="rag-eval",
    )

    with pd.option_context("display.width", 120, "display.max_columns", 20):
        print(f"\nScores of {len(result.table)} traces (pass_rate: share >= threshold):")
        print(result.summary().to_string())
        print("\nPer question (an error says why a score is undefined, never a NaN):")
        table = result.table.sort_values("question")
        for _, row in table.iterrows():
            recall = row["id_based_context_recall/value"]
            why = row["id_based_context_recall/error"]
            print(
                f"  {row['question'][:34]:34}  f1={row['token_f1/value']:.2f}  "
                f"id_recall={'n/a' if recall is None else f'{recall:.2f}'}"
                + (f"  ({why})" if why else "")
            )
    print(
        f"\nMLflow run {result.run_id} ('rag-eval') holds the params, the aggregate metrics and "
        "the per-row table (artifact eval/rows.json); every score is also feedback on its trace."
        "\nWhere to look:\n"
        f"  mlflow ui --backend-store-uri {store}\n"
        f"  -> experiment {EXPERIMENT!r}: run 'rag-eval' (Metrics, Artifacts), Traces tab "
        "(assessments beside each trace)."
    )


if __name__ == "__main__":
    main()
