"""Loading data: DataFrames, lists, JSONL/CSV files, traces; clear errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from eval_apps import QUESTIONS, make_traces

import llmtrace
from evals import load_rows

RECORDS = [
    {
        "question": "Capital of France?",
        "answer": "Paris",
        "expected": "Paris",
        "contexts": ["Paris is the capital of France.", "Lyon is a city."],
        "tool_calls": [{"name": "search", "arguments": {"q": "France"}}],
        "topic": "geo",
    },
    {"question": "2+2?", "answer": "4", "ground_truth": ["4", "four"], "topic": "math"},
]


def test_list_of_dicts_and_aliases() -> None:
    rows = load_rows(RECORDS)
    assert [r.index for r in rows] == [0, 1]
    first, second = rows
    assert (first.question, first.answer, first.expected) == (
        "Capital of France?",
        "Paris",
        "Paris",
    )
    assert first.contexts == ["Paris is the capital of France.", "Lyon is a city."]
    assert first.tool_calls == [{"name": "search", "arguments": {"q": "France"}}]
    assert first.extra["topic"] == "geo"
    assert second.expected == ["4", "four"]  # ground_truth is an alias
    assert second.contexts is None


def test_dataframe_with_nan_cells() -> None:
    frame = pd.DataFrame(
        {"inputs": ["q1", "q2"], "outputs": ["a1", None], "reference": ["r1", float("nan")]}
    )
    rows = load_rows(frame)
    assert (rows[0].question, rows[0].answer, rows[0].expected) == ("q1", "a1", "r1")
    assert rows[1].answer is None and rows[1].expected is None  # NaN is missing, not a value


def test_inputs_dict_and_documents_with_ids() -> None:
    rows = load_rows(
        [
            {
                "inputs": {"query": "tallest tower?", "top_k": 2},
                "contexts": [
                    {"page_content": "Eiffel 330 m", "metadata": {"doc_uri": "docs/eiffel"}},
                    {"content": "Tokyo Skytree 634 m", "id": 7},
                ],
                "reference_contexts": ["Tokyo Skytree 634 m"],
            }
        ]
    )
    row = rows[0]
    assert row.question == "tallest tower?"
    assert row.extra["inputs"] == {"query": "tallest tower?", "top_k": 2}
    assert row.contexts == ["Eiffel 330 m", "Tokyo Skytree 634 m"]
    assert row.context_ids == ["docs/eiffel", "7"]
    assert row.reference_contexts == ["Tokyo Skytree 634 m"]
    assert row.reference_context_ids is None  # plain strings carry no ids


def test_jsonl_file(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n\n")
    rows = load_rows(path)
    assert len(rows) == 2 and rows[0].contexts == RECORDS[0]["contexts"]
    assert load_rows(str(path))[1].expected == ["4", "four"]


def test_csv_file_with_json_list_cells(tmp_path: Path) -> None:
    path = tmp_path / "qa.csv"
    pd.DataFrame(
        {
            "question": ["Capital of France?", "2+2?"],
            "answer": ["Paris", "4"],
            "expected": ["Paris", "4"],
            "contexts": [json.dumps(["Paris is the capital of France."]), ""],
            "context_ids": ['["d1"]', None],
        }
    ).to_csv(path, index=False)
    rows = load_rows(path)
    assert rows[0].contexts == ["Paris is the capital of France."]
    assert rows[0].context_ids == ["d1"]
    assert rows[1].contexts is None and rows[1].expected == "4"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"question": "a"}\n{"question": oops}\n', "line 2 is not valid JSON"),
        ('{"question": "a"}\n[1, 2]\n', "line 2 is a JSON list"),
    ],
)
def test_malformed_jsonl_names_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_rows(path)


def test_bad_inputs_get_one_line_errors(tmp_path: Path) -> None:
    cases = [
        ([], "empty"),
        (pd.DataFrame(), "empty"),
        (None, "no data"),
        (tmp_path / "missing.jsonl", "no such file"),
        ({"question": "q"}, "one dict"),
        (["just a string"], r"data\[0\] is a str"),
        (42, "cannot read data of type int"),
        ([{"question": "q", "query": "q2"}], "both give 'question'"),
        ([{"contexts": 3}], "row 0, column 'contexts'"),
        ([{"tool_calls": [{"arguments": {}}]}], "has no 'name'"),
    ]
    (tmp_path / "data.txt").write_text("x")
    cases.append((tmp_path / "data.txt", "unknown file type"))
    (tmp_path / "empty.jsonl").write_text("\n")
    cases.append((tmp_path / "empty.jsonl", "empty"))
    for data, message in cases:
        with pytest.raises(ValueError, match=message) as info:
            load_rows(data)
        assert "\n" not in str(info.value)


def test_rows_from_traces(sqlite_uri: str) -> None:
    ids = make_traces()
    traces = [llmtrace.get_trace(i) for i in ids]
    rows = load_rows(traces)
    by_question = {r.question: r for r in rows}
    assert set(by_question) == {q for q, _ in QUESTIONS}
    capital = by_question["What is the capital of France?"]
    assert capital.answer == "Paris is the capital of France."
    assert capital.contexts == ["Paris is the capital of France."]
    assert capital.context_ids == ["paris"]
    assert capital.tool_calls == []
    assert capital.trace_id == ids[0] and capital.trace is traces[0]
    population = by_question["What is the population of Paris?"]
    assert population.tool_calls == [
        {"name": "lookup", "arguments": {"city": "Paris", "field": "population"}}
    ]
    assert population.answer == "Paris population: 2.1M"


def test_rows_from_a_search_traces_dataframe_with_added_columns(sqlite_uri: str) -> None:
    ids = make_traces()
    frame = llmtrace.search_traces(return_type="pandas")
    assert set(frame["trace_id"]) == set(ids)
    expected = {q: e for q, e in QUESTIONS}
    frame["expected"] = [expected[r["question"]] for r in frame["request"]]
    rows = load_rows(frame)
    assert len(rows) == 3
    for row in rows:
        assert row.trace is not None and row.trace_id in ids
        assert row.expected == expected[row.question]
        assert row.answer and row.contexts is not None
    assert "request" not in rows[0].extra and "spans" not in rows[0].extra


def test_judge_traces_are_left_out_with_a_warning(
    sqlite_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    ids = make_traces()
    with llmtrace.span("judge faithfulness", kind="EVALUATOR") as span:
        span.set_attribute("mlflow.traceTag.llmtrace.evaluation", "true")
        span.set_inputs({"messages": [{"role": "user", "content": "judge this"}]})
        judge_id = span.trace_id
    traces = llmtrace.search_traces()
    assert judge_id in {t.info.trace_id for t in traces}
    rows = load_rows(traces)
    assert sorted(r.trace_id for r in rows) == sorted(ids)
    assert sorted(r.index for r in rows) == [0, 1, 2]
    assert "left out 1 judge traces" in caplog.text
    with pytest.raises(ValueError, match="every trace given is a judge trace"):
        load_rows([llmtrace.get_trace(judge_id)])
