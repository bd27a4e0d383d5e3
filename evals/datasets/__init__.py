"""Evaluation datasets built from traces: a bad answer marked by a person becomes a test case.

`from_traces` picks traces (an MLflow filter, a session, their feedback), takes each one's
inputs, traced outputs, expectations (``llmtrace.log_expectation``) and id, and, given a
``name``, saves the records as a new version of that dataset: an MLflow GenAI evaluation
dataset where the store has them (SQLite, an MLflow server), else a JSONL artifact
(`evals.datasets._store`). Versions are never changed: building again under the same name
makes version N+1 with the records of version N plus the new ones, and ``dataset:NAME@N``
still reads version N. ``evals.evaluate("dataset:NAME")`` and ``llmtrace eval run
dataset:NAME`` evaluate the newest version and record its name, version and digest on the run.

Traces with the same inputs are one test case (MLflow's datasets key records by their inputs):
the newest trace's record is kept.

Example:
    >>> llmtrace.log_feedback(trace_id, "helpful", False)
    >>> llmtrace.log_expectation(trace_id, "expected_response", "Paris")
    >>> ds = evals.datasets.from_traces(feedback={"helpful": False}, name="regressions")
    >>> evals.evaluate("dataset:regressions", [evals.metrics.token_f1()])
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from . import _records, _store
from ._store import Dataset

logger = logging.getLogger("evals")

__all__ = ["Dataset", "from_traces", "load", "parse_ref", "versions"]

_REF = re.compile(r"^(?:dataset:)?(?P<name>.+?)(?:@(?P<version>\d+))?$")
_FAST_READ = True
"""Read the traces straight from a SQLite store's tables where `llmtrace.views.read_traces`
may (False: through MLflow's client only, as the tests compare)."""


def _where() -> tuple[str, str]:
    import llmtrace

    config = llmtrace.current_config()
    return config.tracking_uri, config.experiment or "Default"


def _experiment_id(uri: str, experiment: str) -> str:
    from mlflow import MlflowClient

    found = MlflowClient(tracking_uri=uri).get_experiment_by_name(experiment)
    if found is None:
        raise ValueError(f"no experiment {experiment!r} in {uri}; check the name or the store")
    return str(found.experiment_id)


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or "@" in name or "'" in name:
        raise ValueError(
            f"dataset name {name!r}: give a non-empty text without '@' or quotes, e.g. 'qa'"
        )
    return name.strip()


def _unique(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per inputs, the later one winning (records come oldest first)."""
    by_inputs: dict[str, dict[str, Any]] = {}
    for record in records:
        by_inputs[_records.input_key(record)] = record
    return list(by_inputs.values())


def from_traces(
    filter_string: str | None = None,
    *,
    session: str | None = None,
    feedback: str | Mapping[str, Any] | Sequence[str] | None = None,
    name: str | None = None,
    experiment: str | None = None,
    max_results: int = 1000,
    replace: bool = False,
) -> Dataset:
    """Build an evaluation dataset from stored traces; with ``name``, save it as a new version.

    Args:
        filter_string: MLflow's trace filter, e.g. ``"status = 'ERROR'"``.
        session: only this session's traces.
        feedback: only traces with this feedback: ``{"helpful": False}``, ``"rating<=2"``, or a
            list of such specs (all must hold); ``"helpful"`` alone: any value.
        name: save under this name (new version N+1); None: build without saving.
        experiment: the traces' experiment; default the configured one.
        max_results: read at most this many traces (newest first).
        replace: the new version holds only these traces' records, not the previous ones too.

    Returns:
        The `Dataset` (its ``version`` is None when not saved). When the records are those of
        the newest version already, that version is returned and nothing new is written.

    Example:
        >>> ds = evals.datasets.from_traces(session="conv-42", name="conv-42-cases")
        >>> ds.ref
        'dataset:conv-42-cases@1'
    """
    from llmtrace.views import read_traces

    uri, default_experiment = _where()
    experiment = experiment or default_experiment
    where = _records.trace_filter(filter_string, session, feedback)
    traces = read_traces(
        where,
        tracking_uri=uri,
        experiment=experiment,
        max_results=max_results,
        fast=_FAST_READ,
        roots_only=True,  # a record takes the root span's inputs and outputs only
    )
    records = _unique(_records.records_of(traces))
    if not records:
        raise ValueError(
            f"no traces in experiment {experiment!r} match {where or 'the search'}; "
            "check the filter (llmtrace traces list takes the same --feedback)"
        )
    if name is None:
        records = _records.canonical_order(records)
        return Dataset(name="", version=None, digest=_records.digest(records), records=records)
    name = _check_name(name)
    experiment_id = _experiment_id(uri, experiment)
    stored = _store.versions(uri, experiment_id, name)
    latest = max(stored, default=0)
    previous = _store.read(uri, name, latest, stored[latest]) if latest else None
    if previous is not None and not replace:
        records = _unique([*previous.records, *records])
    records = _records.canonical_order(records)
    digest = _records.digest(records)
    if previous is not None and previous.digest == digest:
        logger.info("dataset %r: version %d already holds these records", name, latest)
        return previous
    version = latest + 1
    dataset_id, storage = _store.save(uri, experiment_id, name, version, digest, records)
    return Dataset(name, version, digest, records, dataset_id=dataset_id, storage=storage)


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``dataset:NAME@2`` (or ``NAME@2``, ``NAME``) → ``("NAME", 2)`` (version None: newest).

    Example:
        >>> evals.datasets.parse_ref("dataset:qa@2")
        ('qa', 2)
    """
    match = _REF.match(ref.strip()) if isinstance(ref, str) else None
    if match is None:
        raise ValueError(f"dataset {ref!r}: write dataset:NAME or dataset:NAME@VERSION")
    version = match.group("version")
    return _check_name(match.group("name")), int(version) if version else None


def versions(name: str, *, experiment: str | None = None) -> list[int]:
    """The saved versions of dataset ``name``, oldest first.

    Example:
        >>> evals.datasets.versions("regressions")
        [1, 2]
    """
    uri, default_experiment = _where()
    experiment_id = _experiment_id(uri, experiment or default_experiment)
    return sorted(_store.versions(uri, experiment_id, _check_name(name)))


def load(ref: str, version: int | None = None, *, experiment: str | None = None) -> Dataset:
    """Read a saved dataset: ``load("qa")`` (newest), ``load("qa", 1)`` or ``load("dataset:qa@1")``.

    Example:
        >>> ds = evals.datasets.load("dataset:regressions@1")
        >>> ds.version, len(ds.records)
    """
    name, pinned = parse_ref(ref)
    version = version if version is not None else pinned
    uri, default_experiment = _where()
    experiment_id = _experiment_id(uri, experiment or default_experiment)
    stored = _store.versions(uri, experiment_id, name)
    if not stored:
        raise ValueError(
            f"no dataset {name!r} in {uri}; build one with "
            f"evals.datasets.from_traces(..., name={name!r})"
        )
    chosen = max(stored) if version is None else version
    if chosen not in stored:
        raise ValueError(
            f"dataset {name!r} has no version {chosen}; versions: "
            f"{', '.join(map(str, sorted(stored)))}"
        )
    dataset = _store.read(uri, name, chosen, stored[chosen])
    if dataset.digest and _records.digest(dataset.records) != dataset.digest:
        raise ValueError(
            f"dataset {name!r} version {chosen} does not match its digest: its records were "
            "changed after it was saved; build a new version instead"
        )
    return dataset
