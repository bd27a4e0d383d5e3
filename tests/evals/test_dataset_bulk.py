"""A new dataset version written in one pass holds the rows MLflow's upsert writes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from mlflow.tracking._tracking_service.utils import _get_store

from evals.datasets import _bulk

RECORDS: list[dict[str, Any]] = [
    {"inputs": {"question": "2+2?"}, "outputs": "4", "expectations": {"expected_response": "4"},
     "source": {"source_type": "TRACE", "source_data": {"trace_id": "tr-1"}}},
    {"inputs": {"question": "hi", "lang": "en"}, "outputs": "hello",
     "expectations": {}, "source": {"source_type": "TRACE", "source_data": {"trace_id": "tr-2"}}},
    {"inputs": {"q": ["a", "b"]}, "outputs": None, "expectations": {"facts": ["x"]}},
]  # fmt: skip
_VARYING = {"dataset_record_id", "dataset_id", "created_time", "last_update_time", "digest"}


def _rows(db: Path, table: str, dataset_id: str) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(f"SELECT * FROM {table} WHERE dataset_id = ?", (dataset_id,))
        found = [{k: r[k] for k in r.keys() if k not in _VARYING} for r in rows]
    return sorted(found, key=lambda r: json.dumps(r, sort_keys=True, default=str))


def test_rows_equal_what_upsert_writes(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    client, store = MlflowClient(uri), _get_store(uri)
    assert _bulk.supported(store)
    ours = client.create_dataset(name="d", tags={"k": "v"})
    theirs = client.create_dataset(name="d", tags={"k": "v"})
    assert _bulk.insert_new(store, ours.dataset_id, [dict(r) for r in RECORDS])
    store.upsert_dataset_records(dataset_id=theirs.dataset_id, records=[dict(r) for r in RECORDS])
    for table in ("evaluation_dataset_records", "evaluation_datasets"):
        mine = _rows(db, table, ours.dataset_id)
        assert mine and mine == _rows(db, table, theirs.dataset_id), table
    assert not _bulk.insert_new(store, ours.dataset_id, RECORDS[:1])  # not empty any more


def test_not_supported_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _get_store(f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setattr("mlflow.__version__", "9.0.0")
    assert not _bulk.supported(store)
