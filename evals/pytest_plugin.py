"""The llmtrace pytest plugin: evals in tests, one MLflow evaluation run per test session.

Installed with llmtrace (entry point ``pytest11``: ``llmtrace``), so it loads in every pytest
session — and does nothing, imports nothing heavy and creates no store unless the session uses
it: a test requests the ``llmtrace_eval`` fixture, is marked ``@pytest.mark.llmtrace`` or is
decorated with ``@llmtrace.trace``, or an ``--llmtrace*`` option is given.

Then every test during which a trace begins (a ``@llmtrace.trace`` test, the traced app it
calls, ``llmtrace_eval.evaluate(...)``) is recorded, and at the end of the session one MLflow
run (tag ``llmtrace.pytest``) holds: the per-test table ``pytest/tests.json`` (node id,
outcome, duration, trace ids, evaluation runs, failure message), the counts as metrics, links
to every recorded trace (its Traces tab) and, on each trace, feedback ``pytest/passed`` with the
test's outcome. Evaluations made through the fixture are nested under it.

Options:
    --llmtrace                      record every test that makes traces
    --llmtrace-tracking-uri URI     the store (default: llmtrace's configured one)
    --llmtrace-experiment NAME      the experiment of the run
    --llmtrace-run-name NAME        the run's name (default: ``pytest <folder>``)
    --llmtrace-fail-under M[/S]=MIN every evaluation made through the fixture that scored M
                                    must meet it (S: mean, p50, pass_rate, min); repeatable

The plugin never touches the event loop: it works under pytest-asyncio and inside a running
loop (the fixture's ``evaluate`` is a plain call; nothing here runs ``asyncio.run``). Under
pytest-xdist the workers hand what they recorded to the controller, which logs the one run.

Example:
    >>> def test_answers(llmtrace_eval):
    ...     result = llmtrace_eval.evaluate("qa.jsonl", [metrics.token_f1()], predict=my_app)
    ...     llmtrace_eval.assert_scores(result, token_f1=0.8)
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._pytest_session import EvalFixture, SessionRecorder

FIXTURE = "llmtrace_eval"
_RECORDER = pytest.StashKey["SessionRecorder | None"]()
_START = pytest.StashKey[float]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llmtrace", "llmtrace: evals in tests, one MLflow run per session")
    group.addoption(
        "--llmtrace",
        action="store_true",
        default=False,
        help="record every test that makes traces in one MLflow evaluation run",
    )
    group.addoption(
        "--llmtrace-tracking-uri",
        default=None,
        metavar="URI",
        help="store of the run and traces (default: llmtrace's configured one)",
    )
    group.addoption(
        "--llmtrace-experiment",
        default=None,
        metavar="NAME",
        help="experiment of the session's run",
    )
    group.addoption(
        "--llmtrace-run-name",
        default=None,
        metavar="NAME",
        help="name of the session's run (default: pytest <folder>)",
    )
    group.addoption(
        "--llmtrace-fail-under",
        action="append",
        default=[],
        metavar="METRIC[/STAT]=MIN",
        help="fail a test whose evaluation misses it (STAT: mean, p50, pass_rate, min)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "llmtrace: record this test in the session's llmtrace evaluation run"
    )
    config.stash[_START] = time.time()
    config.stash[_RECORDER] = None
    if config.getoption("--llmtrace-fail-under"):
        from ._assert import parse_gate

        for spec in config.getoption("--llmtrace-fail-under"):
            try:
                parse_gate(spec)
            except ValueError as exc:
                raise pytest.UsageError(f"--llmtrace-fail-under {exc}") from None


def _options_given(config: pytest.Config) -> bool:
    return bool(
        config.getoption("--llmtrace")
        or config.getoption("--llmtrace-tracking-uri")
        or config.getoption("--llmtrace-experiment")
        or config.getoption("--llmtrace-run-name")
        or config.getoption("--llmtrace-fail-under")
    )


def _traced_by_llmtrace(function: Any) -> bool:
    """True for a test function wrapped by ``@llmtrace.trace`` (without importing llmtrace)."""
    import sys

    llmtrace = sys.modules.get("llmtrace")
    wrapped = getattr(function, "__wrapped__", None)
    if llmtrace is None or wrapped is None:
        return False
    code = getattr(function, "__code__", None)
    decorator = getattr(getattr(llmtrace, "trace", None), "__code__", None)
    return code is not None and decorator is not None and code.co_filename == decorator.co_filename


def _declared(item: pytest.Item) -> bool:
    return (
        FIXTURE in getattr(item, "fixturenames", ())
        or item.get_closest_marker("llmtrace") is not None
        or _traced_by_llmtrace(getattr(item, "obj", None))
    )


def recorder(config: pytest.Config) -> SessionRecorder:
    """The session's recorder, made on first use (this is where MLflow work may begin)."""
    current = config.stash.get(_RECORDER, None)
    if current is None:
        from ._pytest_session import SessionRecorder

        current = SessionRecorder(
            tracking_uri=config.getoption("--llmtrace-tracking-uri"),
            experiment=config.getoption("--llmtrace-experiment"),
            run_name=config.getoption("--llmtrace-run-name"),
            gates=list(config.getoption("--llmtrace-fail-under")),
            started=config.stash[_START],
            rootdir=str(config.rootpath),
            worker=getattr(config, "workerinput", {}).get("workerid"),
        )
        config.stash[_RECORDER] = current
    return current


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    everything = _options_given(config)
    chosen = [(item, _declared(item)) for item in items]
    if everything or any(declared for _, declared in chosen):
        rec = recorder(config)
        for item, declared in chosen:
            if everything or declared:
                rec.track(item.nodeid, explicit=declared)


