"""The team stack: PostgreSQL from the OS packages and an `mlflow server` on it, started with
the very scripts in deploy/ (`deploy/team.sh up`), traced into with llmtrace, read back with
MLflow's client. Also a direct ``postgresql://`` tracking URI (written by the export process).

Skipped when the PostgreSQL binaries are missing, except on CI (``LLMTRACE_CI=1``, set by
``.ci/run``, which installs them), where that is a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest

import llmtrace
from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.slow

DEPLOY = ROOT / "deploy"


def _pg_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return str(Path(found[-1]).parent)
    initdb = shutil.which("initdb")
    return str(Path(initdb).parent) if initdb else None


@dataclass
class TeamStack:
    url: str
    backend_uri: str
    env: dict[str, str]


@pytest.fixture(scope="module")
def team_stack() -> Iterator[TeamStack]:
    if _pg_bin() is None:
        if os.environ.get("LLMTRACE_CI") == "1":
            pytest.fail("PostgreSQL binaries (initdb, pg_ctl) missing on CI")
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not installed")
    team_dir = Path(tempfile.mkdtemp(prefix="llmtrace-team-"))
    os.chmod(team_dir, 0o755)  # as root, the postgres user must reach its data folder
    port = free_port()
    env = {
        **os.environ,
        "TEAM_DIR": str(team_dir),
        "PG_PORT": str(free_port()),
        "MLFLOW_PORT": str(port),
        "MLFLOW_WORKERS": "2",
        "MLFLOW": shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow",
        "PYTHON": sys.executable,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    try:
        up = subprocess.run(
            [str(DEPLOY / "team.sh"), "up"], env=env, capture_output=True, text=True, timeout=400
        )
        log = team_dir / "mlflow-server.log"
        assert up.returncode == 0, up.stderr + (log.read_text()[-3000:] if log.exists() else "")
        assert f"LLMTRACE_TRACKING_URI=http://127.0.0.1:{port}" in up.stdout
        backend = f"postgresql://mlflow@127.0.0.1:{env['PG_PORT']}/mlflow"
        yield TeamStack(f"http://127.0.0.1:{port}", backend, env)
    finally:
        subprocess.run([str(DEPLOY / "team.sh"), "down"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(team_dir, ignore_errors=True)


@llmtrace.trace(kind="RETRIEVER")
def lookup(q: str) -> list[str]:
    return [f"doc about {q}"]


@llmtrace.trace(kind="CHAIN")
def ask(q: str) -> str:
    docs = lookup(q)
    with llmtrace.span("generate", kind="LLM") as s:
        s.set_inputs({"q": q, "docs": docs})
        s.set_outputs(f"answer to {q}")
    return f"answer to {q}"


def _check_stored(uri: str, experiment: str, n: int) -> None:
    client = mlflow.MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    infos = client.search_traces(locations=[found.experiment_id], max_results=100)
    assert len(infos) == n
    answers = set()
    for info in infos:
        trace = client.get_trace(info.info.trace_id)
        spans = {s.name: s for s in trace.data.spans}
        assert set(spans) == {"ask", "lookup", "generate"}
        assert spans["lookup"].span_type == "RETRIEVER"
        answers.add(spans["ask"].outputs)
    assert answers == {f"answer to q{i}" for i in range(n)}


def test_traces_into_the_postgres_backed_server(team_stack: TeamStack) -> None:
    experiment = f"team-{uuid.uuid4().hex[:8]}"
    llmtrace.configure(tracking_uri=team_stack.url, experiment=experiment, schedule_delay_ms=20)
    for i in range(10):
        ask(f"q{i}")
    assert llmtrace.flush(60)
    s = llmtrace.stats()
    assert (s.exported, s.failed, s.dropped) == (30, 0, 0)
    _check_stored(team_stack.url, experiment, 10)


def test_postgres_tracking_uri_written_directly(
    team_stack: TeamStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same database as a local SQL store: the export process writes it, MLflow reads it."""
    monkeypatch.setenv("PGPASSFILE", str(Path(team_stack.env["TEAM_DIR"]) / "pgpass"))
    experiment = f"team-direct-{uuid.uuid4().hex[:8]}"
    llmtrace.configure(
        tracking_uri=team_stack.backend_uri, experiment=experiment, schedule_delay_ms=20
    )
    for i in range(5):
        ask(f"q{i}")
    assert llmtrace.flush(120)
    s = llmtrace.stats()
    assert (s.exported, s.failed, s.dropped) == (15, 0, 0), s.last_error
    _check_stored(team_stack.backend_uri, experiment, 5)
    _check_stored(team_stack.url, experiment, 5)  # and the server sees them too
