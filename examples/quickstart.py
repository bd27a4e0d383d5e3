"""The shortest path: decorate functions, call them, see the traces.

Run it from any folder; traces land in ./mlflow.db (the store `mlflow ui` opens there):

    python examples/quickstart.py
"""

from __future__ import annotations

import re
import time

import llmtrace

DOCS = [
    {"id": "paris", "content": "Paris is the capital of France.", "score": 0.0},
    {"id": "berlin", "content": "Berlin is the capital of Germany.", "score": 0.0},
    {"id": "rome", "content": "Rome is the capital of Italy.", "score": 0.0},
]


@llmtrace.trace(kind="RETRIEVER")
def retrieve(question: str, k: int = 2) -> list[dict[str, object]]:
    """Rank the documents by word overlap with the question."""
    words = set(re.findall(r"[a-z]+", question.lower()))
    scored = [
        {**doc, "score": len(words & set(re.findall(r"[a-z]+", str(doc["content"]).lower())))}
        for doc in DOCS
    ]
    return sorted(scored, key=lambda d: -int(d["score"]))[:k]  # type: ignore[call-overload]


@llmtrace.trace(kind="LLM")
def generate(question: str, context: list[str]) -> str:
    """A stand-in for a model call: answer from the best document."""
    time.sleep(0.01)
    return context[0] if context else "I don't know."


@llmtrace.trace(kind="CHAIN")
def answer(question: str) -> str:
    """Retrieve, then generate."""
    docs = retrieve(question)
    return generate(question, [str(d["content"]) for d in docs])


def main() -> None:
    with llmtrace.session("quickstart-session", user="newcomer"):
        for question in ["What is the capital of France?", "Which city is the capital of Germany?"]:
            print(f"Q: {question}\nA: {answer(question)}")
    llmtrace.flush()
    config = llmtrace.current_config()
    traces = llmtrace.search_traces(max_results=5)
    print(f"\n{len(traces)} traces stored in {config.tracking_uri}")
    for t in traces:
        spans = ", ".join(f"{s.name} ({s.span_type})" for s in t.data.spans)
        print(f"  {t.info.trace_id}: {spans}")
    stats = llmtrace.stats()
    print(f"exported {stats.exported} spans, dropped {stats.dropped}, failed {stats.failed}")
    newest = traces[0].info.trace_id if traces else "<trace id>"
    print("\nLook at them from this folder:")
    print("  llmtrace traces list                        # one line per trace")
    print(f"  llmtrace traces show {newest}  # the span tree")
    print("  llmtrace sessions show quickstart-session   # the conversation, turn by turn")
    print("  llmtrace ui                                 # the MLflow UI on this store")


if __name__ == "__main__":
    main()
