"""A traced RAG app: embed -> retrieve -> prompt -> generate, every step a span.

Each question becomes one trace: a CHAIN span (the pipeline) with EMBEDDING, RETRIEVER and LLM
spans under it. The "LLM" is a deterministic stand-in (it answers with the retrieved sentence
closest to the question), so the script needs no API key and no network; swap `generate` for a
real model call and the traces look the same. The questions are answered inside a run, so the
run's params and metrics and its traces sit together in MLflow.

Run it from any folder; traces and the run land in ./mlflow.db:

    python examples/rag_app.py
"""

from __future__ import annotations

import math
import re
from collections import Counter

import llmtrace

EXPERIMENT = "rag-app"
MODEL = "fake-llm-1"
TOP_K = 2

DOCS = [
    {"id": "mlflow-traces", "content": "MLflow stores each trace as a tree of spans."},
    {"id": "otel", "content": "OpenTelemetry spans carry a name, timing, attributes and events."},
    {"id": "retriever", "content": "A retriever returns the documents most similar to a query."},
    {"id": "session", "content": "A session groups the traces of one conversation."},
    {"id": "eiffel", "content": "The Eiffel Tower is 330 metres tall and stands in Paris."},
    {"id": "paris", "content": "Paris is the capital of France."},
]
QUESTIONS = [
    "What is the capital of France?",
    "How tall is the Eiffel Tower?",
    "What does a retriever return?",
    "Who won the 1998 World Cup?",  # nothing relevant: the app must say so
]
STOPWORDS = {"a", "an", "the", "of", "is", "in", "what", "how", "does", "who", "and", "each"}


def tokens(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOPWORDS]


def vector(text: str) -> dict[str, float]:
    """A bag-of-words vector, L2-normalised (a stand-in for an embedding model)."""
    counts = Counter(tokens(text))
    norm = math.sqrt(sum(c * c for c in counts.values())) or 1.0
    return {word: c / norm for word, c in counts.items()}


@llmtrace.trace(kind="EMBEDDING")
def embed(text: str) -> dict[str, float]:
    """Embed the query (traced: in a real app this is a model call)."""
    return vector(text)


INDEX = [(doc, vector(doc["content"])) for doc in DOCS]  # built once, at start-up


@llmtrace.trace(kind="RETRIEVER")
def retrieve(question: str, k: int = TOP_K) -> list[dict[str, object]]:
    """The k documents most similar to the question (cosine), with their scores."""
    query = embed(question)
    scored = [
        {**doc, "score": round(sum(query.get(w, 0.0) * v for w, v in vec.items()), 3)}
        for doc, vec in INDEX
    ]
    ranked = sorted(scored, key=lambda d: -float(d["score"]))  # type: ignore[arg-type]
    return [d for d in ranked[:k] if float(d["score"]) > 0]  # type: ignore[arg-type]


def build_prompt(question: str, docs: list[dict[str, object]]) -> list[dict[str, str]]:
    context = "\n".join(f"- {d['content']}" for d in docs) or "(no context found)"
    return [
        {"role": "system", "content": "Answer only from the context. Say so if you can't."},
        {"role": "user", "content": f"Context:\n{context}\n\nQuestion: {question}"},
    ]


@llmtrace.trace(kind="LLM")
def generate(messages: list[dict[str, str]], model: str = MODEL) -> str:
    """A deterministic stand-in for a chat model: quote the best-matching context line."""
    prompt = messages[-1]["content"]
    context, _, question = prompt.partition("\n\nQuestion: ")
    lines = [line[2:] for line in context.splitlines() if line.startswith("- ")]
    wanted = set(tokens(question))
    best = max(lines, key=lambda line: len(wanted & set(tokens(line))), default=None)
    if best is None or not wanted & set(tokens(best)):
        answer = "I don't know: the documents don't say."
    else:
        answer = best
    span = llmtrace.current_span()  # usage, as a real client would report it
    span.set_attributes(
        {
            "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": sum(len(m["content"].split()) for m in messages),
            "gen_ai.usage.output_tokens": len(answer.split()),
        }
    )
    return answer


@llmtrace.trace(kind="CHAIN")
def answer(question: str) -> str:
    """The RAG pipeline: retrieve, build the prompt, generate."""
    docs = retrieve(question)
    return generate(build_prompt(question, docs))


def print_tree(trace: object) -> None:
    spans = trace.data.spans  # type: ignore[attr-defined]
    children: dict[str | None, list] = {}
    for sp in spans:
        children.setdefault(sp.parent_id, []).append(sp)

    def show(parent: str | None, depth: int) -> None:
        for sp in sorted(children.get(parent, []), key=lambda x: x.start_time_ns):
            ms = (sp.end_time_ns - sp.start_time_ns) / 1e6
            print(f"  {'  ' * depth}{sp.name} [{sp.span_type}] {ms:.1f} ms")
            show(sp.span_id, depth + 1)

    show(None, 0)


def main() -> None:
    llmtrace.set_experiment(EXPERIMENT)
    print(f"Store: {llmtrace.current_config().tracking_uri}   experiment: {EXPERIMENT!r}\n")
    with llmtrace.start_run(run_name="rag-batch") as run:
        llmtrace.log_params({"model": MODEL, "top_k": TOP_K, "documents": len(DOCS)})
        replies = []
        with llmtrace.session("rag-demo", user="workshop"):
            for question in QUESTIONS:
                replies.append(answer(question))
                print(f"Q: {question}\nA: {replies[-1]}\n")
        unanswered = sum(reply.startswith("I don't know") for reply in replies)
        llmtrace.log_metrics({"questions": len(QUESTIONS), "unanswered": unanswered})
    # leaving the run flushed llmtrace: the traces are stored and linked to the run

    linked = llmtrace.client().search_traces(
        locations=[run.info.experiment_id], run_id=run.info.run_id, order_by=["timestamp_ms ASC"]
    )
    print(f"{len(linked)} traces linked to run 'rag-batch' ({run.info.run_id}). The first one:")
    first = linked[0]
    print(f"{first.info.trace_id} ({first.info.state.value}, {first.info.execution_duration} ms)")
    print_tree(first)
    print(
        "\nWhere to look:\n"
        f"  llmtrace traces list --experiment {EXPERIMENT}\n"
        f"  llmtrace sessions show rag-demo --experiment {EXPERIMENT}\n"
        f"  llmtrace ui --experiment {EXPERIMENT}   # the MLflow UI: Traces tab, or run 'rag-batch'"
    )


if __name__ == "__main__":
    main()
