"""The on-disk spool: batches the server cannot take are kept on disk, not lost, and replayed
oldest first when it answers again — in the same process, or in a later one.

Fast tests use the scripted OTLP endpoint on 127.0.0.1 (`team_helpers.OtlpStub`) started late
on a port where nothing listened before; the slow one stops and restarts a real `mlflow server`
on the same port and SQLite backend and reads every trace back with MLflow's client.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

import llmtrace
from llmtrace.export._spool import MAGIC, SUFFIX, Spool
from tests.conftest import ROOT, free_port
from tests.team_helpers import MlflowServer, OtlpStub


@llmtrace.trace
def step(i: int) -> int:
    return i * 2


@llmtrace.trace
def job(i: int) -> int:
    return step(i) + 1


def spool_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"*{SUFFIX}"))


@pytest.fixture
def port() -> Iterator[int]:
    yield free_port()


def test_server_down_spools_then_replays_oldest_first(tmp_path: Path, port: int) -> None:
    spool = tmp_path / "spool"
    url = f"http://127.0.0.1:{port}"
    llmtrace.configure(
        tracking_uri=url,
        experiment="spooled",
        spool_dir=str(spool),
        schedule_delay_ms=10,
        max_export_batch_size=4,
    )
    for i in range(6):
        assert job(i) == 2 * i + 1
        assert llmtrace.flush(30)  # one batch per trace: order is observable
    s = llmtrace.stats()
    assert (s.spooled, s.spool_pending, s.exported, s.failed, s.dropped) == (12, 12, 12, 0, 0)
    assert len(spool_files(spool)) == 6
    assert not list(spool.glob(".*.tmp")) and not list(spool.glob("*.sending"))
    assert all(p.read_bytes().startswith(MAGIC) for p in spool_files(spool))

    stub = OtlpStub(port).start()  # the server comes back
    try:
        assert llmtrace.flush(30)
        s = llmtrace.stats()
        assert (s.replayed, s.spool_pending, s.failed) == (12, 0, 0)
        assert spool_files(spool) == []
        assert stub.accepted_spans() == ["step", "job"] * 6  # oldest first, as traced
        assert {a.experiment_id for a in stub.attempts} == {"7"}  # resolved at replay
        job(99)  # the server is up: sent directly, not through the spool
        assert llmtrace.flush(30)
        assert llmtrace.stats().spooled == 12
        assert stub.accepted_spans()[-2:] == ["step", "job"]
    finally:
        stub.stop()


def test_replay_happens_on_the_export_thread_without_flush(tmp_path: Path, port: int) -> None:
    llmtrace.configure(
        tracking_uri=f"http://127.0.0.1:{port}", spool_dir=str(tmp_path), schedule_delay_ms=10
    )
    job(1)
    assert llmtrace.flush(30)
    assert llmtrace.stats().spooled == 2
    stub = OtlpStub(port).start()
    try:
        deadline = time.monotonic() + 30
        while llmtrace.stats().replayed < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert llmtrace.stats().replayed == 2
        assert sorted(stub.accepted_spans()) == ["job", "step"]
    finally:
        stub.stop()


def test_a_later_process_replays_what_an_earlier_one_spooled(tmp_path: Path, port: int) -> None:
    spool = tmp_path / "spool"
    url = f"http://127.0.0.1:{port}"
    script = textwrap.dedent(
        f"""
        import logging
        import llmtrace
        logging.basicConfig(level=logging.WARNING)
        llmtrace.configure(tracking_uri={url!r}, experiment="later", spool_dir={str(spool)!r},
                           schedule_delay_ms=10)

        @llmtrace.trace
        def earlier(i):
            return i

        for i in range(3):
            earlier(i)
        llmtrace.flush(30)
        s = llmtrace.stats()
        print(s.spooled, s.failed, s.dropped)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3", "0", "0"]
    assert "wait in the spool" in done.stderr  # said at exit
    assert len(spool_files(spool)) >= 1

    stub = OtlpStub(port).start()
    try:
        llmtrace.configure(
            tracking_uri=url, experiment="later", spool_dir=str(spool), schedule_delay_ms=10
        )
        job(5)
        assert llmtrace.flush(30)
        assert sorted(stub.accepted_spans()) == ["earlier"] * 3 + ["job", "step"]
        assert llmtrace.stats().replayed == 3
        assert spool_files(spool) == []
    finally:
        stub.stop()


