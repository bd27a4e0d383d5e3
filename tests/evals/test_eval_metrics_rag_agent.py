"""Non-LLM RAG metrics against Ragas' formulas, agent metrics, trace metrics on hand-made cases."""

from __future__ import annotations

import pytest
from rapidfuzz.distance import Levenshtein

from evals import Row, metrics
from evals.metrics._rag import average_precision

PARIS = "Paris is the capital of France."
EIFFEL = "The Eiffel Tower is 330 metres tall."
NOISE = "Bananas are rich in potassium and fibre!!"


def ragas_average_precision(verdicts: list[int]) -> float:
    """Ragas' ``_calculate_average_precision``, transcribed (denominator + 1e-10)."""
    denominator = sum(verdicts) + 1e-10
    numerator = sum((sum(verdicts[: i + 1]) / (i + 1)) * verdicts[i] for i in range(len(verdicts)))
    return numerator / denominator


def ragas_similarity(a: str, b: str) -> float:
    """Ragas' NonLLMStringSimilarity (Levenshtein): 1 - normalized_distance."""
    return 1 - Levenshtein.normalized_distance(a, b)


def rag_row(contexts: list[str] | None, reference: list[str] | None) -> Row:
    return Row(index=0, contexts=contexts, reference_contexts=reference)


@pytest.mark.parametrize(
    ("contexts", "verdicts", "expected"),
    [
        ([PARIS, NOISE, EIFFEL], [1, 0, 1], (1 / 1 + 2 / 3) / 2),
        ([NOISE, PARIS], [0, 1], (1 / 2) / 1),
        ([PARIS, EIFFEL, NOISE], [1, 1, 0], 1.0),
        ([NOISE, NOISE], [0, 0], 0.0),
    ],
)
def test_non_llm_context_precision_is_ragas_average_precision(
    contexts: list[str], verdicts: list[int], expected: float
) -> None:
    reference = [PARIS, EIFFEL]
    got = metrics.non_llm_context_precision().score(rag_row(contexts, reference))
    assert got.details["verdicts"] == verdicts
    assert got.value == pytest.approx(expected)
    assert got.value == pytest.approx(ragas_average_precision(verdicts), abs=1e-9)
    assert average_precision(verdicts) == pytest.approx(expected)


def test_threshold_edges_follow_ragas() -> None:
    # "abcd" vs "abxy": 2 edits of 4 -> similarity exactly 0.5. Ragas counts a retrieved
    # context relevant at >= 0.5 (precision) but a reference found only at > 0.5 (recall).
    assert ragas_similarity("abcd", "abxy") == 0.5
    row = rag_row(["abcd"], ["abxy"])
    assert metrics.non_llm_context_precision().score(row).value == 1.0
    assert metrics.non_llm_context_recall().score(row).value == 0.0


def test_non_llm_context_recall_hand_computed() -> None:
    reference = [PARIS, EIFFEL, "Lyon is known for its food and silk industry."]
    row = rag_row([EIFFEL.replace("330", "324"), NOISE, PARIS], reference)
    got = metrics.non_llm_context_recall().score(row)
    assert got.details["found"] == [1, 1, 0]
    assert got.value == pytest.approx(2 / 3)
    expected = sum(max(ragas_similarity(c, r) for c in row.contexts or []) > 0.5 for r in reference)
    assert got.value == pytest.approx(expected / len(reference))


def test_other_similarity_measures() -> None:
    row = rag_row(["Paris is the capital of Frnce."], [PARIS])
    for measure in ("levenshtein", "jaro", "jaro_winkler", "hamming", "indel"):
        assert metrics.non_llm_context_precision(measure=measure).score(row).value == 1.0
    with pytest.raises(ValueError, match="measure must be one of"):
        metrics.non_llm_context_precision(measure="cosine")


def test_undefined_rag_scores_are_errors_with_reasons() -> None:
    precision, recall = metrics.non_llm_context_precision(), metrics.non_llm_context_recall()
    nothing = precision.score(rag_row([], [PARIS]))
    assert nothing.value is None and "nothing retrieved" in (nothing.error or "")
    no_ref = precision.score(rag_row([PARIS], []))
    assert no_ref.value is None and "no reference" in (no_ref.error or "")
    assert recall.score(rag_row([PARIS], [])).value is None
    empty = recall.score(rag_row([], [PARIS]))  # recall is defined: nothing was found
    assert empty.value == 0.0 and "nothing retrieved" in (empty.reason or "")
    missing = precision.score(rag_row(None, [PARIS]))
    assert missing.value is None and "missing contexts" in (missing.error or "")


