"""The llmtrace pytest plugin, run on small sample projects through ``pytester``.

Each project runs in a pytest subprocess (a fresh interpreter with its own llmtrace pipeline,
as for a user; in-process runs would re-import SQLAlchemy halfway, as pytester restores
``sys.modules``), on a SQLite store copied from one made once (saves the schema migrations), with
the plugin loaded by ``-p evals.pytest_plugin`` until the installed distribution carries the
``pytest11`` entry point (then it loads by itself). The run is read back with MLflow's client.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
from pathlib import Path

import pytest
from mlflow import MlflowClient

from evals.pytest_plugin import FIXTURE

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
ON_CI = os.environ.get("LLMTRACE_CI") == "1"


def _entry_point_installed() -> bool:
    return any(
        ep.value == "evals.pytest_plugin"
        for ep in importlib.metadata.entry_points(group="pytest11")
    )


#: Loading it twice (entry point and -p) would be an error: -p only while it is not installed.
PLUGIN = [] if _entry_point_installed() else ["-p", "evals.pytest_plugin"]

APP = """
import asyncio

import llmtrace

ANSWERS = {"Capital of France?": "Paris", "Capital of Italy?": "Rome city"}


@llmtrace.trace
def answer(question: str) -> str:
    return ANSWERS.get(question, "I do not know")


@llmtrace.trace
async def answer_async(question: str) -> str:
    await asyncio.sleep(0)
    return ANSWERS.get(question, "I do not know")
"""

ROWS = """
ROWS = [
    {"question": "Capital of France?", "expected": "Paris"},
    {"question": "Capital of Italy?", "expected": "Rome"},
]
"""

# token F1: France 1.0, Italy "Rome city" vs "Rome" = 2/3; mean 0.833
PASSING = (
    """
import llmtrace
from evals import metrics

from app import answer
"""
    + ROWS
    + """

def test_answers(llmtrace_eval):
    result = llmtrace_eval.evaluate(ROWS, [metrics.token_f1()], predict=answer, run_name="qa")
    llmtrace_eval.assert_scores(result, token_f1=0.8)
    assert len(llmtrace_eval.trace_ids) == 2


@llmtrace.trace
def test_traced_directly():
    assert answer("Capital of France?") == "Paris"


def test_not_traced():
    assert 1 + 1 == 2
"""
)

FAILING = (
    """
from evals import metrics

from app import answer
"""
    + ROWS
    + """
ROWS.append({"question": "Capital of Spain?", "expected": "Madrid"})


def test_answers(llmtrace_eval):
    result = llmtrace_eval.evaluate(ROWS, [metrics.token_f1()], predict=answer)
    llmtrace_eval.assert_scores(result, token_f1=0.8)
"""
)

ASYNC = """
import asyncio

import pytest
from evals import metrics

from app import answer_async


@pytest.mark.asyncio
async def test_async_app_in_the_running_loop(llmtrace_eval):
    loop = asyncio.get_running_loop()
    reply = await answer_async("Capital of France?")
    rows = [{"question": "Capital of France?", "answer": reply, "expected": "Paris"}]
    result = llmtrace_eval.evaluate(rows, [metrics.exact_match()])
    llmtrace_eval.assert_scores(result, exact_match=1.0)
    assert asyncio.get_running_loop() is loop
    assert len(llmtrace_eval.trace_ids) == 1


def test_sync_test_running_its_own_loop(llmtrace_eval):
    async def main():
        reply = await answer_async("Capital of Italy?")
        rows = [{"question": "Capital of Italy?", "answer": reply, "expected": "Rome"}]
        return llmtrace_eval.evaluate(rows, [metrics.token_f1()])  # a plain call in the loop

    result = asyncio.run(main())
    llmtrace_eval.assert_scores(result, token_f1=("min", 0.6))
"""


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow SQLite store with its schema made (copied for each project)."""
    path = tmp_path_factory.mktemp("template") / "store.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


def _project(pytester: pytest.Pytester, template: Path, **tests: str) -> str:
    """Write the sample project and its store; return the store's URI."""
    pytester.makepyfile(app=APP, **tests)
    shutil.copyfile(template, pytester.path / "store.db")
    return f"sqlite:///{pytester.path / 'store.db'}"


