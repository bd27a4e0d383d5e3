"""Headless Chromium on the MLflow UI (a real `mlflow server`): feedback and an expectation
logged with llmtrace show on the trace: in the traces table (a column per name) and in the
trace's assessments pane. (The rationale sits behind an expander of the pane, which this test
does not open.)"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

import llmtrace

pytestmark = pytest.mark.slow


def _wait(driver: Any, condition: Any, timeout: float = 60) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.25).until(condition)


def test_mlflow_ui_shows_feedback_on_the_trace(
    chrome: Any, mlflow_server: str, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    experiment = f"ui-feedback-{uuid.uuid4().hex[:8]}"
    llmtrace.configure(tracking_uri=mlflow_server, experiment=experiment, schedule_delay_ms=20)
    with llmtrace.span("answer_city") as root:
        root.set_inputs({"question": "Capital of Australia?"})
        root.set_outputs("Sydney")
    llmtrace.log_feedback(
        root.trace_id, "geography_ok", False, rationale="Canberra is the capital", source_id="ann"
    )
    llmtrace.log_expectation(root.trace_id, "expected_response", "Canberra")
    experiment_id = MlflowClient(mlflow_server).get_experiment_by_name(experiment).experiment_id

    chrome.get(f"{mlflow_server}/#/experiments/{experiment_id}/traces?traceId={root.trace_id}")
    for button in chrome.find_elements(By.XPATH, "//button[normalize-space()='Got it']"):
        button.click()  # MLflow's first-visit tip

    def shows(text: str) -> Any:
        return lambda d: text in d.find_element(By.TAG_NAME, "body").text

    # The traces table: one column per assessment name, with its value.
    _wait(chrome, shows("geography_ok"))
    table = chrome.find_element(By.TAG_NAME, "body").text
    assert "expected_response" in table and "Canberra" in table and "False" in table
    # The trace's own pane: the "Assess" button counts the assessments and opens them.
    assess = _wait(
        chrome,
        lambda d: next(
            (b for b in d.find_elements(By.TAG_NAME, "button") if b.text.startswith("Assess")),
            None,
        ),
    )
    assert assess.text.split() == ["Assess", "2"]
    assess.click()
    _wait(chrome, shows("Feedback (1)"))  # the assessments pane
    pane = chrome.find_element(By.TAG_NAME, "body").text
    assert "Expectations (1)" in pane and "Canberra" in pane
    chrome.save_screenshot(str(tmp_path / "mlflow-ui-feedback.png"))
    assert "geography_ok" in pane and "False" in pane and "expected_response" in pane
    assert "Sydney" in pane  # the trace's own output beside its feedback
    assert (tmp_path / "mlflow-ui-feedback.png").stat().st_size > 0
