"""`llmtrace report --html`: figures by hand, both read paths, and the page in headless Chromium.

Store: tests/views/monitor_store.py (seven traces in [T0, T0 + 4 h), two outside), two
evaluation runs and watch feedback on the seven (`add_scores`).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmtrace.views._report import collect, render_html
from llmtrace.views._store import Store
from tests.views.monitor_store import AGENT_CALLS, HOUR_MS, T0_MS, add_scores, write

UNTIL = T0_MS + 4 * HOUR_MS
SINCE = "2026-11-30T00:00:00"
CHARTS = (
    "latency", "errors", "tokens", "cost", "slowest-spans", "failing-spans", "users",
    "eval-runs", "watch-scores",
)  # fmt: skip


@pytest.fixture(scope="module")
def scored_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    uri = f"sqlite:///{tmp_path_factory.mktemp('report') / 'mlflow.db'}"
    write(uri, "agent", AGENT_CALLS)
    add_scores(uri, "agent")
    return uri


def _collect(uri: str, use_sql: bool | None = None) -> Any:
    return collect(Store(uri, "agent"), since=SINCE, every="1h", until_ms=UNTIL, use_sql=use_sql)


def test_report_figures_equal_the_hand_computed_ones(scored_store: str) -> None:
    data = _collect(scored_store)
    assert data.over_time.source == "sql"
    users = [(u.user, u.sessions, u.traces) for u in data.extras.users]
    assert users == [("alice", 2, 4), ("bob", 1, 2)]  # alice: s1, s3; bob: s2
    assert [(r.name, r.means) for r in data.extras.runs] == [
        ("candidate", {"exact_match": 0.625, "faithfulness": 0.875}),
        ("baseline", {"exact_match": 0.5, "faithfulness": 0.75}),
    ]
    hour = [T0_MS + h * HOUR_MS for h in range(4)]
    # relevance n/10: hour 0 traces 1-3, hour 1 traces 4-5, hour 3 traces 6-7; grounded: n odd
    scores = [(s.bucket_ms, s.name, s.n, round(s.mean, 9)) for s in data.extras.scores]
    assert scores == [
        (hour[0], "grounded", 3, round(2 / 3, 9)),
        (hour[0], "relevance", 3, 0.2),
        (hour[1], "grounded", 2, 0.5),
        (hour[1], "relevance", 2, 0.45),
        (hour[3], "grounded", 2, 0.5),
        (hour[3], "relevance", 2, 0.65),
    ]
    day = {m: cells[T0_MS] for m, cells in data.per_day.cells.items()}
    assert {m: (c.count, c.tokens, round(c.cost_usd, 9)) for m, c in day.items()} == {
        "gpt-a": (4, 140, 0.14),
        "gpt-b": (3, 140, 0.14),
    }


def test_sql_and_mlflow_client_give_the_same_report(scored_store: str) -> None:
    sql, client = _collect(scored_store, use_sql=True), _collect(scored_store, use_sql=False)
    a, b = sql.to_json(), client.to_json()
    for part in (a, b):
        part["over_time"].pop("source"), part["per_day"].pop("source")
        for run in part["runs"]:
            run.pop("run_id")
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _ink(png: bytes) -> float:
    """The share of pixels that are not (almost) white."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    pixels = list(image.getdata())
    return sum(1 for p in pixels if p < 235) / len(pixels)


@pytest.mark.slow
def test_report_opens_offline_in_chromium_with_every_chart(
    scored_store: str, tmp_path: Path, chrome: Any
) -> None:
    from selenium.webdriver.common.by import By

    data = _collect(scored_store)
    empty = collect(Store(scored_store, "agent"), since="2026-11-20", every="1h",
                    until_ms=T0_MS - 24 * HOUR_MS)  # fmt: skip
    ink: dict[str, dict[str, float]] = {}
    for label, shown in (("empty", empty), ("full", data)):
        page = tmp_path / f"{label}.html"
        page.write_text(render_html(shown), encoding="utf-8")
        text = page.read_text()
        assert "<script src" not in text and "<link" not in text and "@import" not in text
        chrome.get(page.as_uri())
        assert chrome.execute_script("return performance.getEntriesByType('resource').length") == 0
        sections = chrome.find_elements(By.CSS_SELECTOR, "section.chart")
        assert [s.get_attribute("data-chart") for s in sections] == list(CHARTS)
        ink[label] = {}
        for section in sections:
            key = section.get_attribute("data-chart")
            svg = section.find_element(By.CSS_SELECTOR, "figure svg")
            assert svg.size["width"] > 300 and svg.size["height"] > 100, key
            chrome.execute_script("arguments[0].scrollIntoView()", svg)
            ink[label][key] = _ink(svg.screenshot_as_png)
            if label == "full":
                assert "in this window" not in svg.text, key
                assert not section.find_elements(By.CSS_SELECTOR, "td.none"), f"{key}: no rows"
    for key in CHARTS:
        assert ink["full"][key] > 0.02, key
        if key != "eval-runs":  # runs are not windowed: the same in both pages
            assert ink["full"][key] > 1.5 * ink["empty"][key], (key, ink)
    embedded = chrome.execute_script(
        "return JSON.parse(document.getElementById('llmtrace-report-data').textContent)"
    )
    assert embedded == json.loads(json.dumps(data.to_json()))
    assert embedded["over_time"]["total"]["count"] == 7
    latency_rows = chrome.find_elements(By.CSS_SELECTOR, "#chart-latency tbody tr")
    cells = [r.find_elements(By.TAG_NAME, "td") for r in latency_rows]
    assert [[c.text for c in row[1:]] for row in cells] == [
        ["3", "200 ms", "300 ms", "300 ms"],
        ["2", "400 ms", "500 ms", "500 ms"],
        ["2", "600 ms", "1.0 s", "1.0 s"],
    ]


def _cli(*args: str, prelude: str = "") -> subprocess.CompletedProcess[str]:
    code = f"{prelude}\nfrom llmtrace.cli import main\nmain()"
    return subprocess.run(
        [sys.executable, "-c", code, "report", *args],
        capture_output=True, text=True, env=dict(os.environ), timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_cli_report_writes_the_page_and_says_what_is_missing(
    scored_store: str, tmp_path: Path
) -> None:
    out = tmp_path / "r.html"
    done = _cli("--html", str(out), "--tracking-uri", scored_store, "-e", "agent", "--since",
                SINCE)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.read_text().count("<svg") == len(CHARTS)
    missing = _cli("--html", str(out), "--tracking-uri", scored_store, "-e", "nope")
    assert missing.returncode == 1 and missing.stderr.startswith("error: no experiment 'nope'")
    no_mpl = _cli(
        "--html", str(tmp_path / "x.html"), "--tracking-uri", scored_store, "-e", "agent",
        prelude="import sys; sys.modules['matplotlib'] = None",
    )  # fmt: skip
    assert no_mpl.returncode == 1
    assert no_mpl.stderr == (
        "error: llmtrace report draws its charts with matplotlib, which is not installed: "
        "pip install 'llmtrace[report]'\n"
    )
    assert not (tmp_path / "x.html").exists()