def _run(pytester: pytest.Pytester, uri: str, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        *PLUGIN,
        "-p",
        "no:cacheprovider",
        "--llmtrace-tracking-uri",
        uri,
        "--llmtrace-experiment",
        "sample",
        *args,
    )


def _session_run(uri: str) -> tuple[MlflowClient, object, list[dict[str, object]]]:
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("sample")
    runs = client.search_runs(
        [experiment.experiment_id], filter_string="tags.`llmtrace.pytest` = 'true'"
    )
    assert len(runs) == 1, "one run per pytest session"
    run = runs[0]
    folder = client.download_artifacts(run.info.run_id, "pytest/tests.json")
    table = json.loads(Path(folder).read_text())
    tests = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
    return client, run, tests


@pytest.mark.slow
def test_a_passing_project_with_async_tests_logs_one_run_linking_every_traced_test(
    pytester: pytest.Pytester, empty_store: Path
) -> None:
    uri = _project(pytester, empty_store, test_qa=PASSING, test_async=ASYNC)
    result = _run(pytester, uri)
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["llmtrace: 4 tests, 5 traces -> run * in sqlite:///*store.db"])

    client, run, tests = _session_run(uri)
    by_test = {t["test"].split("::")[-1]: t for t in tests}
    assert set(by_test) == {  # not the untraced one
        "test_answers",
        "test_traced_directly",
        "test_async_app_in_the_running_loop",
        "test_sync_test_running_its_own_loop",
    }
    assert {t["outcome"] for t in tests} == {"passed"}
    assert len(json.loads(by_test["test_async_app_in_the_running_loop"]["trace_ids"])) == 1
    assert run.info.status == "FINISHED"
    assert run.data.metrics["pytest/tests"] == 4
    assert run.data.metrics["pytest/passed"] == 4
    assert run.data.metrics["pytest/traces"] == 5

    recorded = [tid for t in tests for tid in json.loads(t["trace_ids"])]
    linked = client.search_traces(
        experiment_ids=[run.info.experiment_id], run_id=run.info.run_id, max_results=50
    )
    assert sorted(t.info.trace_id for t in linked) == sorted(recorded)
    for trace in linked:
        outcome = [a for a in trace.info.assessments if a.name == "pytest/outcome"]
        assert [a.value for a in outcome] == ["passed"]
        assert outcome[0].source.source_type == "CODE"
    (evaluation,) = json.loads(by_test["test_answers"]["evaluation_runs"])
    child = client.get_run(evaluation)
    assert child.data.tags["mlflow.parentRunId"] == run.info.run_id
    assert child.data.metrics["token_f1/mean"] == pytest.approx((1 + 2 / 3) / 2)


@pytest.mark.slow
def test_a_missed_threshold_fails_the_test_listing_the_rows(
    pytester: pytest.Pytester, empty_store: Path
) -> None:
    uri = _project(pytester, empty_store, test_qa=FAILING)
    result = _run(pytester, uri)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: 1 of 1 score checks failed on 3 rows (run *):",
            "*token_f1: mean 0.5556, needs >= 0.8",
            "*rows below 0.8 or not scored (2), lowest first:",
            "*row 2  0  question='Capital of Spain?'  answer='I do not know'",
            "*row 1  0.667  question='Capital of Italy?'  answer='Rome city'",
        ]
    )
    _, run, tests = _session_run(uri)
    assert [t["outcome"] for t in tests] == ["failed"]
    assert "token_f1: mean 0.5556" in str(tests[0]["message"])
    assert run.info.status == "FAILED" and run.data.metrics["pytest/failed"] == 1


@pytest.mark.slow
def test_thresholds_from_the_command_line(pytester: pytest.Pytester, empty_store: Path) -> None:
    uri = _project(pytester, empty_store, test_qa=PASSING)
    result = _run(pytester, uri, "--llmtrace-fail-under", "token_f1=0.9")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*--llmtrace-fail-under: 1 gate(s) missed:",
            "*token_f1: mean 0.8333, needs >= 0.9",
            "*row 1  0.667  question='Capital of Italy?'*",
        ]
    )
    # a gate met passes the test; a gate that checked nothing fails the session, not silently
    gates = ["--llmtrace-fail-under", "token_f1/min=0.6", "--llmtrace-fail-under", "rougeL=0.5"]
    met = _run(pytester, uri, *gates, "-k", "answers")
    met.assert_outcomes(passed=1, deselected=2)
    assert met.ret == pytest.ExitCode.TESTS_FAILED
    met.stdout.fnmatch_lines(["*--llmtrace-fail-under rougeL: no evaluation*"])
    assert "token_f1: no evaluation" not in met.stdout.str()

    bad = _run(pytester, uri, "--llmtrace-fail-under", "token_f1>0.9")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--llmtrace-fail-under 'token_f1>0.9': write METRIC=MIN*"])


