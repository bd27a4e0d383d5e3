"""What the pytest plugin records in a session, and the one MLflow run it logs at the end.

Only `evals.pytest_plugin` uses this module, and only in a session that uses the plugin: it is
where llmtrace's pipeline is touched and MLflow imported. Nothing here runs an event loop.

Traces are attributed to tests by an OpenTelemetry span processor added to llmtrace's provider:
a root span beginning while a test's setup, call or teardown runs belongs to that test (from
any thread). A new provider (``llmtrace.configure`` in a fixture) gets the processor at the
next phase; a trace begun after a ``configure`` call inside the test body is not attributed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ._assert import Check, failures, parse_gate

logger = logging.getLogger("evals")

#: Characters of a failure message kept in the run's table and on the traces.
_MESSAGE_CHARS = 2000
OUTCOME_FEEDBACK = "pytest/outcome"
PYTEST_TAG = "llmtrace.pytest"


@dataclass
class TestRecord:
    """One test of the session, as the run's ``pytest/tests.json`` lists it."""

    nodeid: str
    explicit: bool = False
    """Uses the fixture, is marked ``llmtrace`` or is ``@llmtrace.trace``-decorated."""
    outcome: str = "not run"
    duration_s: float = 0.0
    message: str | None = None
    trace_ids: list[str] = field(default_factory=list)
    results: list[Any] = field(default_factory=list)
    """`EvaluationResult`s made through the fixture."""

    @property
    def listed(self) -> bool:
        return self.explicit or bool(self.trace_ids) or bool(self.results)


@dataclass(frozen=True)
class WorkerResult:
    """An evaluation run made on a pytest-xdist worker, as the session's run needs it."""

    run_id: str | None
    experiment_id: str | None


def _root_processor(recorder: SessionRecorder) -> Any:
    from opentelemetry.sdk.trace import SpanProcessor

    class RootSpans(SpanProcessor):  # type: ignore[misc]
        """Gives each new trace (root span) to the test running now."""

        def on_start(self, span: Any, parent_context: Any = None) -> None:
            parent = span.parent
            if parent is None or parent.is_remote:
                recorder.root_started(span.get_span_context().trace_id)

    return RootSpans()


