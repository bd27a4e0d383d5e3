"""The records of a new dataset version into MLflow's SQLite store in one pass.

`SqlAlchemyStore.upsert_dataset_records` looks every record up by its input hash before
inserting it (~1 ms each on SQLite); a new version is a new, empty dataset whose records
`from_traces` has already made unique by their inputs, so the lookups find nothing. `insert_new`
writes the same rows (their column values made by MLflow's own
`SqlEvaluationDatasetRecord.from_mlflow_entity`, inserted with one executemany instead of one
ORM object each) and the same dataset schema, profile and digest, without them, in one
transaction. It is used
only for a plain SQLite `SqlAlchemyStore` of an MLflow release in `CHECKED_MLFLOW` whose tables
have the checked columns, on a dataset with no records; otherwise (and if an insert is refused)
the caller uses ``upsert_dataset_records``. `tests/evals/test_dataset_bulk.py` compares the rows
with what ``upsert_dataset_records`` writes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

CHECKED_MLFLOW = ("3.17.",)
_RECORD_COLUMNS = frozenset(
    {
        "dataset_record_id", "dataset_id", "inputs", "outputs", "expectations", "tags", "source",
        "source_id", "source_type", "created_time", "last_update_time", "created_by",
        "last_updated_by", "input_hash",
    }
)  # fmt: skip
_DATASET_COLUMNS = frozenset(
    {
        "dataset_id", "workspace", "name", "schema", "profile", "digest", "created_time",
        "last_update_time", "created_by", "last_updated_by",
    }
)  # fmt: skip


def _columns(**values: Any) -> dict[str, Any]:
    """Stands in for the ORM class in ``from_mlflow_entity``: its column values, no object."""
    return values


def supported(store: Any) -> bool:
    """True for a plain SQLite `SqlAlchemyStore` of a checked MLflow release and schema."""
    try:
        import mlflow
        from mlflow.store.tracking.dbmodels.models import (
            SqlEvaluationDataset,
            SqlEvaluationDatasetRecord,
        )
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    except ImportError:
        return False
    if not mlflow.__version__.startswith(CHECKED_MLFLOW):
        return False
    if type(store) is not SqlAlchemyStore or store.db_type != "sqlite":
        return False
    records = {c.name for c in SqlEvaluationDatasetRecord.__table__.columns}
    datasets = {c.name for c in SqlEvaluationDataset.__table__.columns}
    return records == _RECORD_COLUMNS and datasets == _DATASET_COLUMNS


def insert_new(store: Any, dataset_id: str, records: list[dict[str, Any]]) -> bool:
    """Insert ``records`` (unique inputs) into the empty dataset; False if it was not empty."""
    from mlflow.entities import DatasetRecord, DatasetRecordSource
    from mlflow.store.tracking.dbmodels.models import (
        SqlEvaluationDataset,
        SqlEvaluationDatasetRecord,
    )
    from mlflow.utils.time import get_current_time_millis
    from sqlalchemy import insert

    to_columns = SqlEvaluationDatasetRecord.from_mlflow_entity.__func__  # type: ignore[attr-defined]

    with store.ManagedSessionMaker(read_only=False) as session:
        store._validate_dataset_accessible(session, dataset_id)
        existing = (
            session.query(SqlEvaluationDatasetRecord.dataset_record_id)
            .filter(SqlEvaluationDatasetRecord.dataset_id == dataset_id)
            .first()
        )
        if existing is not None:
            return False
        now = get_current_time_millis()
        rows = []
        for record_dict in records:
            inputs_json = json.dumps(record_dict.get("inputs", {}), sort_keys=True)
            input_hash = hashlib.sha256(inputs_json.encode()).hexdigest()
            source = record_dict.get("source")
            if isinstance(source, dict):
                source = DatasetRecordSource.from_dict(source)
            record = DatasetRecord(
                dataset_record_id=None,
                dataset_id=dataset_id,
                inputs=record_dict.get("inputs", {}),
                outputs=record_dict.get("outputs", {}),
                created_time=now,
                last_update_time=now,
                expectations=record_dict.get("expectations"),
                tags=record_dict.get("tags"),
                source=source,
                created_by=None,
                last_updated_by=None,
            )
            row = to_columns(_columns, record, input_hash)
            row["dataset_record_id"] = SqlEvaluationDatasetRecord.generate_record_id()
            rows.append(row)
        session.execute(insert(SqlEvaluationDatasetRecord.__table__), rows)
        schema, name = (
            store._dataset_query(session)
            .with_entities(SqlEvaluationDataset.schema, SqlEvaluationDataset.name)
            .filter(SqlEvaluationDataset.dataset_id == dataset_id)
            .one()
        )
        fields: dict[str, Any] = {
            "last_update_time": now,
            "last_updated_by": None,
            "digest": store._compute_dataset_digest(name, now),
        }
        if updated_schema := store._update_dataset_schema(schema, records):
            fields["schema"] = json.dumps(updated_schema)
        if profile := store._compute_dataset_profile(session, dataset_id):
            fields["profile"] = json.dumps(profile)
        store._dataset_query(session).filter(SqlEvaluationDataset.dataset_id == dataset_id).update(
            fields
        )
    return True