def _recording(item: pytest.Item) -> SessionRecorder | None:
    rec = item.config.stash.get(_RECORDER, None)
    return rec if rec is not None and rec.tracks(item.nodeid) else None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    rec = _recording(item)
    if rec is None:
        return (yield)
    rec.begin(item.nodeid)
    try:
        return (yield)
    finally:
        rec.pause()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    rec = _recording(item)
    if rec is None:
        return (yield)
    rec.begin(item.nodeid)  # again: a fixture may have configured llmtrace anew
    try:
        outcome = yield
    finally:
        rec.pause()
    rec.check_gates(item.nodeid)  # raises AssertionError: the test fails, listing the rows
    return outcome


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    rec = _recording(item)
    if rec is None:
        return (yield)
    rec.begin(item.nodeid)
    try:
        return (yield)
    finally:
        rec.pause()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    rec = item.config.stash.get(_RECORDER, None)
    if rec is not None and rec.tracks(item.nodeid):
        rec.report(item.nodeid, report)
    return report


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object | None) -> None:
    """pytest-xdist, on the controller: a worker is done; take the tests it recorded."""
    data = getattr(node, "workeroutput", {}).get("llmtrace")
    if data:
        recorder(node.config).merge(data)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    rec = session.config.stash.get(_RECORDER, None)
    if rec is None:
        return
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller logs the one run
        try:
            workeroutput["llmtrace"] = rec.handoff()
        except Exception as exc:  # the tests ran: the controller says what went wrong
            workeroutput["llmtrace"] = {"error": f"{type(exc).__name__}: {exc}"}
        return
    problem = rec.finish()
    if problem and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    rec = config.stash.get(_RECORDER, None)
    if rec is None:
        return
    for line in rec.summary_lines():
        terminalreporter.write_line(line)


@pytest.fixture
def llmtrace_eval(request: pytest.FixtureRequest) -> EvalFixture:
    """Evaluate in a test: ``llmtrace_eval.evaluate(...)``, ``llmtrace_eval.assert_scores(...)``.

    Evaluations made with it are recorded in the session's run (nested under it), their
    traces linked, and the ``--llmtrace-fail-under`` gates checked when the test ends.

    Example:
        >>> def test_rag(llmtrace_eval):
        ...     result = llmtrace_eval.evaluate(rows, [metrics.token_f1()])
        ...     llmtrace_eval.assert_scores(result, token_f1=0.8)
    """
    from ._pytest_session import EvalFixture

    rec = recorder(request.config)
    rec.track(request.node.nodeid, explicit=True)
    return EvalFixture(rec, request.node.nodeid)