class SessionRecorder:
    """Tests, their traces and evaluations in this session; logs the session's run at the end."""

    def __init__(
        self,
        *,
        tracking_uri: str | None,
        experiment: str | None,
        run_name: str | None,
        gates: list[str],
        started: float,
        rootdir: str,
        worker: str | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.run_name = run_name
        self.gates: list[Check] = [parse_gate(spec) for spec in gates]
        self.started = started
        self.rootdir = rootdir
        self.worker = worker
        self.tests: dict[str, TestRecord] = {}
        self.current: TestRecord | None = None
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self.logged_uri: str | None = None
        self.error: str | None = None
        self.unmatched: list[Check] = []
        self._matched: set[Check] = set()
        self._providers: list[Any] = []
        self._processor: Any = None
        self._configured = False
        self._lock = threading.Lock()
        self._active = True
        self._target: tuple[str, str] | None = None  # (uri, experiment id) the workers used

    # -- during the session -----------------------------------------------------------------
    def track(self, nodeid: str, *, explicit: bool) -> None:
        record = self.tests.setdefault(nodeid, TestRecord(nodeid))
        record.explicit = record.explicit or explicit

    def tracks(self, nodeid: str) -> bool:
        return nodeid in self.tests

    def configure(self) -> None:
        """Apply ``--llmtrace-tracking-uri`` / ``--llmtrace-experiment`` once."""
        if self._configured:
            return
        self._configured = True
        if self.tracking_uri is None and self.experiment is None:
            return
        import llmtrace

        options = {"tracking_uri": self.tracking_uri, "experiment": self.experiment}
        llmtrace.configure(**{k: v for k, v in options.items() if v is not None})

    def begin(self, nodeid: str) -> None:
        """A phase of test ``nodeid`` starts: new traces are its traces."""
        self.current = self.tests[nodeid]
        try:
            self.configure()
            self._attach()
        except Exception as exc:  # the test runs anyway; its traces are not attributed
            logger.warning("llmtrace pytest plugin: cannot follow this test's traces: %s", exc)

    def pause(self) -> None:
        self.current = None

    def _attach(self) -> None:
        import llmtrace

        provider = llmtrace.tracer_provider()
        if provider is None or any(p is provider for p in self._providers):
            return
        if self._processor is None:
            self._processor = _root_processor(self)
        provider.add_span_processor(self._processor)
        self._providers.append(provider)

    def root_started(self, otel_trace_id: int) -> None:
        record = self.current
        if record is not None and self._active:
            with self._lock:
                record.trace_ids.append(f"tr-{otel_trace_id:032x}")

    def add_result(self, nodeid: str, result: Any) -> None:
        self.tests[nodeid].results.append(result)

    def check_gates(self, nodeid: str) -> None:
        """Raise `AssertionError` when an evaluation of this test misses a command-line gate."""
        failed: list[str] = []
        for result in self.tests[nodeid].results:
            checks = [g for g in self.gates if g.metric in result.aggregates]
            self._matched.update(checks)
            failed += failures(result, checks)
        if failed:
            raise AssertionError(
                f"--llmtrace-fail-under: {len(failed)} gate(s) missed:\n" + "\n".join(failed)
            )

    def report(self, nodeid: str, report: Any) -> None:
        record = self.tests[nodeid]
        record.duration_s += float(getattr(report, "duration", 0.0) or 0.0)
        if report.failed:
            if record.outcome != "failed":
                record.message = (report.longreprtext or "")[-_MESSAGE_CHARS:]
            record.outcome = "failed" if report.when == "call" else "error"
        elif report.skipped and record.outcome in ("not run", "passed"):
            record.outcome = "skipped"
        elif report.when == "call" and report.passed and record.outcome == "not run":
            record.outcome = "passed"

    # -- pytest-xdist: the workers hand their tests to the controller, which logs one run -----
    def handoff(self) -> dict[str, Any]:
        """On a worker, at its end: its tests, traces (flushed: stored) and matched gates, as
        plain data for ``config.workeroutput`` (the controller `merge`s it)."""
        import llmtrace

        self._active = False
        self.current = None
        self.configure()
        llmtrace.flush()
        tests = []
        for t in self.tests.values():
            if t.listed:
                results = [[r.run_id, r.experiment_id] for r in t.results]
                tests.append({**vars(t), "results": results})
        return {
            "uri": llmtrace.current_config().tracking_uri,
            "experiment_id": llmtrace.experiment_id(self.experiment) if tests else None,
            "tests": tests,
            "matched": [[g.metric, g.stat, g.minimum] for g in self._matched],
        }

    def merge(self, data: dict[str, Any]) -> None:
        """On the controller: add what a worker handed off (see `handoff`)."""
        if data.get("error"):
            self.error = f"a pytest-xdist worker could not hand over its tests: {data['error']}"
        for fields in data.get("tests", []):
            results = [WorkerResult(*r) for r in fields.pop("results", [])]
            known = self.tests.get(fields["nodeid"])
            if known is not None and fields["outcome"] == "not run":
                continue  # every worker collects every test; the one that ran it tells
            self.tests[fields["nodeid"]] = TestRecord(**fields, results=results)
            if self._target is None and data.get("experiment_id") is not None:
                self._target = (str(data["uri"]), str(data["experiment_id"]))
        self._matched.update(Check(*g) for g in data.get("matched", []))

    # -- at the end ---------------------------------------------------------------------------
    def finish(self) -> str | None:
        """Log the run (if a test was recorded); return a problem that fails the session."""
        self._active = False
        self.current = None
        problem = None
        if self.worker is None:  # the controller of xdist workers has merged all of them
            self.unmatched = [g for g in self.gates if g not in self._matched]
        if self.unmatched:
            problem = "gate(s) that checked nothing"
        listed = [t for t in self.tests.values() if t.listed]
        if not listed:
            return problem
        try:
            self._log(listed)
        except Exception as exc:  # the tests ran: say what could not be logged
            self.error = f"{type(exc).__name__}: {exc}"
            logger.warning("llmtrace pytest plugin could not log the session's run: %s", exc)
        return problem

    def _log(self, listed: list[TestRecord]) -> None:
        import pandas as pd
        from mlflow import MlflowClient
        from mlflow.entities import Metric, Param

        import llmtrace
        from llmtrace.semconv import LLMTRACE_EVALUATION

        if self._target is not None:  # the controller of xdist workers: their store
            uri, experiment_id = self._target
        else:
            self.configure()
            llmtrace.flush()
            uri = llmtrace.current_config().tracking_uri
            experiment_id = llmtrace.experiment_id(self.experiment)
        self.logged_uri = uri
        client = MlflowClient(tracking_uri=uri)
        tags = {LLMTRACE_EVALUATION: "true", PYTEST_TAG: "true"}
        folder = self.rootdir.rstrip("/").rsplit("/", 1)[-1]
        run = client.create_run(
            experiment_id,
            start_time=int(self.started * 1000),
            run_name=self.run_name or f"pytest {folder}",
            tags=tags,
        )
        run_id = str(run.info.run_id)
        self.run_id, self.experiment_id = run_id, experiment_id
        counts = {o: sum(t.outcome == o for t in listed) for o in ("passed", "failed", "error")}
        counts["skipped"] = sum(t.outcome == "skipped" for t in listed)
        traces = list(dict.fromkeys(tid for t in listed for tid in t.trace_ids))
        evaluations = [r for t in listed for r in t.results]
        now = int(time.time() * 1000)
        values = {
            "pytest/tests": len(listed),
            "pytest/traces": len(traces),
            "pytest/evaluations": len(evaluations),
        }
        values.update({f"pytest/{k}": v for k, v in counts.items()})
        params = {
            "pytest.rootdir": self.rootdir[:500],
            "pytest.fail_under": ",".join(map(str, self.gates))[:500] or "None",
        }
        client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in values.items()],
            params=[Param(k, v) for k, v in params.items()],
        )
        table = pd.DataFrame(
            [
                {
                    "test": t.nodeid,
                    "outcome": t.outcome,
                    "duration_s": round(t.duration_s, 6),
                    "trace_ids": json.dumps(t.trace_ids),
                    "evaluation_runs": json.dumps([r.run_id for r in t.results if r.run_id]),
                    "message": t.message,
                }
                for t in listed
            ]
        )
        client.log_table(run_id, data=table, artifact_file="pytest/tests.json")
        for result in evaluations:  # the fixture's evaluations nest under the session's run
            if result.run_id and result.experiment_id == experiment_id:
                client.set_tag(result.run_id, "mlflow.parentRunId", run_id)
        missing = self._link_and_mark(client, uri, run_id, listed)
        if missing:
            self.error = f"{missing} trace(s) not found in {uri}: not linked to the run"
        client.set_terminated(
            run_id, "FINISHED" if not counts["failed"] and not counts["error"] else "FAILED"
        )

    def _link_and_mark(self, client: Any, uri: str, run_id: str, listed: list[TestRecord]) -> int:
        """Link every recorded trace to the run and give it the test's outcome as feedback."""
        from mlflow.entities import AssessmentSource, AssessmentSourceType, Feedback
        from mlflow.tracing.client import TracingClient
        from mlflow.tracing.constant import AssessmentMetadataKey

        tracing = TracingClient(uri)
        owner = {tid: t for t in listed for tid in t.trace_ids}
        found: list[str] = []
        ids = list(owner)
        for i in range(0, len(ids), 100):
            chunk = ids[i : i + 100]
            try:
                client.link_traces_to_run(chunk, run_id)
                found += chunk
            except Exception:  # one unknown id fails the call: one at a time then
                for trace_id in chunk:
                    try:
                        client.link_traces_to_run([trace_id], run_id)
                        found.append(trace_id)
                    except Exception as exc:
                        logger.debug("cannot link trace %s: %s", trace_id, exc)
        source = AssessmentSource(source_type=AssessmentSourceType.CODE, source_id="pytest")
        for trace_id in found:
            test = owner[trace_id]
            tracing.log_assessment(
                trace_id,
                Feedback(
                    name=OUTCOME_FEEDBACK,
                    value=test.outcome,
                    rationale=test.message[-500:] if test.message else None,
                    source=source,
                    metadata={
                        "pytest.nodeid": test.nodeid,
                        AssessmentMetadataKey.SOURCE_RUN_ID: run_id,
                    },
                ),
            )
        return len(ids) - len(found)

    def summary_lines(self) -> list[str]:
        lines = []
        listed = [t for t in self.tests.values() if t.listed]
        if self.run_id:
            traces = sum(len(t.trace_ids) for t in listed)
            lines.append(
                f"llmtrace: {len(listed)} tests, {traces} traces -> run {self.run_id} "
                f"(experiment {self.experiment_id}) in {self.logged_uri}"
            )
        if self.error:
            lines.append(f"llmtrace: warning: {self.error}")
        for gate in self.unmatched:
            lines.append(
                f"llmtrace: --llmtrace-fail-under {gate.metric}: no evaluation made through the "
                f"llmtrace_eval fixture scored {gate.metric!r} (a gate that checks nothing fails)"
            )
        return lines


