"""A forked child (multiprocessing, gunicorn workers) gets its own working export thread."""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

import llmtrace


def _child(uri: str) -> None:
    @llmtrace.trace(name="in-child")
    def work() -> int:
        return os.getpid()

    work()
    ok = llmtrace.flush(60)
    sys.exit(0 if ok and llmtrace.stats().exported == 1 else 3)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_exports_its_own_spans(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    llmtrace.configure(tracking_uri=uri, experiment="fork")
    with llmtrace.span("in-parent"):
        pass
    assert llmtrace.flush(60)
    proc = multiprocessing.get_context("fork").Process(target=_child, args=(uri,))
    proc.start()
    proc.join(120)
    assert proc.exitcode == 0
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("fork")
    traces = client.search_traces(locations=[exp.experiment_id])
    assert sorted(t.info.tags["mlflow.traceName"] for t in traces) == ["in-child", "in-parent"]
