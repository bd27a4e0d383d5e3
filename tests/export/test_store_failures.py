"""A store that fails for every batch costs a few summary lines, never a flood; counters exact.

Issue 14: with the SQLite store read-only, deleted or on a full disk, the export process wrote
230,000-290,000 lines of MLflow tracebacks in 30 s, stored spans were counted failed
(disk full: ``exported=96`` for 1,479 stored) and flush took up to 78 s. Each case here runs a
small traced program in a subprocess (as a user would) and reads its stderr and counters.

Root ignores file modes, so as root "read-only" is a read-only bind mount; the full disk is a
2 MB tmpfs (both need ``mount``: skipped with the reason where it is not allowed).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient
from opentelemetry.sdk.trace.export import SpanExportResult

from llmtrace.export._export_process import SHUTDOWN_WAIT_S, ProcessExporter
from llmtrace.export._exporter_mlflow import MlflowSpanExporter
from tests.conftest import ROOT
from tests.export.handmade import stored_spans, trace

pytestmark = pytest.mark.slow

MAX_STDERR_LINES = 30
PROGRAM = textwrap.dedent(
    """
    import json, os, sys, time
    import llmtrace

    uri, action, seconds, payload, wait = sys.argv[1], sys.argv[2], *map(float, sys.argv[3:6])
    llmtrace.configure(tracking_uri=uri, experiment="store", schedule_delay_ms=20,
                       max_export_batch_size=64)
    with llmtrace.span("warm"):
        pass
    llmtrace.flush(120)
    warm = llmtrace.stats().exported
    if action == "delete":
        os.remove(uri[len("sqlite:///"):])
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with llmtrace.span("request") as s:
            s.set_inputs({"q": "x" * int(payload)})
            with llmtrace.span("step"):
                pass
        time.sleep(0.0005)
    began = time.monotonic()
    done = llmtrace.flush(timeout=wait)
    took = time.monotonic() - began
    s = llmtrace.stats()
    print(json.dumps({"warm": warm, "done": done, "took": took, "wait": wait, **{
        k: getattr(s, k) for k in ("enqueued", "exported", "dropped", "failed", "queued")}}))
    """
)


def _run(
    uri: str, action: str, seconds: float = 5.0, payload: int = 10, wait: float = 10.0
) -> tuple[dict, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in list(env):
        if name.startswith("LLMTRACE_"):
            env.pop(name)
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, uri, action, str(seconds), str(payload), str(wait)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def _check(s: dict, stderr: str) -> None:
    lines = stderr.splitlines()
    assert len(lines) <= MAX_STDERR_LINES, "\n".join(lines[:60])
    assert "Traceback" not in stderr
    assert s["enqueued"] == s["exported"] + s["dropped"] + s["failed"] + s["queued"]
    assert s["took"] < s["wait"] + 2  # flush(timeout=...) honours its timeout
    if s["done"]:
        assert s["queued"] == 0


def _mount(*args: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mount needs root here")
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mount {' '.join(args)} is not allowed here: {done.stderr.strip()}")


def _umount(path: Path) -> None:
    for _ in range(20):  # busy while the program's export process is still exiting
        if subprocess.run(["umount", str(path)], capture_output=True).returncode == 0:
            return
        time.sleep(0.5)
    subprocess.run(["umount", "-l", str(path)], capture_output=True)  # detach it anyway


@pytest.fixture(params=["store", "another experiment"])
def read_only_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store that cannot be written, with the program's experiment in it or not (then the
    export process cannot even start: no writing from the traced program instead)."""
    folder = tmp_path / "store"
    folder.mkdir()
    MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}").create_experiment(request.param)
    if os.geteuid() != 0:
        (folder / "mlflow.db").chmod(0o444)
        folder.chmod(0o555)
        yield f"sqlite:///{folder / 'mlflow.db'}"
        folder.chmod(0o755)
        return
    view = tmp_path / "read-only"
    view.mkdir()
    _mount("--bind", str(folder), str(view))
    try:
        _mount("-o", "remount,ro,bind", str(view))
        yield f"sqlite:///{view / 'mlflow.db'}"
    finally:
        _umount(view)


def test_a_read_only_store(read_only_store: str) -> None:
    s, stderr = _run(read_only_store, "none")
    _check(s, stderr)
    assert s["exported"] == 0 and s["failed"] > 100
    assert "readonly database" in stderr


def test_a_store_deleted_while_running(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    s, stderr = _run(uri, "delete")
    _check(s, stderr)
    assert s["warm"] == 1 and s["exported"] == 1 and s["failed"] > 100


def test_a_full_disk(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    _mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk))
    try:
        uri = f"sqlite:///{disk / 'mlflow.db'}"
        s, stderr = _run(uri, "none", seconds=8, payload=300, wait=120)
        _check(s, stderr)
        assert s["done"] and s["failed"] > 0 and "disk is full" in stderr
        assert stored_spans(uri, "store") == s["exported"] > 1  # stored: exported, no more
    finally:
        _umount(disk)


def test_shutdown_does_not_wait_for_a_store_that_never_answers(tmp_path: Path) -> None:
    """The child is stuck on a locked SQLite file (minutes of retries): shutdown stops it after
    `SHUTDOWN_WAIT_S`, and the batch it held (sent, unanswered) is a counted failure, not a
    fallback at exit."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exporter = ProcessExporter(uri, "locked")
    assert exporter.export(trace("before")).name == "SUCCESS"
    assert exporter.force_flush(120_000)
    holder = sqlite3.connect(tmp_path / "mlflow.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    results: list[object] = []
    sender = threading.Thread(target=lambda: results.append(exporter.export(trace("stuck"))))
    sender.start()
    time.sleep(2)  # the child is waiting on the lock now
    began = time.monotonic()
    exporter.shutdown()
    took = time.monotonic() - began
    sender.join(30)
    holder.execute("ROLLBACK")
    holder.close()
    assert took < SHUTDOWN_WAIT_S + 8
    assert [r.name for r in results] == ["SUCCESS"]  # type: ignore[attr-defined]  # sent
    assert exporter.counters()["failed"] == 2 and exporter.counters()["pending"] == 0
    assert exporter._fallback is None  # no in-process MLflow started at exit
    assert stored_spans(uri, "locked") == 2


def test_a_store_failing_as_a_whole_is_not_asked_for_every_batch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """In-process too (the fallback, or ``export_process=False``): after a store-wide error
    the next batches fail at once for a while, instead of one MLflow traceback each."""
    path = tmp_path / "mlflow.db"
    exporter = MlflowSpanExporter(f"sqlite:///{path}", "gone")
    assert exporter.export(trace("before")) is SpanExportResult.SUCCESS
    path.unlink()
    with caplog.at_level(logging.ERROR, logger="mlflow"):
        results = [exporter.export(trace(f"after-{i}")) for i in range(50)]
    assert set(results) == {SpanExportResult.FAILURE}
    assert "readonly database" in (exporter.last_error or "")
    assert sum(r.name.startswith("mlflow") for r in caplog.records) <= 5  # was 50