@pytest.mark.slow
def test_under_xdist_the_workers_tests_land_in_one_run(
    pytester: pytest.Pytester, empty_store: Path
) -> None:
    uri = _project(pytester, empty_store, test_qa=PASSING, test_async=ASYNC)
    gates = ["--llmtrace-fail-under", "token_f1/min=0.6", "--llmtrace-fail-under", "rougeL=0.5"]
    result = _run(pytester, uri, "-n", "2", "-p", "xdist", *gates)
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["llmtrace: 4 tests, 5 traces -> run * in sqlite:///*store.db"])
    # the gate met on one worker is matched; the one no worker's evaluation scored fails
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*--llmtrace-fail-under rougeL: no evaluation*"])
    assert "token_f1: no evaluation" not in result.stdout.str()

    client, run, tests = _session_run(uri)  # asserts a single session run
    assert len(tests) == 4 and {t["outcome"] for t in tests} == {"passed"}
    assert run.data.metrics["pytest/traces"] == 5
    recorded = [tid for t in tests for tid in json.loads(t["trace_ids"])]
    linked = client.search_traces(
        experiment_ids=[run.info.experiment_id], run_id=run.info.run_id, max_results=50
    )
    assert sorted(t.info.trace_id for t in linked) == sorted(recorded)
    (evaluation,) = json.loads(
        next(t for t in tests if "test_answers" in t["test"])["evaluation_runs"]
    )
    assert client.get_run(evaluation).data.tags["mlflow.parentRunId"] == run.info.run_id


def test_a_session_that_does_not_use_it_imports_nothing_and_stores_nothing(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
import sys

def pytest_unconfigure(config):
    heavy = sorted(m for m in ("mlflow", "pandas", "sklearn", "krippendorff")
                   if m in sys.modules)
    (config.rootpath / "imported.txt").write_text(",".join(heavy))
"""
    )
    pytester.makepyfile(
        test_plain="""
def test_plain():
    assert True

async def helper():
    return 1
"""
    )
    result = pytester.runpytest_subprocess(*PLUGIN, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert (pytester.path / "imported.txt").read_text() == ""
    stores = [p.name for p in pytester.path.rglob("*") if p.suffix == ".db" or p.name == "mlruns"]
    assert stores == []
    assert "llmtrace:" not in result.stdout.str()


def test_the_fixture_and_options_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(*PLUGIN, "--help")
    result.stdout.fnmatch_lines(["*--llmtrace-tracking-uri=URI*", "*--llmtrace-fail-under=METRIC*"])
    fixtures = pytester.runpytest_subprocess(*PLUGIN, "--fixtures")
    fixtures.stdout.fnmatch_lines([f"{FIXTURE}*"])


def test_the_installed_distribution_names_the_plugin() -> None:
    """The ``pytest11`` entry point of the installed llmtrace (the lead reinstalls on merge)."""
    # the installed distribution (pip's direct_url.json), not the source tree's llmtrace.egg-info
    # that an editable install leaves beside pyproject.toml (first on sys.path under pytest)
    installed = [
        d
        for d in importlib.metadata.distributions(name="llmtrace")
        if d.read_text("direct_url.json")
    ]
    dist = installed[0] if installed else importlib.metadata.distribution("llmtrace")
    source = json.loads(dist.read_text("direct_url.json") or "{}").get("url", "")
    if source != ROOT.as_uri() and not ON_CI:
        pytest.skip(f"llmtrace is installed from {source}, not this checkout: reinstall it here")
    names = {ep.name: ep.value for ep in dist.entry_points if ep.group == "pytest11"}
    assert names == {"llmtrace": "evals.pytest_plugin"}
    assert PLUGIN == []  # so the sample projects load it through the entry point