def test_id_based_precision_and_recall() -> None:
    row = Row(index=0, context_ids=["a", "b", "c", "a"], reference_context_ids=["a", "d"])
    assert metrics.id_based_context_precision().score(row).value == pytest.approx(1 / 3)
    assert metrics.id_based_context_recall().score(row).value == pytest.approx(1 / 2)
    ints = Row(index=0, context_ids=["1", "2"], reference_context_ids=[1, 2, 3])  # type: ignore[list-item]
    assert metrics.id_based_context_recall().score(ints).value == pytest.approx(2 / 3)
    none = Row(index=0, context_ids=[], reference_context_ids=["a"])
    assert metrics.id_based_context_precision().score(none).error is not None
    assert metrics.id_based_context_recall().score(none).value == 0.0
    no_ref = Row(index=0, context_ids=["a"], reference_context_ids=[])
    assert "no reference" in (metrics.id_based_context_recall().score(no_ref).error or "")


# -- agents -----------------------------------------------------------------------------------
def call(name: str, **arguments: object) -> dict[str, object]:
    return {"name": name, "arguments": arguments}


def agent_row(made: list[object], wanted: list[object]) -> Row:
    return Row(index=0, tool_calls=made, expected_tool_calls=wanted)  # type: ignore[arg-type]


def test_tool_call_accuracy_ordered_and_unordered() -> None:
    search, weather = call("search", q="paris"), call("weather", city="Paris", unit="C")
    ordered, unordered = metrics.tool_call_accuracy(), metrics.tool_call_accuracy(ordered=False)
    assert ordered.score(agent_row([search, weather], [search, weather])).value == 1.0
    swapped = agent_row([weather, search], [search, weather])
    assert ordered.score(swapped).value == 0.5  # longest in-order match: 1 of 2
    assert unordered.score(swapped).value == 1.0
    extra = agent_row([search, call("plan"), weather], [search, weather])
    assert ordered.score(extra).value == pytest.approx(2 / 3)  # extra calls count against
    assert ordered.score(agent_row([], [])).value == 1.0
    assert ordered.score(agent_row([], [search])).value == 0.0


def test_tool_call_arguments() -> None:
    wanted = [call("weather", city="Paris", days=3)]
    assert (
        metrics.tool_call_accuracy()
        .score(agent_row([call("weather", city="Paris", days="3", unit="C")], wanted))
        .value
        == 1.0
    )  # "3" equals 3; an argument not expected is not checked
    wrong = agent_row([call("weather", city="Lyon", days=3)], wanted)
    assert metrics.tool_call_accuracy().score(wrong).value == 0.0
    assert metrics.tool_call_accuracy(check_arguments=False).score(wrong).value == 1.0
    openai_style = [
        {
            "type": "function",
            "function": {"name": "weather", "arguments": '{"city": "Paris", "days": 3}'},
        }
    ]
    assert metrics.tool_call_f1().score(agent_row(openai_style, wanted)).value == 1.0


def test_tool_call_f1_hand_computed() -> None:
    f1 = metrics.tool_call_f1()
    assert f1.score(agent_row(["a", "b"], ["a"])).value == pytest.approx(2 / 3)  # P=1/2 R=1
    assert f1.score(agent_row(["a", "b", "c"], ["a", "b", "d", "e"])).value == pytest.approx(
        2 * (2 / 3) * (2 / 4) / (2 / 3 + 2 / 4)
    )
    assert f1.score(agent_row(["a", "a"], ["a"])).value == pytest.approx(2 / 3)  # one match only
    assert f1.score(agent_row(["x"], ["y"])).value == 0.0
    assert f1.score(agent_row([], [])).value == 1.0


@pytest.mark.parametrize(
    ("mode", "made", "wanted", "ok"),
    [
        ("exact", ["a", "b"], ["a", "b"], True),
        ("exact", ["a", "b", "c"], ["a", "b"], False),
        ("in_order", ["plan", "a", "x", "b"], ["a", "b"], True),
        ("in_order", ["b", "a"], ["a", "b"], False),
        ("any_order", ["b", "x", "a"], ["a", "b"], True),
        ("any_order", ["a", "b"], ["a", "a", "b"], False),  # a needed twice
    ],
)
def test_trajectory_match(mode: str, made: list[str], wanted: list[str], ok: bool) -> None:
    assert metrics.trajectory_match(mode).score(agent_row(made, wanted)).value == float(ok)


def test_agent_metric_missing_expected_calls_is_an_error() -> None:
    score = metrics.tool_call_f1().score(Row(index=0, tool_calls=[]))
    assert score.value is None and "missing expected_tool_calls" in (score.error or "")
