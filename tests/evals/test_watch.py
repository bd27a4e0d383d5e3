"""`evals.watch` / `llmtrace eval watch`: exactly the new traces, once, across restarts and SIGTERM.

Traces are hand-made agent traces (tests/views/monitor_store.py) stored in a real SQLite store;
"old" ones start before the watcher first started, "new" ones after (several with one and the
same start millisecond). Scores are read back as feedback through MLflow's own client.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
from mlflow import MlflowClient

import evals
from evals import metrics
from llmtrace.semconv import LLMTRACE_WATCH
from tests.evals.judge_api import api, completion, make_judge, spans  # noqa: F401 - fixtures
from tests.views.monitor_store import T0_MS, Call, trace_id, write

WORDS = metrics.answer_length("words")  # result name "answer_words"


def _write(uri: str, numbers: list[int], start_ms: list[int]) -> None:
    for n, start in zip(numbers, start_ms, strict=True):
        write(uri, "app", [Call(start - T0_MS, 50, tokens=10, cost=0.001)], first=n)


def _feedback(uri: str, watcher: str) -> Counter[tuple[str, str]]:
    """(trace id, score name) → how many feedbacks this watcher wrote, read through MLflow."""
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("app").experiment_id
    found: Counter[tuple[str, str]] = Counter()
    for trace in client.search_traces(locations=[exp], max_results=1000):
        for a in trace.info.assessments:
            if (a.metadata or {}).get(LLMTRACE_WATCH) == watcher:
                found[(trace.info.trace_id, a.name)] += 1
    return found


def _now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with the experiment "app" and three old traces (made once: MLflow's schema
    setup takes seconds here), copied for each test."""
    path = tmp_path_factory.mktemp("watch") / "mlflow.db"
    old = _now_ms() - 3_600_000
    _write(f"sqlite:///{path}", [1, 2, 3], [old, old + 1, old + 2])
    return path


@pytest.fixture
def store(_template: Path, tmp_path: Path) -> str:
    """A fresh copy of the template: three traces that started before any watcher."""
    path = tmp_path / "mlflow.db"
    shutil.copyfile(_template, path)
    return f"sqlite:///{path}"


def _watch(uri: str, **options: object) -> evals.WatchResult:
    return evals.watch(
        [WORDS, metrics.tokens], experiment="app", tracking_uri=uri, poll_s=0.05, **options
    )


def test_restart_scores_exactly_the_new_traces_once(store: str) -> None:
    first = _watch(store, name="w", until=0.3)  # starts the watcher: its origin is now
    assert (first.traces_scored, first.stopped) == (0, "until")
    time.sleep(0.01)
    same = _now_ms() + 5
    _write(store, [4, 5, 6, 7, 8], [same, same, same, same + 1, same + 2])
    time.sleep(0.01)
    second = _watch(store, name="w", max_traces=2)
    assert (second.traces_scored, second.scores_written, second.stopped) == (2, 4, "max_traces")
    after_two = _feedback(store, "w")
    assert len({t for t, _ in after_two}) == 2
    third = _watch(store, name="w", max_traces=3, until=60)  # the restart
    assert (third.traces_scored, third.stopped) == (3, "max_traces")
    found = _feedback(store, "w")
    new = {trace_id(n) for n in range(4, 9)}
    assert found == Counter({(t, m): 1 for t in new for m in ("answer_words", "total_tokens")})
    again = _watch(store, name="w", until=0.5)
    assert again.traces_scored == 0 and _feedback(store, "w") == found


def test_scores_are_feedback_mlflow_reads_back(store: str) -> None:
    _watch(store, name="fb", until=0.1)
    _write(store, [9], [_now_ms() + 5])
    time.sleep(0.01)
    result = _watch(store, name="fb", max_traces=1)
    assert result.traces_scored == 1
    trace = MlflowClient(store).get_trace(trace_id(9))
    by_name = {a.name: a for a in trace.info.assessments}
    assert by_name["answer_words"].feedback.value == 2  # "answer 9"
    assert by_name["total_tokens"].feedback.value == 10
    assert by_name["total_tokens"].source.source_type == "CODE"
    assert by_name["total_tokens"].metadata[LLMTRACE_WATCH] == "fb"


def test_sample_is_decided_by_the_trace_id(store: str) -> None:
    _watch(store, name="s", until=0.1)
    start = _now_ms() + 5
    _write(store, list(range(10, 30)), [start + i for i in range(20)])
    time.sleep(0.01)
    wanted = {trace_id(n) for n in range(10, 30) if evals._watch.sampled(trace_id(n), 0.5)}
    assert 0 < len(wanted) < 20
    first = _watch(store, name="s", sample=0.5, max_traces=len(wanted), until=60)
    again = _watch(store, name="s", sample=0.5, until=0.5)
    assert {t for t, _ in _feedback(store, "s")} == wanted
    assert (first.traces_scored, first.sampled_out) == (len(wanted), 20 - len(wanted))
    assert again.traces_scored == 0


def test_bad_arguments_are_one_line_errors(store: str) -> None:
    with pytest.raises(ValueError, match="sample must be"):
        _watch(store, sample=0)
    with pytest.raises(ValueError, match="no experiment 'nope'"):
        evals.watch([WORDS], experiment="nope", tracking_uri=store)
    with pytest.raises(ValueError, match="until 'soon'"):
        _watch(store, until="soon")


