"""Retrieval metrics without an LLM, with Ragas' formulas.

- `non_llm_context_precision` (Ragas ``NonLLMContextPrecisionWithReference``): each retrieved
  context is relevant when its best string similarity to a reference context is
  ``>= similarity_threshold``; the score is the average precision of that 0/1 list,
  ``sum_k(precision@k * v_k) / (number of relevant)`` (0.0 when none is relevant).
- `non_llm_context_recall` (Ragas ``NonLLMContextRecall``): the share of reference contexts
  whose best similarity to a retrieved context is ``> similarity_threshold``.
- `id_based_context_precision` / `id_based_context_recall` (Ragas ``IDBasedContext*``): the
  share of distinct retrieved ids that are reference ids / of reference ids that were retrieved.

String similarity is Ragas' ``NonLLMStringSimilarity``: ``1 - normalized_distance`` (rapidfuzz;
Levenshtein by default). Where Ragas returns NaN or fails (nothing retrieved for precision, no
reference), the score is an error saying so.
"""

from __future__ import annotations

from collections.abc import Callable

from .._types import MetricError, Row, Score
from ._base import FunctionMetric

_MEASURES = ("levenshtein", "hamming", "jaro", "jaro_winkler", "indel")


def similarity_function(measure: str) -> Callable[[str, str], float]:
    """``1 - normalized_distance`` of a rapidfuzz distance, as Ragas computes string similarity."""
    from rapidfuzz import distance

    classes = {
        "levenshtein": distance.Levenshtein,
        "hamming": distance.Hamming,
        "jaro": distance.Jaro,
        "jaro_winkler": distance.JaroWinkler,
        "indel": distance.Indel,
    }
    if measure not in classes:
        raise ValueError(f"measure must be one of {', '.join(_MEASURES)}, got {measure!r}")
    cls = classes[measure]
    return lambda a, b: 1.0 - cls.normalized_distance(a, b)


def average_precision(verdicts: list[int]) -> float:
    """``sum_k(precision@k * v_k) / sum(v)``; 0.0 when nothing is relevant (as Ragas' 1e-10).

    Example:
        >>> average_precision([1, 0, 1])
        0.8333333333333333
    """
    relevant = sum(verdicts)
    if relevant == 0:
        return 0.0
    hits, total = 0, 0.0
    for k, verdict in enumerate(verdicts, start=1):
        if verdict:
            hits += 1
            total += hits / k
    return total / relevant


def _texts(row: Row, retrieved_required: bool) -> tuple[list[str], list[str]]:
    retrieved = list(row.contexts or [])
    reference = list(row.reference_contexts or [])
    if not reference:
        raise MetricError("no reference contexts: the score is undefined without a reference")
    if not retrieved and retrieved_required:
        raise MetricError("nothing retrieved: context precision is undefined (0 / 0)")
    return retrieved, reference


def non_llm_context_precision(
    *,
    similarity_threshold: float = 0.5,
    measure: str = "levenshtein",
    name: str = "non_llm_context_precision",
    threshold: float | None = None,
) -> FunctionMetric:
    """Ranked precision of the retrieved contexts against reference contexts, no LLM.

    Needs ``contexts`` and ``reference_contexts``. See the module for the formula.

    Example:
        >>> row = Row(0, contexts=["Paris is in France.", "Cats purr."],
        ...           reference_contexts=["Paris is in France."])
        >>> metrics.non_llm_context_precision().score(row).value
        1.0
    """
    similarity = similarity_function(measure)

    def fn(row: Row) -> Score:
        retrieved, reference = _texts(row, retrieved_required=True)
        verdicts = [
            int(max(similarity(ctx, ref) for ref in reference) >= similarity_threshold)
            for ctx in retrieved
        ]
        return Score(
            average_precision(verdicts),
            reason=f"relevant by rank: {verdicts} ({sum(verdicts)} of {len(verdicts)})",
            details={"verdicts": verdicts},
        )

    return FunctionMetric(
        name,
        fn,
        requires=("contexts", "reference_contexts"),
        threshold=threshold,
        settings={"similarity_threshold": similarity_threshold, "measure": measure},
    )


def non_llm_context_recall(
    *,
    similarity_threshold: float = 0.5,
    measure: str = "levenshtein",
    name: str = "non_llm_context_recall",
    threshold: float | None = None,
) -> FunctionMetric:
    """Share of reference contexts found among the retrieved ones by string similarity, no LLM.

    Nothing retrieved scores 0.0 (no reference was found), with that reason.

    Example:
        >>> row = Row(0, contexts=["Paris is in France."],
        ...           reference_contexts=["Paris is in France.", "Lyon is in France."])
        >>> metrics.non_llm_context_recall().score(row).value
        0.5
    """
    similarity = similarity_function(measure)

    def fn(row: Row) -> Score:
        retrieved, reference = _texts(row, retrieved_required=False)
        if not retrieved:
            return Score(0.0, reason=f"nothing retrieved: 0 of {len(reference)} references")
        found = [
            int(max(similarity(ctx, ref) for ctx in retrieved) > similarity_threshold)
            for ref in reference
        ]
        return Score(
            sum(found) / len(found),
            reason=f"{sum(found)} of {len(found)} reference contexts retrieved",
            details={"found": found},
        )

    return FunctionMetric(
        name,
        fn,
        requires=("contexts", "reference_contexts"),
        threshold=threshold,
        settings={"similarity_threshold": similarity_threshold, "measure": measure},
    )


def _ids(row: Row) -> tuple[set[str], set[str]]:
    if row.context_ids is None:
        raise MetricError(
            "no context ids: the retrieved documents carry no ids (give a 'context_ids' "
            "column, or documents with an 'id')"
        )
    reference = {str(i) for i in row.reference_context_ids or []}
    if not reference:
        raise MetricError("no reference context ids: the score is undefined without a reference")
    return {str(i) for i in row.context_ids}, reference


def id_based_context_precision(
    *, name: str = "id_based_context_precision", threshold: float | None = None
) -> FunctionMetric:
    """Share of the distinct retrieved document ids that are reference ids.

    Example:
        >>> row = Row(0, context_ids=["a", "b", "c"], reference_context_ids=["a", "d"])
        >>> metrics.id_based_context_precision().score(row).value
        0.3333333333333333
    """

    def fn(row: Row) -> Score:
        retrieved, reference = _ids(row)
        if not retrieved:
            raise MetricError("nothing retrieved: context precision is undefined (0 / 0)")
        hits = retrieved & reference
        return Score(
            len(hits) / len(retrieved),
            reason=f"{len(hits)} of {len(retrieved)} retrieved ids are relevant",
        )

    return FunctionMetric(
        name, fn, requires=("context_ids", "reference_context_ids"), threshold=threshold
    )


def id_based_context_recall(
    *, name: str = "id_based_context_recall", threshold: float | None = None
) -> FunctionMetric:
    """Share of the reference document ids that were retrieved.

    Example:
        >>> row = Row(0, context_ids=["a", "b"], reference_context_ids=["a", "b", "c"])
        >>> metrics.id_based_context_recall().score(row).value
        0.6666666666666666
    """

    def fn(row: Row) -> Score:
        retrieved, reference = _ids(row)
        hits = retrieved & reference
        missed = sorted(reference - retrieved)
        return Score(
            len(hits) / len(reference),
            reason=f"{len(hits)} of {len(reference)} reference ids retrieved"
            + (f"; missed {missed[:5]}" if missed else ""),
        )

    return FunctionMetric(
        name, fn, requires=("context_ids", "reference_context_ids"), threshold=threshold
    )
