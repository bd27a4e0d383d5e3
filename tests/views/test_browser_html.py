"""The exported HTML page in headless Chromium: what is visible on open and after "expand all".

On open: the root's inputs and outputs (under a marked toggle), and every chat message, with
no click. "expand all" opens every toggle (spans, inputs, outputs, stack traces). A message's
continuation lines stay indented under its text, not under its role.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import llmtrace
from llmtrace.cli import app
from tests.views.conftest import Known

pytestmark = pytest.mark.slow


def _export(known: Known, trace_id: str, page: Path, experiment: str | None = None) -> None:
    args = ["traces", "export", trace_id, "--html", str(page), "--tracking-uri", known.uri]
    result = CliRunner().invoke(app, [*args, "--experiment", experiment or known.experiment])
    assert result.exit_code == 0, result.output


def _shown(chrome: Any, css: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.text for e in chrome.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]


def test_root_values_and_messages_show_on_open_and_expand_all_opens_everything(
    chrome: Any, known: Known, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    page = tmp_path / "trace.html"
    _export(known, known.first, page)
    chrome.get(page.as_uri())
    shown = "\n".join(_shown(chrome, "pre"))
    assert "Where is my order A-1001?" in shown  # the root's inputs
    assert "Your order A-1001 shipped with DHL." in shown  # and outputs
    messages = _shown(chrome, ".msg")
    assert any("It shipped with DHL." in m for m in messages), messages
    assert any("You answer order questions." in m for m in messages), messages
    toggles = chrome.find_elements(By.CSS_SELECTOR, "details.io > summary")
    marker = chrome.execute_script(
        "return getComputedStyle(arguments[0], '::before').content", toggles[0]
    )
    assert marker not in ("", "none", "normal"), marker  # a visible ▸/▾, not a bare word

    chrome.find_element(By.XPATH, "//button[text()='expand all']").click()
    details = chrome.find_elements(By.TAG_NAME, "details")
    assert details and all(d.get_attribute("open") == "true" for d in details)
    assert all(p.is_displayed() for p in chrome.find_elements(By.TAG_NAME, "pre"))
    assert all(d.is_displayed() for d in chrome.find_elements(By.CSS_SELECTOR, ".doc"))
    chrome.find_element(By.XPATH, "//button[text()='collapse all']").click()
    assert not any(
        d.get_attribute("open") for d in chrome.find_elements(By.CSS_SELECTOR, "details.io")
    )


def test_continuation_lines_of_a_message_keep_their_indent(
    chrome: Any, known: Known, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    llmtrace.configure(tracking_uri=known.uri, experiment="html", schedule_delay_ms=20)
    poem = "first line of the answer\nsecond line\nthird line"
    with llmtrace.span("chat", kind="LLM") as llm:
        llm.set_inputs({"messages": [{"role": "user", "content": "three lines, please"}]})
        llm.set_outputs({"choices": [{"message": {"role": "assistant", "content": poem}}]})
        trace_id = llm.trace_id or ""
    assert llmtrace.flush(30)
    page = tmp_path / "poem.html"
    _export(known, trace_id, page, experiment="html")
    chrome.get(page.as_uri())
    message = next(
        e for e in chrome.find_elements(By.CSS_SELECTOR, ".msg") if "second line" in e.text
    )
    assert message.is_displayed()
    role = message.find_element(By.CSS_SELECTOR, ".role")
    lefts = chrome.execute_script(
        """
        const text = arguments[0].querySelector('.text'); const range = document.createRange();
        range.selectNodeContents(text);
        return Array.from(range.getClientRects()).map(r => r.left);
        """,
        message,
    )
    assert len(lefts) >= 3, lefts  # three lines
    assert min(lefts) >= role.rect["x"] + role.rect["width"]  # all under the text, not the role