def test_half_written_and_unreadable_files_are_never_sent(tmp_path: Path, port: int) -> None:
    url = f"http://127.0.0.1:{port}"
    good = Spool(tmp_path, url, max_bytes=2**20)
    # A batch written by an earlier process, and what a crash mid-write leaves behind:
    llmtrace.configure(tracking_uri=url, spool_dir=str(tmp_path), schedule_delay_ms=10)
    job(3)
    assert llmtrace.flush(30)
    llmtrace.shutdown()
    (tmp_path / ".00000000000000000001-1-000000.tmp").write_bytes(MAGIC + b"\x00\x00")
    (tmp_path / f"00000000000000000002-1-000000{SUFFIX}").write_bytes(b"not a spool file")
    assert len(spool_files(tmp_path)) == 2
    other = Spool(tmp_path, "http://127.0.0.1:1", max_bytes=2**20)  # another server's batch
    other.put(b"", experiment=None, spans=1)
    stub = OtlpStub(port).start()
    try:
        llmtrace.configure(tracking_uri=url, spool_dir=str(tmp_path), schedule_delay_ms=10)
        job(4)
        assert llmtrace.flush(30)
        assert sorted(stub.accepted_spans()) == ["job", "job", "step", "step"]
        assert (tmp_path / f"00000000000000000002-1-000000{SUFFIX}.bad").exists()
        assert (tmp_path / ".00000000000000000001-1-000000.tmp").exists()  # left alone
        assert len(spool_files(tmp_path)) == 1  # the other server's batch, untouched
        assert good.has_pending() is False
    finally:
        stub.stop()


def test_a_full_spool_counts_the_batch_as_failed(tmp_path: Path, port: int) -> None:
    llmtrace.configure(
        tracking_uri=f"http://127.0.0.1:{port}",
        spool_dir=str(tmp_path),
        spool_max_mb=1,
        schedule_delay_ms=10,
        max_attribute_chars=1_000_000,
    )
    for _ in range(8):
        with llmtrace.span("big") as s:
            s.set_outputs("x" * 200_000)  # ~200 KB per batch: five fit in 1 MB
        assert llmtrace.flush(30)
    s = llmtrace.stats()
    assert s.spooled + s.failed == 8
    assert s.spooled >= 4 and s.failed >= 1
    assert "spool" in (s.last_error or "") and "full" in (s.last_error or "")
    assert sum(p.stat().st_size for p in spool_files(tmp_path)) <= 1024 * 1024


@pytest.mark.slow
def test_spool_replay_after_a_real_server_restart(tmp_path: Path) -> None:
    server = MlflowServer(
        free_port(),
        f"sqlite:///{tmp_path / 'server.db'}",
        tmp_path / "artifacts",
        tmp_path / "server.log",
    ).start()
    try:
        experiment = f"restart-{uuid.uuid4().hex[:8]}"
        llmtrace.configure(
            tracking_uri=server.url,
            experiment=experiment,
            spool_dir=str(tmp_path / "spool"),
            schedule_delay_ms=10,
        )
        for i in range(5):
            job(i)
        assert llmtrace.flush(60)
        assert llmtrace.stats().spooled == 0
        server.stop()
        for i in range(5, 12):
            job(i)
        assert llmtrace.flush(60)
        s = llmtrace.stats()
        assert (s.spooled, s.spool_pending, s.failed, s.dropped) == (14, 14, 0, 0)
        server.start()
        assert llmtrace.flush(60)
        s = llmtrace.stats()
        assert (s.replayed, s.spool_pending, s.failed) == (14, 0, 0)

        client = mlflow.MlflowClient(tracking_uri=server.url)
        found = client.get_experiment_by_name(experiment)
        assert found is not None
        infos = client.search_traces(locations=[found.experiment_id], max_results=100)
        assert len(infos) == 12
        for info in infos:
            trace = client.get_trace(info.info.trace_id)
            assert sorted(sp.name for sp in trace.data.spans) == ["job", "step"]
            assert trace.info.state.value == "OK"
        outputs = sorted(client.get_trace(i.info.trace_id).data.spans[0].outputs for i in infos)
        assert len(set(outputs)) == 12
    finally:
        server.stop()
