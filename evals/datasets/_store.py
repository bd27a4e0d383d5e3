"""Versions of a named dataset in the MLflow store: GenAI evaluation datasets, else JSONL files.

Each version is written once and never changed. Where the store has MLflow's GenAI evaluation
datasets (SQL stores, an MLflow server), version N of ``NAME`` is an MLflow dataset named
``NAME`` with tags ``llmtrace.dataset.version = N`` and ``llmtrace.dataset.digest``, linked to
the experiment (the MLflow UI lists it under Datasets). Elsewhere (a file store) it is the
artifact ``dataset/NAME.vN.jsonl`` of an MLflow run named ``dataset:NAME`` with the same tags.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _bulk
from ._records import canonical_order

logger = logging.getLogger("evals")

TAG_NAME = "llmtrace.dataset.name"
TAG_VERSION = "llmtrace.dataset.version"
TAG_DIGEST = "llmtrace.dataset.digest"
TAG_RECORDS = "llmtrace.dataset.records"
_PAGE = 50  # datasets per search page (an MLflow server takes at most SEARCH_..._MAX_RESULTS)


@dataclass
class Dataset:
    """One version of an evaluation dataset: its records and where they are stored.

    Example:
        >>> ds = evals.datasets.load("qa-regressions")
        >>> ds.name, ds.version, ds.digest[:12], len(ds.records)
    """

    name: str
    version: int | None
    digest: str
    records: list[dict[str, Any]] = field(default_factory=list)
    dataset_id: str | None = None
    """MLflow's dataset id (``d-...``), or the id of the run holding the JSONL file."""
    storage: str | None = None
    """``"mlflow_dataset"``, ``"jsonl_artifact"``, or None when not saved."""

    @property
    def ref(self) -> str:
        """What ``evaluate`` and ``llmtrace eval run`` take: ``dataset:NAME@VERSION``."""
        return f"dataset:{self.name}" + (f"@{self.version}" if self.version else "")

    def rows(self) -> list[dict[str, Any]]:
        """The records as rows for `evals.evaluate` (inputs, outputs, expectations, trace_id)."""
        from ._records import as_row

        return [as_row(r) for r in self.records]

    def __len__(self) -> int:
        return len(self.records)


def _client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _store(uri: str) -> Any:
    from mlflow.tracking._tracking_service.utils import _get_store

    return _get_store(uri)


def _quote(name: str) -> str:
    if "'" in name:
        raise ValueError(f"dataset name {name!r}: a name cannot hold a single quote")
    return f"'{name}'"


def _has_datasets(uri: str) -> bool:
    """Whether the store keeps MLflow GenAI evaluation datasets (a file store does not)."""
    from mlflow.store.tracking.file_store import FileStore

    return not isinstance(_store(uri), FileStore)


# -- MLflow GenAI evaluation datasets -------------------------------------------------------------
def _mlflow_versions(uri: str, name: str) -> dict[int, Any]:
    found: dict[int, Any] = {}
    token = None
    while True:
        page = _client(uri).search_datasets(
            filter_string=f"name = {_quote(name)}", max_results=_PAGE, page_token=token
        )
        for ds in page:
            version = (ds.tags or {}).get(TAG_VERSION)
            if version is not None and str(version).isdigit():
                found[int(version)] = ds
        token = getattr(page, "token", None)
        if not token:
            return found


def _mlflow_records(uri: str, dataset_id: str) -> list[dict[str, Any]]:
    records, _ = _store(uri)._load_dataset_records(dataset_id, max_results=None)
    out = []
    for r in records:
        source = r.source.to_dict() if r.source is not None else None
        out.append(
            {
                "inputs": r.inputs,
                "outputs": r.outputs,
                "expectations": r.expectations or {},
                "source": source,
            }
        )
    return canonical_order(out)


def _mlflow_save(
    uri: str, experiment_id: str | None, name: str, version: int, digest: str, records: list[Any]
) -> str:
    tags = {TAG_NAME: name, TAG_VERSION: str(version), TAG_DIGEST: digest}
    tags[TAG_RECORDS] = str(len(records))
    made = _client(uri).create_dataset(
        name=name, experiment_id=[experiment_id] if experiment_id else None, tags=tags
    )
    if records:
        store = _store(uri)
        done = False
        if _bulk.supported(store):
            try:
                done = _bulk.insert_new(store, str(made.dataset_id), records)
            except Exception as exc:  # e.g. two records with the same inputs after all
                logger.debug("bulk insert refused (%s); using upsert_dataset_records", exc)
        if not done:
            store.upsert_dataset_records(dataset_id=made.dataset_id, records=records)
    return str(made.dataset_id)


# -- JSONL artifacts ------------------------------------------------------------------------------
def _jsonl_runs(uri: str, experiment_id: str, name: str) -> dict[int, Any]:
    runs = _client(uri).search_runs(
        [experiment_id], filter_string=f"tags.`{TAG_NAME}` = {_quote(name)}", max_results=1000
    )
    return {int(r.data.tags[TAG_VERSION]): r for r in runs if TAG_VERSION in r.data.tags}


def _jsonl_save(
    uri: str, experiment_id: str, name: str, version: int, digest: str, records: list[Any]
) -> str:
    client = _client(uri)
    tags = {TAG_NAME: name, TAG_VERSION: str(version), TAG_DIGEST: digest}
    tags |= {TAG_RECORDS: str(len(records)), "mlflow.runName": f"dataset:{name}@{version}"}
    run = client.create_run(experiment_id, tags=tags)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.v{version}.jsonl"
        path.write_text(
            "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records),
            encoding="utf-8",
        )
        client.log_artifact(run.info.run_id, str(path), artifact_path="dataset")
    client.set_terminated(run.info.run_id, "FINISHED")
    return str(run.info.run_id)


def _jsonl_records(uri: str, run: Any, name: str, version: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as folder:
        local = _client(uri).download_artifacts(
            run.info.run_id, f"dataset/{name}.v{version}.jsonl", folder
        )
        text = Path(local).read_text(encoding="utf-8")
    return canonical_order(json.loads(line) for line in text.splitlines() if line.strip())


# -- both -----------------------------------------------------------------------------------------
def versions(uri: str, experiment_id: str | None, name: str) -> dict[int, Any]:
    """The stored versions of ``name``: version number → MLflow dataset or run."""
    if _has_datasets(uri):
        return _mlflow_versions(uri, name)
    return _jsonl_runs(uri, experiment_id, name) if experiment_id else {}


def save(
    uri: str, experiment_id: str, name: str, version: int, digest: str, records: list[Any]
) -> tuple[str, str]:
    """Write version ``version`` of ``name``; return (dataset or run id, storage kind)."""
    if _has_datasets(uri):
        return _mlflow_save(uri, experiment_id, name, version, digest, records), "mlflow_dataset"
    return _jsonl_save(uri, experiment_id, name, version, digest, records), "jsonl_artifact"


def read(uri: str, name: str, version: int, found: Any) -> Dataset:
    """Load one stored version (``found`` is what `versions` gave for it)."""
    if _has_datasets(uri):
        records = _mlflow_records(uri, found.dataset_id)
        tags, dataset_id, storage = found.tags or {}, str(found.dataset_id), "mlflow_dataset"
    else:
        records = _jsonl_records(uri, found, name, version)
        tags, dataset_id, storage = found.data.tags, str(found.info.run_id), "jsonl_artifact"
    return Dataset(
        name=name,
        version=version,
        digest=str(tags.get(TAG_DIGEST, "")),
        records=records,
        dataset_id=dataset_id,
        storage=storage,
    )
