"""Shared fixtures: a real SQLite store, an in-memory exporter, a real `mlflow server`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmtrace
from tests.servers import free_port, stop_group, wait_ready

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Read at import: the autouse fixture below removes LLMTRACE_* variables before each test.
ON_CI = os.environ.get("LLMTRACE_CI") == "1"


def missing(why: str) -> None:
    """Skip a test whose system part is absent here; on CI (LLMTRACE_CI=1), fail it."""
    if ON_CI:
        pytest.fail(f"cannot run on CI: {why}")
    pytest.skip(why)


@pytest.fixture(autouse=True)
def _fresh_llmtrace(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no pipeline and no llmtrace/MLflow variables from the shell."""
    for name in list(os.environ):
        if name.startswith(("LLMTRACE_", "OTEL_")) or name in (
            "MLFLOW_TRACKING_URI",
            "MLFLOW_EXPERIMENT_NAME",
        ):
            monkeypatch.delenv(name, raising=False)
    llmtrace.shutdown()
    yield
    llmtrace.shutdown()


@pytest.fixture
def memory() -> InMemorySpanExporter:
    """llmtrace exporting only to OpenTelemetry's in-memory exporter (no MLflow)."""
    exporter = InMemorySpanExporter()
    llmtrace.configure(export_to_mlflow=False, exporters=[exporter], schedule_delay_ms=10)
    return exporter


@pytest.fixture
def sqlite_uri(tmp_path: Path) -> str:
    """A fresh SQLite MLflow store in a temp folder, configured as llmtrace's store."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    llmtrace.configure(tracking_uri=uri, experiment="tests", schedule_delay_ms=20)
    return uri


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 (free port, temp SQLite backend); yields its URL."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    mlflow_bin = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    env = {
        **os.environ,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    log = open(folder / "server.log", "wb")
    proc = subprocess.Popen(
        [
            mlflow_bin,
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{folder / 'server.db'}",
            "--default-artifact-root",
            str(folder / "artifacts"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    try:
        wait_ready(url, proc, timeout=180)
        yield url
    finally:
        stop_group(proc)
        log.close()


@pytest.fixture(params=["sqlite", pytest.param("http", marks=pytest.mark.slow)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """llmtrace configured against a fresh SQLite store, then against the real server."""
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    else:
        uri = request.getfixturevalue("mlflow_server")
    experiment = f"tests-{uuid.uuid4().hex[:8]}"
    llmtrace.configure(tracking_uri=uri, experiment=experiment, schedule_delay_ms=20)
    return uri


@pytest.fixture
def chrome(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Headless Chromium (Debian's, no download) that resolves no host but 127.0.0.1."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.path.exists(path):
            missing(f"{path} is not installed (apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing("selenium is not installed (pip install -e '.[dev]')")
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not look anything up
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1600,1000",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