_SLOW_WATCHER = textwrap.dedent(
    """
    import json, sys, time
    import evals
    from evals import metrics

    @evals.metric(name="slow_words")
    def slow_words(answer):
        time.sleep(0.25)
        return float(len(str(answer).split()))

    result = evals.watch([slow_words, metrics.tokens], experiment="app",
                         tracking_uri=sys.argv[1], poll_s=0.05, name="sig")
    print(json.dumps({"scored": result.traces_scored, "stopped": result.stopped}))
    """
)


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_a_restart_finishes_without_rescoring(store: str) -> None:
    _watch(store, name="sig", until=0.1)  # the watcher's origin
    same = _now_ms() + 5
    numbers = list(range(40, 48))
    _write(store, numbers, [same] * 4 + [same + i for i in range(1, 5)])
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_WATCHER, store],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        deadline = time.time() + 60
        while time.time() < deadline and len(_feedback(store, "sig")) < 3:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    stopped = json.loads(out.strip().splitlines()[-1])
    assert stopped["stopped"] == "signal" and 1 <= stopped["scored"] < len(numbers)
    done = _feedback(store, "sig")
    # the trace being scored when SIGTERM came was finished: every scored trace has both scores
    assert Counter(t for t, _ in done) == Counter({t: 2 for t, _ in done})
    same_metrics = [metrics.tokens, evals.metric(name="slow_words")(lambda answer: 1.0)]
    restart = evals.watch(
        same_metrics,
        experiment="app", tracking_uri=store, poll_s=0.05, name="sig", until=60,
        max_traces=len(numbers) - stopped["scored"],
    )  # fmt: skip
    assert restart.stopped == "max_traces"
    again = evals.watch(same_metrics, experiment="app", tracking_uri=store, name="sig", until=0.5)
    assert again.traces_scored == 0
    final = _feedback(store, "sig")
    wanted = {trace_id(n) for n in numbers}
    assert final == Counter({(t, m): 1 for t in wanted for m in ("slow_words", "total_tokens")})


@pytest.mark.slow
def test_cli_watch_max_traces(store: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    args = [sys.executable, "-m", "llmtrace", "eval", "watch", "traces:app", "-m", "tokens",
            "--tracking-uri", store, "--name", "cli", "--poll", "0.05"]  # fmt: skip
    first = subprocess.run([*args, "--until", "1s"], capture_output=True, text=True, env=env,
                           timeout=120, check=False)  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "scored 0 traces" in first.stdout and "stopped: until" in first.stdout
    start = _now_ms() + 5
    _write(store, [50, 51, 52], [start, start, start + 1])
    time.sleep(0.01)
    second = subprocess.run([*args, "--max-traces", "2"], capture_output=True, text=True,
                            env=env, timeout=120, check=False)  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert "scored 2 traces (2 scores, 0 errors, 0 sampled out); stopped: max_traces" in (
        second.stdout
    )
    bad = subprocess.run([*args, "-m", "nope"], capture_output=True, text=True, env=env,
                         timeout=120, check=False)  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown metric 'nope'")


def test_judge_metric_with_cache_and_budget(
    store: str,
    tmp_path: Path,
    api,  # noqa: F811
    spans,  # noqa: F811 - the judge's own traces go to memory, not to ./mlflow.db
) -> None:
    api["chat"].side_effect = lambda request: completion({"reason": "done", "score": 5})
    _watch(store, name="j", until=0.1)
    start = _now_ms() + 5
    _write(store, list(range(60, 66)), [start + i for i in range(6)])
    time.sleep(0.01)
    judge = make_judge(tmp_path)
    one_call = 100 * 0.15e-6 + 20 * 0.6e-6  # gpt-4o-mini: 100 prompt + 20 completion tokens
    limited = evals.watch(
        [evals.TaskCompletion()], experiment="app", tracking_uri=store, judge=judge,
        name="j", poll_s=0.05, budget_usd=4e-4, until=60,
    )  # fmt: skip
    assert limited.stopped == "budget"
    assert 1 <= limited.traces_scored < 6
    assert limited.judge_usage["cost_usd"] == pytest.approx(limited.traces_scored * one_call)
    scored = _feedback(store, "j")
    assert len(scored) == limited.traces_scored
    calls = api["chat"].call_count
    rest = evals.watch(
        [evals.TaskCompletion()], experiment="app", tracking_uri=store, judge=judge,
        name="j", poll_s=0.05, until=60, max_traces=6 - limited.traces_scored,
    )  # fmt: skip
    assert rest.stopped == "max_traces"
    assert api["chat"].call_count == calls + rest.traces_scored
    final = _feedback(store, "j")
    assert final == Counter({(trace_id(n), "task_completion"): 1 for n in range(60, 66)})
    trace = MlflowClient(store).get_trace(trace_id(60))
    feedback = next(a for a in trace.info.assessments if a.name == "task_completion")
    assert feedback.feedback.value == 1.0 and feedback.source.source_type == "LLM_JUDGE"
    # a second watcher on the same traces: the judge's cache answers, no new API call
    calls = api["chat"].call_count
    other = evals.watch(
        [evals.TaskCompletion()], experiment="app", tracking_uri=store, judge=judge,
        name="j2", poll_s=0.05, until=60, since="2h", max_traces=9,
    )  # fmt: skip
    assert other.stopped == "max_traces"  # since 2h: the 3 old traces too (first start only)
    assert {t for t, _ in _feedback(store, "j2")} == {
        trace_id(n) for n in [1, 2, 3, *range(60, 66)]
    }
    assert api["chat"].call_count == calls + 3
