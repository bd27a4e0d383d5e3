"""The one-transaction assessment write stores exactly the rows MLflow's create_assessment does."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from mlflow.tracking._tracking_service.utils import _get_store

import llmtrace
from llmtrace.tracking import _assessment_sql

_VARYING = {"assessment_id", "created_timestamp", "last_updated_timestamp"}


def _rows(db: str) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM assessments ORDER BY trace_id, name").fetchall()
    return [{k: row[k] for k in row.keys() if k not in _VARYING} for row in rows]


CASES: list[dict[str, Any]] = [
    {"name": "helpful", "value": True},
    {"name": "rating", "value": 4, "rationale": "fine", "source": "code", "source_id": "a.py"},
    {"name": "score", "value": 0.75, "source": "llm_judge", "source_id": "gpt-x"},
    {"name": "label", "value": "off-topic", "span": True},
]


def _make(n: int) -> list[tuple[str, str]]:
    made = []
    for i in range(n):
        with llmtrace.span(f"t{i}") as root, llmtrace.span("child") as child:
            pass
        made.append((root.trace_id, child.span_id))
    llmtrace.flush()
    return made


def _records(made: list[tuple[str, str]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    feedback, expectations = [], []
    for (trace_id, span_id), case in zip(made, CASES, strict=True):
        record = {k: v for k, v in case.items() if k != "span"} | {"trace_id": trace_id}
        if case.get("span"):
            record["span_id"] = span_id
        feedback.append(record)
        expectations.append(
            {"trace_id": trace_id, "name": "expected_facts", "value": ["x", {"y": 1.5}]}
        )
    return feedback, expectations


def test_rows_equal_what_mlflow_writes(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    written: dict[str, list[dict[str, Any]]] = {}
    for how in ("bulk", "mlflow"):
        db = tmp_path / f"{how}.db"
        llmtrace.configure(tracking_uri=f"sqlite:///{db}", experiment="e", schedule_delay_ms=20)
        if how == "mlflow":
            monkeypatch.setattr(_assessment_sql, "supported", lambda store: False)
        else:
            assert _assessment_sql.supported(_get_store(f"sqlite:///{db}"))
        made = _make(len(CASES))
        feedback, expectations = _records(made)
        llmtrace.log_feedback_many(feedback)
        llmtrace.log_expectation_many(expectations)
        rows = _rows(str(db))
        ids = {trace_id: f"trace{i}" for i, (trace_id, _) in enumerate(made)}
        spans = {span_id: f"span{i}" for i, (_, span_id) in enumerate(made)}
        with sqlite3.connect(db) as conn:
            stamps = dict(conn.execute("SELECT request_id, timestamp_ms FROM trace_info"))
        for row in rows:
            assert row["trace_timestamp_ms"] == stamps[row["trace_id"]]
            row["trace_id"] = ids[row["trace_id"]]
            row["span_id"] = spans.get(row["span_id"], row["span_id"])
            row.pop("trace_timestamp_ms")
        written[how] = sorted(rows, key=lambda r: (r["trace_id"], r["name"]))
        llmtrace.shutdown()
        monkeypatch.undo()
    assert len(written["bulk"]) == 2 * len(CASES)
    assert written["bulk"] == written["mlflow"]


def test_other_stores_and_versions_are_not_supported(
    sqlite_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _get_store(sqlite_uri)
    assert _assessment_sql.supported(store)
    assert _assessment_sql.store_for("http://127.0.0.1:5000") is None
    monkeypatch.setattr("mlflow.__version__", "9.0.0")
    assert not _assessment_sql.supported(store)
    monkeypatch.undo()
    monkeypatch.setenv("MLFLOW_SQL_TRACE_ROLLUPS_ENABLED", "true")
    assert not _assessment_sql.supported(store)
