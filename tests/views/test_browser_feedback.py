"""Headless Chromium on the MLflow UI (a real `mlflow server`): feedback and an expectation
logged with llmtrace show on the trace: in the traces table (a column per name) and in the
trace's assessments pane, where the feedback's expander shows its value, source and rationale."""

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

    # The feedback's card: its expander opens the source, the value and the rationale.
    assert "Canberra is the capital" not in pane  # folded until opened
    card = _card(chrome, "geography_ok")
    card.find_element(
        By.XPATH,
        ".//button[@data-component-id='shared.model-trace-explorer.toggle-assessment-expanded']",
    ).click()
    _wait(chrome, lambda d: "Rationale" in _card(d, "geography_ok").text)
    lines = _card(chrome, "geography_ok").text.splitlines()
    chrome.save_screenshot(str(tmp_path / "mlflow-ui-feedback-rationale.png"))
    assert lines[0] == "geography_ok" and "ann" in lines  # the name, then who gave it
    assert lines[lines.index("Feedback") + 1] == "False"
    assert lines[lines.index("Rationale") + 1] == "Canberra is the capital"


def _card(driver: Any, name: str) -> Any:
    """The assessments pane's card of feedback ``name``: its title's nearest box with a value."""
    from selenium.webdriver.common.by import By

    title = driver.find_elements(By.XPATH, f"//span[normalize-space(text())='{name}']")[-1]
    box = title
    for _ in range(6):
        box = box.find_element(By.XPATH, "..")
        if box.find_elements(
            By.XPATH, ".//*[@data-component-id='shared.model-trace-explorer.assesment-value-tag']"
        ):
            return box
    raise AssertionError(f"no card for {name!r} in the assessments pane")