class EvalFixture:
    """The ``llmtrace_eval`` fixture: evaluate inside a test, assert on the scores.

    Example:
        >>> def test_rag(llmtrace_eval):
        ...     result = llmtrace_eval.evaluate(rows, [metrics.token_f1()], predict=app)
        ...     llmtrace_eval.assert_scores(result, token_f1=0.8)
        ...     assert llmtrace_eval.trace_ids   # the traces this test made
    """

    def __init__(self, recorder: SessionRecorder, nodeid: str) -> None:
        self._recorder = recorder
        self._nodeid = nodeid

    def evaluate(self, data: Any, metrics: Any, **options: Any) -> Any:
        """`evals.evaluate` (same arguments), recorded in the session's run.

        ``experiment`` defaults to ``--llmtrace-experiment``. The command-line gates are
        checked on the result when the test ends.
        """
        from ._evaluate import evaluate

        self._recorder.configure()
        if self._recorder.experiment is not None:
            options.setdefault("experiment", self._recorder.experiment)
        result = evaluate(data, metrics, **options)
        self._recorder.add_result(self._nodeid, result)
        return result

    def assert_scores(self, result: Any, checks: Any = None, /, **thresholds: Any) -> None:
        """`evals.assert_scores`."""
        from ._assert import assert_scores

        assert_scores(result, checks, **thresholds)

    @property
    def trace_ids(self) -> list[str]:
        """The traces this test began so far (``tr-...``)."""
        return list(self._recorder.tests[self._nodeid].trace_ids)

    @property
    def results(self) -> list[Any]:
        """The evaluations made through the fixture in this test."""
        return list(self._recorder.tests[self._nodeid].results)
