"""Feedback and expectations on traces: stored as MLflow assessments, read back by MLflow."""

from __future__ import annotations

import math
from typing import Any

import pytest
from mlflow import MlflowClient

import llmtrace


def _traces(n: int) -> list[tuple[str, str]]:
    """n finished traces: (trace id, id of a child span)."""
    made = []
    for i in range(n):
        with llmtrace.span(f"ask-{i}") as root:
            root.set_inputs({"question": f"q{i}"})
            with llmtrace.span("retrieve", kind="RETRIEVER") as child:
                pass
            root.set_outputs(f"a{i}")
        made.append((root.trace_id, child.span_id))
    llmtrace.flush()
    return made


def _stored(uri: str, trace_id: str) -> list[Any]:
    return list(MlflowClient(tracking_uri=uri).get_trace(trace_id).info.assessments)


@pytest.mark.parametrize(
    ("value", "kind"),
    [(True, bool), (False, bool), (4, int), (0.25, float), ("off-topic", str)],
)
def test_feedback_values_round_trip_through_mlflow(sqlite_uri: str, value: Any, kind: type) -> None:
    ((trace_id, span_id),) = _traces(1)
    returned = llmtrace.log_feedback(
        trace_id, "helpful", value, rationale="checked by hand", source="human",
        source_id="alice@example.com", span_id=span_id,
    )  # fmt: skip
    (stored,) = _stored(sqlite_uri, trace_id)
    assert stored.assessment_id == returned.assessment_id
    assert stored.name == "helpful" and stored.value == value and type(stored.value) is kind
    assert stored.feedback is not None and stored.expectation is None
    assert stored.rationale == "checked by hand" and stored.span_id == span_id
    assert (stored.source.source_type, stored.source.source_id) == ("HUMAN", "alice@example.com")


def test_both_kinds_and_sources_on_sqlite_and_the_server(backend: str) -> None:
    ((trace_id, _),) = _traces(1)
    llmtrace.log_feedback(trace_id, "correct", False, source="code", source_id="checks.py")
    llmtrace.log_feedback(trace_id, "tone", "friendly", source="llm_judge", source_id="gpt-x")
    llmtrace.log_expectation(trace_id, "expected_response", "Paris")
    llmtrace.log_expectation(trace_id, "expected_facts", ["capital", "France"], source="code")
    by_name = {a.name: a for a in _stored(backend, trace_id)}
    assert set(by_name) == {"correct", "tone", "expected_response", "expected_facts"}
    assert by_name["correct"].source.source_type == "CODE" and by_name["correct"].value is False
    assert by_name["tone"].source.source_type == "LLM_JUDGE"
    assert by_name["expected_response"].expectation.value == "Paris"
    assert by_name["expected_response"].source.source_type == "HUMAN"
    assert by_name["expected_facts"].value == ["capital", "France"]


def test_a_trace_just_made_is_found_without_an_explicit_flush(sqlite_uri: str) -> None:
    with llmtrace.span("fresh") as root:
        pass
    llmtrace.log_feedback(root.trace_id, "ok", True)
    assert [a.name for a in _stored(sqlite_uri, root.trace_id)] == ["ok"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"value": {"a": 1}}, "feedback value of type dict cannot be stored"),
        ({"value": [1, 2]}, "feedback value of type list cannot be stored"),
        ({"value": None}, "of type NoneType cannot be stored"),
        ({"value": math.nan}, "is not a finite number"),
        ({"value": math.inf}, "is not a finite number"),
        ({"name": ""}, "name must be a non-empty text"),
        ({"name": "x" * 251}, "MLflow keeps at most 250"),
        ({"source": "robot"}, "source 'robot' is not one of 'human', 'code', 'llm_judge'"),
        ({"rationale": 3}, "rationale must be a non-empty text"),
    ],
)
def test_bad_feedback_is_one_line_and_stores_nothing(
    sqlite_uri: str, kwargs: dict[str, Any], message: str
) -> None:
    ((trace_id, _),) = _traces(1)
    call = {"name": "helpful", "value": True} | kwargs
    name, value = call.pop("name"), call.pop("value")
    with pytest.raises(llmtrace.AssessmentError, match=message) as caught:
        llmtrace.log_feedback(trace_id, name, value, **call)
    assert "\n" not in str(caught.value) and isinstance(caught.value, llmtrace.LLMTraceError)
    assert _stored(sqlite_uri, trace_id) == []


def test_bad_expectation_values(sqlite_uri: str) -> None:
    ((trace_id, _),) = _traces(1)
    with pytest.raises(llmtrace.AssessmentError, match="not JSON of finite"):
        llmtrace.log_expectation(trace_id, "facts", [1.0, math.nan])
    with pytest.raises(llmtrace.AssessmentError, match="of type set cannot be stored"):
        llmtrace.log_expectation(trace_id, "facts", {"a"})
    assert _stored(sqlite_uri, trace_id) == []


def test_unknown_trace_or_span_is_one_clear_line(backend: str) -> None:
    ((trace_id, _),) = _traces(1)
    with pytest.raises(llmtrace.TraceNotFoundError, match="no trace 'tr-0000") as caught:
        llmtrace.log_feedback("tr-" + "0" * 32, "helpful", True)
    assert "\n" not in str(caught.value)
    with pytest.raises(llmtrace.TraceNotFoundError, match="has no span 'ffffffffffffffff'"):
        llmtrace.log_expectation(trace_id, "expected_response", "x", span_id="ffffffffffffffff")
    assert _stored(backend, trace_id) == []


def test_many_writes_all_or_nothing(backend: str) -> None:
    made = _traces(3)
    records = [
        {"trace_id": t, "name": "rating", "value": i, "source": "code", "span_id": s}
        for i, (t, s) in enumerate(made)
    ]
    stored = llmtrace.log_feedback_many(records)
    assert [a.value for a in stored] == [0, 1, 2]
    for i, (trace_id, span_id) in enumerate(made):
        (one,) = _stored(backend, trace_id)
        assert (one.name, one.value, one.span_id, one.source.source_type) == (
            "rating", i, span_id, "CODE",
        )  # fmt: skip
    bad_value = [*records, {"trace_id": made[0][0], "name": "rating", "value": {"x": 1}}]
    with pytest.raises(llmtrace.AssessmentError, match="record 3: feedback value of type dict"):
        llmtrace.log_feedback_many(bad_value)
    unknown = [*records, {"trace_id": "tr-" + "1" * 32, "name": "rating", "value": 1}]
    with pytest.raises(llmtrace.TraceNotFoundError, match="no trace 'tr-1111"):
        llmtrace.log_feedback_many(unknown)
    with pytest.raises(llmtrace.AssessmentError, match=r"record 0: unknown field\(s\) \['valu'\]"):
        llmtrace.log_expectation_many([{"trace_id": made[0][0], "name": "n", "valu": 1}])
    assert [len(_stored(backend, t)) for t, _ in made] == [1, 1, 1]
    expected = llmtrace.log_expectation_many(
        {"trace_id": t, "name": "expected_response", "value": f"a{i}"}
        for i, (t, _) in enumerate(made)
    )
    assert [a.expectation.value for a in expected] == ["a0", "a1", "a2"]
    assert llmtrace.log_feedback_many([]) == []
