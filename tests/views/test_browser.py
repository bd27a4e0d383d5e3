"""Headless Chromium (Debian's chromium + chromium-driver, through Selenium) on llmtrace's views.

1. The HTML file from `llmtrace traces export --html` shows the span names and opens a span on
   click (its retrieved documents become visible).
2. The MLflow UI started by `llmtrace ui` shows a trace written by llmtrace: its span tree, the
   span types MLflow recognised (its own "filter by span type" menu) and the token usage.

A screenshot of each is kept under the test's tmp_path. Without Chromium the tests skip, except
on CI (``LLMTRACE_CI=1``), where they fail.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import llmtrace
from llmtrace.cli import app
from tests.conftest import free_port
from tests.views.conftest import Known, build_known

pytestmark = pytest.mark.slow


def _wait(driver: Any, condition: Any, timeout: float = 60) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.25).until(condition)


def test_exported_html_renders_and_expands_on_click(
    chrome: Any, known: Known, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    page = tmp_path / "trace.html"
    result = CliRunner().invoke(
        app,
        ["traces", "export", known.first, "--html", str(page), "--tracking-uri", known.uri],
    )
    assert result.exit_code == 0, result.output
    chrome.get(page.as_uri())
    names = [e.text for e in chrome.find_elements(By.CSS_SELECTOR, "details.span > summary .name")]
    assert names == ["chat_turn", "retrieve", "chat gpt-4o-mini", "lookup_order"]
    assert all(
        e.is_displayed()
        for e in chrome.find_elements(By.CSS_SELECTOR, "details.span > summary .name")
    )
    retrieve = chrome.find_element(
        By.XPATH, "//details[contains(@class,'span')][summary//*[text()='retrieve']]"
    )
    document = retrieve.find_element(By.CSS_SELECTOR, ".doc")
    assert retrieve.get_attribute("open") is None
    assert not document.is_displayed()
    retrieve.find_element(By.TAG_NAME, "summary").click()
    _wait(chrome, lambda d: document.is_displayed(), timeout=10)
    assert retrieve.get_attribute("open") == "true"
    assert document.text == "0.920Order A-1001 shipped with DHL. [d1]"
    error = chrome.find_element(
        By.XPATH, "//details[contains(@class,'error')][summary//*[text()='lookup_order']]"
    )
    assert error.get_attribute("open") == "true"  # failed spans start open
    assert "TimeoutError: order service timed out" in error.text
    chrome.save_screenshot(str(tmp_path / "trace-html.png"))
    assert (tmp_path / "trace-html.png").stat().st_size > 0


@pytest.fixture
def ui_server(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """`llmtrace ui` on a store holding the known conversation, traced a minute ago.

    (The MLflow UI lists recent traces by default, so this conversation is stamped now.)
    Yields (printed traces URL, first trace id, store URI).
    """
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    llmtrace.configure(tracking_uri=uri, experiment="tests", schedule_delay_ms=20)
    first, _ = build_known(time.time_ns() - 60 * 1_000_000_000)
    llmtrace.shutdown()
    port = free_port()
    exe = shutil.which("llmtrace", path=str(Path(sys.executable).parent))
    command = [exe] if exe else [sys.executable, "-c", "from llmtrace.cli import main; main()"]
    proc = subprocess.Popen(
        [*command, "ui", "--port", str(port), "--tracking-uri", uri, "--experiment", "tests"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"},
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if "MLflow UI for experiment" in line:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(180), f"llmtrace ui did not start: {lines}"
        url = lines[-1].split(": ", 1)[1].split("  (Ctrl-C")[0]
        yield url, first, uri
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # llmtrace ui stops its mlflow server on SIGTERM
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        assert any("stopping the MLflow server" in line for line in lines), lines


def test_mlflow_ui_shows_llmtrace_trace(
    chrome: Any, ui_server: tuple[str, str, str], tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient
    from selenium.webdriver.common.by import By

    url, first, uri = ui_server
    experiment = MlflowClient(tracking_uri=uri).get_experiment_by_name("tests")
    port = url.split(":")[2].split("/")[0]
    assert url == f"http://127.0.0.1:{port}/#/experiments/{experiment.experiment_id}/traces"

    chrome.get(url)
    row = _wait(
        chrome,
        lambda d: next(
            iter(d.find_elements(By.XPATH, "//*[contains(text(), 'Where is my order A-1001?')]")),
            None,
        ),
    )
    for button in chrome.find_elements(By.XPATH, "//button[normalize-space()='Got it']"):
        button.click()  # MLflow's first-visit tip
    row.click()

    def span_titles(d: Any) -> list[str] | None:
        rows = d.find_elements(By.CSS_SELECTOR, "[data-testid^='span-title-row-']")
        titles = [r.text for r in rows]
        return titles if len(titles) == 4 else None

    assert _wait(chrome, span_titles) == [
        "chat_turn",
        "retrieve",
        "chat gpt-4o-mini",
        "lookup_order",
    ]
    assert f"/traces?traceId={first}" in chrome.current_url
    body = chrome.find_element(By.TAG_NAME, "body").text
    assert "62 tokens" in body  # the trace's token usage, summed by MLflow from our spans
    llm_metrics = chrome.find_elements(By.CSS_SELECTOR, "[data-testid^='span-metric-row-']")
    assert any("62" in m.text and "$0.000015" in m.text for m in llm_metrics)

    chrome.save_screenshot(str(tmp_path / "mlflow-ui-trace.png"))  # the span tree

    chrome.find_element(By.CSS_SELECTOR, "button[aria-label='Trace display settings']").click()
    _wait(
        chrome,
        lambda d: d.find_element(By.XPATH, "//*[normalize-space(text())='Filter by span type']"),
    ).click()

    def span_type_items(d: Any) -> list[str] | None:
        """The checkboxes of the "Filter by span type" submenu (not the settings menu's)."""
        for menu in d.find_elements(By.CSS_SELECTOR, "[role='menu']"):
            items = [
                e.text for e in menu.find_elements(By.CSS_SELECTOR, "[role='menuitemcheckbox']")
            ]
            if "Show exceptions" in items:
                return items
        return None

    items = _wait(chrome, span_type_items)
    options = {"Show all parent spans", "Show exceptions"}
    assert set(items) - options == {"Agent", "Retriever", "LLM", "Tool"}  # the types MLflow read
    chrome.save_screenshot(str(tmp_path / "mlflow-ui-span-types.png"))  # the span-type menu
    for shot in ("mlflow-ui-trace.png", "mlflow-ui-span-types.png"):
        assert (tmp_path / shot).stat().st_size > 0
