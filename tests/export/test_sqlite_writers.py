"""Several processes writing one SQLite file at once lose nothing.

SQLite lets one writer in at a time. MLflow waits up to 20 s for the lock (``busy_timeout``);
beyond that, or when SQLite refuses at once to avoid a deadlock, the store raises ``database is
locked`` and llmtrace retries (`LOCKED_RETRIES` attempts with backoff). A new file's schema is
created by one process at a time (a file lock), since MLflow's migrations collide otherwise.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

import mlflow
import pytest

from llmtrace.export._exporter_mlflow import LOCKED_RETRIES, MlflowSpanExporter
from tests.conftest import ROOT

WRITERS = 4
TRACES = 40

CHILD = textwrap.dedent(
    """
    import os, sys, time
    import llmtrace

    uri, writer, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    llmtrace.configure(tracking_uri=uri, experiment="writers", schedule_delay_ms=20,
                       max_export_batch_size=32)

    @llmtrace.trace
    def leaf(i):
        return i

    @llmtrace.trace
    def root(i):
        with llmtrace.span("middle"):
            leaf(i)
        return f"{writer}-{i}"

    llmtrace.flush()  # start the pipeline before the race
    while not os.path.exists(go):
        time.sleep(0.01)
    for i in range(n):
        root(i)
    ok = llmtrace.flush(120)
    s = llmtrace.stats()
    print(ok, s.exported, s.failed, s.dropped)
    """
)


@pytest.mark.slow
def test_several_processes_write_one_new_sqlite_file(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'shared.db'}"  # does not exist yet: schema creation races too
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, uri, f"w{w}", str(TRACES), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for w in range(WRITERS)
    ]
    time.sleep(1.0)
    go.touch()
    for child in children:
        out, err = child.communicate(timeout=240)
        assert child.returncode == 0, err
        assert out.split() == ["True", str(3 * TRACES), "0", "0"], err

    found = mlflow.MlflowClient(tracking_uri=uri).get_experiment_by_name("writers")
    assert found is not None
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        traces = mlflow.search_traces(
            locations=[found.experiment_id], max_results=10_000, return_type="list"
        )
    finally:
        mlflow.set_tracking_uri(previous)
    assert Counter(len(t.data.spans) for t in traces) == {3: WRITERS * TRACES}
    roots = {s.outputs for t in traces for s in t.data.spans if s.name == "root"}
    assert roots == {f"w{w}-{i}" for w in range(WRITERS) for i in range(TRACES)}


def test_database_is_locked_is_retried_until_the_lock_is_released(tmp_path: Path) -> None:
    """A real SQLite lock held by another connection: the write fails with "database is
    locked" (no busy wait here) until the holder lets go, and `_with_retries` gets it in."""
    path = tmp_path / "locked.db"
    setup = sqlite3.connect(path)
    setup.execute("CREATE TABLE t (x INTEGER)")
    setup.commit()
    setup.close()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    threading.Timer(1.0, lambda: holder.execute("COMMIT")).start()

    attempts: list[float] = []

    def write() -> None:
        attempts.append(time.monotonic())
        conn = sqlite3.connect(path, timeout=0)
        try:
            conn.execute("INSERT INTO t VALUES (1)")
            conn.commit()
        finally:
            conn.close()

    exporter = MlflowSpanExporter(f"sqlite:///{path}", retries=1)  # lock errors: more than 1
    exporter._with_retries(write)
    holder.close()
    assert len(attempts) > 2 and exporter.retried == len(attempts) - 1
    assert exporter.retried <= LOCKED_RETRIES
    assert sqlite3.connect(path).execute("SELECT count(*) FROM t").fetchone() == (1,)
