"""The fast SQLite read path gives the views what MLflow's client gives, field for field.

One real SQLite store holds varied traces in three experiments: the known conversation
(sessions, tokens and cost, chat messages, documents, a failed tool), traces with unicode,
big payloads, deep nesting, a failed root, a trace still in progress, traces made by MLflow's
own ``@mlflow.trace``, tags set with MLflow's client and assessments logged with
``mlflow.log_feedback``/``log_expectation``/``override_feedback``. Every search the views can
make (filters, limits, order, with and without spans) and every trace is read both ways --
`Store` on the direct reader and `Store(fast=False)` on `MlflowClient` -- and compared: the
trace ids in order, every field of MLflow's trace info and spans, and the view objects.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace as otel_trace

import llmtrace
from llmtrace import _runtime
from llmtrace.views import _sqlite_schema
from llmtrace.views._model import build, trace_summary
from llmtrace.views._sqlite_filter import Unsupported
from llmtrace.views._sqlite_read import SqliteReader
from llmtrace.views._sqlite_schema import open_checked
from llmtrace.views._store import Store, StoreError, build_filter
from llmtrace.views._stored import StoredTrace
from tests.views.conftest import build_known

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Varied:
    """The varied store: its URI, experiments, and trace ids worth naming."""

    uri: str
    path: Path
    experiments: tuple[str, ...]
    first: str
    in_progress: str
    native: str
    big: str


def _trace_many() -> tuple[str, str]:
    """Traces of experiment ``varied``; returns (big payload trace id, in-progress trace id)."""
    with llmtrace.session("sess-ü", user="zoë"):
        with llmtrace.span("ünïcode ✓", kind="CHAIN", inputs={"text": "日本語 ✓ 🎉"}) as s:
            s.set_outputs("réponse 🎉\nligne 2")
    with llmtrace.span("big", kind="CHAIN", inputs={"blob": "x" * 200_000}) as s:
        s.set_outputs(["y" * 60_000, {"k": "z" * 10_000}])
        big = s.trace_id
    with llmtrace.span("deep", kind="AGENT", inputs={"q": 1}) as root:
        for i in range(3):
            with llmtrace.span(f"level1-{i}", kind="CHAIN"):
                with llmtrace.span("level2", kind="TOOL", inputs={"i": i}) as leaf:
                    with llmtrace.span("level3", kind="RETRIEVER") as ret:
                        ret.set_outputs([{"content": f"doc {i}", "score": 0.5, "id": str(i)}])
                    leaf.set_outputs({"ok": i})
        root.set_outputs({"answer": "deep"})
    try:
        with llmtrace.span("crash", kind="AGENT", inputs={"text": "boom?"}):
            raise RuntimeError("kaput")
    except RuntimeError:
        pass
    for i in range(12):
        with llmtrace.session(f"s-{i % 3}", user=f"u{i % 2}"):
            with llmtrace.span("chat_turn" if i % 2 else "it's", kind="AGENT") as s:
                s.set_inputs({"text": f"turn {i}"})
                with llmtrace.span("llm", kind="LLM") as llm:
                    llm.set_outputs(f"reply {i}")
                s.set_outputs(f"reply {i}")
    tracer = _runtime.tracer()
    assert tracer is not None
    pending = tracer.start_span("still running")  # its child is stored before it ends
    with otel_trace.use_span(pending, end_on_exit=False):
        with llmtrace.span("done child", kind="TOOL", inputs={"x": 1}) as child:
            child.set_outputs("done")
            in_progress = child.trace_id
    assert llmtrace.flush(30)  # ``pending`` never ends: its trace stays in progress
    assert big is not None and in_progress is not None
    return big, in_progress


def _trace_native(uri: str) -> str:
    """Traces made by MLflow's own tracing in experiment ``native``; returns one id."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("native")

    @mlflow.trace
    def inner(x: int) -> int:
        return x * 2

    @mlflow.trace(name="outer")
    def outer(x: int) -> int:
        mlflow.update_current_trace(tags={"team": "red"})
        return inner(x) + 1

    for i in range(3):
        outer(i)
    mlflow.flush_trace_async_logging()
    trace_id = mlflow.get_last_active_trace_id()
    assert trace_id is not None
    return trace_id


def _assess(uri: str, first: str) -> None:
    """Assessments and tags on the known conversation's first turn, through MLflow."""
    import mlflow
    from mlflow.entities import AssessmentSource
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(uri)
    span_id = next(
        s.span_id for s in MlflowClient(uri).get_trace(first).data.spans if s.name == "retrieve"
    )
    human = AssessmentSource(source_type="HUMAN", source_id="alice@example.com")
    judge = AssessmentSource(source_type="LLM_JUDGE", source_id="gpt-4o-mini")
    old = mlflow.log_feedback(
        trace_id=first, name="helpful", value=False, rationale="too short", source=human
    )
    mlflow.override_feedback(
        trace_id=first, assessment_id=old.assessment_id, value=True, rationale="fine — ✓"
    )
    mlflow.log_feedback(
        trace_id=first, name="relevance", value=0.75, source=judge, span_id=span_id,
        metadata={"prompt": "v2"},
    )  # fmt: skip
    mlflow.log_feedback(
        trace_id=first, name="faithfulness", source=judge, error=TimeoutError("judge timed out")
    )
    mlflow.log_expectation(
        trace_id=first, name="expected", value={"answer": "DHL", "ids": [1, 2]}, source=human
    )
    MlflowClient(uri).set_trace_tag(first, "team", "blue")


@pytest.fixture(scope="module")
def varied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Varied]:
    """The varied store, built once per module."""
    path = tmp_path_factory.mktemp("varied") / "mlflow.db"
    uri = f"sqlite:///{path}"
    llmtrace.configure(tracking_uri=uri, experiment="tests", schedule_delay_ms=20)
    try:
        first, _ = build_known()
        llmtrace.shutdown()
        llmtrace.configure(tracking_uri=uri, experiment="varied", schedule_delay_ms=20)
        big, in_progress = _trace_many()
    finally:
        llmtrace.shutdown()
    import mlflow

    previous = mlflow.get_tracking_uri()
    try:
        native = _trace_native(uri)
        _assess(uri, first)
    finally:
        mlflow.set_tracking_uri(previous)  # MLflow's fluent API as other tests expect it
    yield Varied(uri, path, ("tests", "varied", "native"), first, in_progress, native, big)


def _same_info(fast: Any, slow: Any) -> None:
    """Every field of MLflow's `TraceInfo` the views may read, fast vs MLflow."""
    assert fast.trace_id == slow.trace_id
    assert fast.experiment_id == slow.trace_location.mlflow_experiment.experiment_id
    assert fast.request_time == slow.request_time
    assert fast.execution_duration == slow.execution_duration
    assert fast.state == slow.state.value
    assert fast.tags == slow.tags
    assert fast.trace_metadata == slow.trace_metadata
    assert fast.client_request_id == slow.client_request_id
    assert fast.request_preview == slow.request_preview
    assert fast.response_preview == slow.response_preview
    assert fast.token_usage == slow.token_usage
    assert fast.cost == slow.cost
    assert len(fast.assessments) == len(slow.assessments)


def _same_spans(fast: Any, slow: Any) -> None:
    """Every field of MLflow's spans the views read, in MLflow's order."""
    assert len(fast.data.spans) == len(slow.data.spans)
    for f, s in zip(fast.data.spans, slow.data.spans, strict=True):
        assert (f.span_id, f.parent_id, f.name, f.trace_id) == (
            s.span_id,
            s.parent_id,
            s.name,
            s.trace_id,
        )
        assert (f.start_time_ns, f.end_time_ns) == (s.start_time_ns, s.end_time_ns)
        assert (f.status.status_code, f.status.description) == (
            s.status.status_code.value,
            s.status.description,
        )
        assert [(e.name, e.timestamp, e.attributes) for e in f.events] == [
            (e.name, e.timestamp, e.attributes) for e in s.events
        ]
        assert f.attributes == s.attributes
        assert f.to_dict() == s.to_dict()


def _same(fast: list[Any], slow: list[Any], spans: bool) -> None:
    assert [t.info.trace_id for t in fast] == [t.info.trace_id for t in slow]
    for f, s in zip(fast, slow, strict=True):
        assert isinstance(f, StoredTrace), "the fast path was not taken"
        _same_info(f.info, s.info)
        assert trace_summary(f.info) == trace_summary(s.info)
        if spans:
            _same_spans(f, s)
            assert build(f) == build(s)


FILTERS = [
    None,
    "status = 'ERROR'",
    "status != 'OK'",
    "trace.status = 'IN_PROGRESS'",
    "execution_time_ms > 5",
    "attributes.execution_time < 100 AND status = 'OK'",
    "timestamp_ms >= 1767323045000",
    "timestamp < 1767323046000",
    "name = 'big'",
    'name = "it\'s"',
    "name LIKE 'chat%'",
    "name like 'chat%'",
    "name LIKE 'CHAT%'",  # case-sensitive, as MLflow's SQLite sessions compare: nothing
    "name ILIKE 'CHAT%'",
    "name != 'chat_turn'",
    "tags.team = 'blue'",
    "tags.`team` != 'blue'",
    "tags.team IS NULL",
    "tags.team IS NOT NULL",
    "tags.`mlflow.traceName` = 'outer'",
    "tag.`service.name` LIKE 'llmtrace%'",
    "metadata.`mlflow.trace.session` = 'conv-1'",
    "metadata.`mlflow.trace.session` LIKE 's-%'",
    "metadata.`mlflow.trace.session` IS NOT NULL",
    "metadata.`mlflow.trace.session` IS NULL",
    "metadata.`mlflow.trace.user` = 'alice'",
    "request_metadata.`mlflow.trace.user` LIKE 'u%'",
    "metadata.`mlflow.trace.user` IS NULL",
    "metadata.`mlflow.trace.user` = 'zoë' AND metadata.`mlflow.trace.session` = 'sess-ü'",
    build_filter(session="s-1", user="u1", status="ok", since="2026-01-01", name="chat%"),
    build_filter(extra="metadata.`mlflow.trace.session` IS NOT NULL", user="u0"),
]


@pytest.mark.parametrize("filter_string", FILTERS)
def test_searches_match_mlflow(varied: Varied, filter_string: str | None) -> None:
    for experiment in varied.experiments:
        fast, slow = Store(varied.uri, experiment), Store(varied.uri, experiment, fast=False)
        assert fast.reader() is not None and slow.reader() is None
        for order_by in (None, ["timestamp_ms ASC"]):
            for limit, spans in ((1000, False), (3, False), (1000, True), (2, True)):
                kwargs = {"max_results": limit, "order_by": order_by, "include_spans": spans}
                _same(
                    fast.search(filter_string, **kwargs),  # type: ignore[arg-type]
                    slow.search(filter_string, **kwargs),  # type: ignore[arg-type]
                    spans,
                )


SESSIONS = "metadata.`mlflow.trace.session` IS NOT NULL"
SESSION_FILTERS = [
    SESSIONS,
    build_filter(user="u1", extra=SESSIONS),
    build_filter(since="2026-01-01", extra=SESSIONS),
    None,
    "status = 'OK'",
]


@pytest.mark.parametrize("filter_string", SESSION_FILTERS)
def test_session_summaries_match_mlflow(varied: Varied, filter_string: str | None) -> None:
    """`sessions list` in SQL gives what summing MLflow's trace search gives, field for field."""
    for experiment in varied.experiments:
        fast, slow = Store(varied.uri, experiment), Store(varied.uri, experiment, fast=False)
        reader = fast.reader()
        assert reader is not None
        for scan, limit in ((2000, 20), (5, 20), (2000, 2), (1, 1)):
            direct = reader.sessions(fast.experiment_id(), filter_string, scan=scan, limit=limit)
            assert direct == slow.sessions(filter_string, scan=scan, limit=limit)
            assert fast.sessions(filter_string, scan=scan, limit=limit) == direct


def test_session_summaries_are_not_vacuous(varied: Varied) -> None:
    found = {
        s.session: s
        for e in varied.experiments
        for s in Store(varied.uri, e).sessions(SESSIONS, scan=2000, limit=100)
    }
    assert {"conv-1", "sess-ü", "s-0", "s-1", "s-2"} <= set(found)
    assert found["conv-1"].cost and found["conv-1"].tokens and found["s-0"].cost is None
    assert found["s-0"].turns == 4 and found["s-0"].user in ("u0", "u1")
    assert found["conv-1"].errors == 0 and found["conv-1"].first_ms < found["conv-1"].last_ms


def test_odd_token_counts_sum_through_mlflow(varied: Varied, tmp_path: Path) -> None:
    """A token count stored as a fraction: the SQL summary steps aside, both paths agree."""
    uri = _copy(
        varied, tmp_path, "UPDATE trace_info SET total_tokens = 61.5 WHERE total_tokens = 62"
    )
    fast, slow = Store(uri, "tests"), Store(uri, "tests", fast=False)
    reader = fast.reader()
    assert reader is not None
    with pytest.raises(Unsupported):
        reader.sessions(fast.experiment_id(), SESSIONS, scan=100, limit=10)
    assert fast.sessions(SESSIONS) == slow.sessions(SESSIONS)


def test_the_store_holds_what_the_comparisons_need(varied: Varied) -> None:
    """No comparison above is vacuous: each kind of trace is in the store and found."""
    store = Store(varied.uri, "varied")
    names = [t.info.tags.get("mlflow.traceName") for t in store.search(max_results=100)]
    assert {"ünïcode ✓", "big", "deep", "crash", "chat_turn", "it's", None} <= set(names)
    statuses = {t.info.state for t in store.search(max_results=100)}
    assert statuses == {"OK", "ERROR", "IN_PROGRESS"}
    tests = Store(varied.uri, "tests").search(max_results=10)
    assert all(t.info.token_usage and t.info.cost for t in tests)
    assert len(Store(varied.uri, "native").search(max_results=10)) == 3
    for filter_string in FILTERS[1:]:
        if "'CHAT%'" in filter_string and "ILIKE" not in filter_string:
            continue
        found = sum(
            len(Store(varied.uri, e).search(filter_string, max_results=100))
            for e in varied.experiments
        )
        assert found > 0, filter_string


def test_every_trace_matches_mlflow(varied: Varied) -> None:
    for experiment in varied.experiments:
        slow = Store(varied.uri, experiment, fast=False)
        fast = Store(varied.uri, experiment)
        for trace in slow.search(max_results=1000):
            trace_id = trace.info.trace_id
            f, s = fast.get_trace(trace_id), slow.get_trace(trace_id)
            _same([f], [s], spans=True)


def test_the_views_of_varied_traces(varied: Varied) -> None:
    store = Store(varied.uri, "varied")
    big = build(store.get_trace(varied.big))
    assert big.roots[0].inputs["blob"].startswith("x" * 50_000)  # cut at llmtrace's limit
    pending = build(store.get_trace(varied.in_progress))
    assert (pending.status, [n.name for n in pending.nodes()]) == ("IN_PROGRESS", ["done child"])
    native = build(Store(varied.uri, "native").get_trace(varied.native))
    assert [(n.name, n.kind) for n in native.nodes()] == [
        ("outer", "UNKNOWN"),
        ("inner", "UNKNOWN"),
    ]


def test_feedback_logged_with_mlflow_reads_back_on_both_paths(varied: Varied) -> None:
    views = {
        fast: build(Store(varied.uri, "tests", fast=fast).get_trace(varied.first))
        for fast in (True, False)
    }
    assert views[True].assessments == views[False].assessments
    listed = Store(varied.uri, "tests").search("tags.team = 'blue'", max_results=5)
    assert trace_summary(listed[0].info).assessments == views[False].assessments
    got = {(a.name, a.valid): a for a in views[True].assessments}
    assert sorted(got) == [
        ("expected", True),
        ("faithfulness", True),
        ("helpful", False),
        ("helpful", True),
        ("relevance", True),
    ]
    old, new = got["helpful", False], got["helpful", True]
    assert (old.kind, old.value, old.rationale) == ("feedback", False, "too short")
    assert (old.source_type, old.source_id) == ("HUMAN", "alice@example.com")
    assert (new.value, new.rationale, new.overrides) == (True, "fine — ✓", old.assessment_id)
    relevance = got["relevance", True]
    assert (relevance.value, relevance.source_type, relevance.source_id) == (
        0.75,
        "LLM_JUDGE",
        "gpt-4o-mini",
    )
    retrieve = next(n for n in views[True].nodes() if n.name == "retrieve")
    assert (relevance.span_id, relevance.metadata) == (retrieve.span_id, {"prompt": "v2"})
    failed = got["faithfulness", True]
    assert (failed.value, failed.error_code, failed.error_message) == (
        None,
        "TimeoutError",
        "judge timed out",
    )
    expected = got["expected", True]
    assert (expected.kind, expected.value) == ("expectation", {"answer": "DHL", "ids": [1, 2]})
    assert all(a.create_time_ms and a.last_update_time_ms for a in views[True].assessments)


def _copy(varied: Varied, tmp_path: Path, sql: str, *params: Any) -> str:
    path = tmp_path / "copy.db"
    shutil.copy(varied.path, path)
    with sqlite3.connect(path) as conn:
        conn.execute(sql, params)
    return f"sqlite:///{path}"


def test_unknown_schema_goes_to_mlflow(varied: Varied, tmp_path: Path) -> None:
    uri = _copy(varied, tmp_path, "UPDATE alembic_version SET version_num = 'f00dfeedbeef'")
    store = Store(uri, "tests")
    assert open_checked(uri) is None and store.reader() is None
    with pytest.raises(Exception, match="out-of-date database schema"):
        store.search(max_results=5)  # MLflow's own answer to a schema it does not know


def test_unchecked_mlflow_goes_to_mlflow(varied: Varied, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_sqlite_schema, "CHECKED_MLFLOW", ("9.",))
    store = Store(varied.uri, "tests")
    assert store.reader() is None
    found = store.search(max_results=5)
    assert found and not any(isinstance(t, StoredTrace) for t in found)


def test_the_mlflow_version_is_read_as_importlib_metadata_reads_it() -> None:
    from importlib import metadata

    assert _sqlite_schema._mlflow_version() == metadata.version("mlflow")


def test_requests_the_reader_does_not_answer_go_to_mlflow(varied: Varied) -> None:
    store = Store(varied.uri, "tests")
    reader = store.reader()
    assert reader is not None
    for filter_string in ("span.name = 'retrieve'", "run_id = 'x'", "status IN ('OK')"):
        with pytest.raises(Unsupported):
            reader.search(store.experiment_id(), filter_string)
    with pytest.raises(Unsupported):
        reader.search(store.experiment_id(), order_by=["execution_time_ms DESC"])
    found = store.search("span.name = 'retrieve'", max_results=5)
    slow = Store(varied.uri, "tests", fast=False).search("span.name = 'retrieve'", max_results=5)
    assert [t.info.trace_id for t in found] == [t.info.trace_id for t in slow] == [varied.first]
    assert not isinstance(found[0], StoredTrace)


def test_spans_outside_the_store_go_to_mlflow(varied: Varied, tmp_path: Path) -> None:
    uri = _copy(
        varied,
        tmp_path,
        "UPDATE trace_tags SET value = 'ARTIFACT_REPO' "
        "WHERE key = 'mlflow.trace.spansLocation' AND request_id = ?",
        varied.first,
    )
    conn = open_checked(uri)
    assert conn is not None
    with pytest.raises(Unsupported):
        SqliteReader(conn, uri).get_trace(varied.first)


def test_span_types_translated_on_load_as_mlflow_does(varied: Varied, tmp_path: Path) -> None:
    """A span stored without a type but with an OpenInference kind: MLflow types it on load."""
    path = tmp_path / "copy.db"
    shutil.copy(varied.path, path)
    with sqlite3.connect(path) as conn:
        (content,) = conn.execute(
            "SELECT content FROM spans WHERE trace_id = ? AND name = 'retrieve'", (varied.first,)
        ).fetchone()
        import json

        data = json.loads(content)
        del data["attributes"]["mlflow.spanType"]
        data["attributes"]["openinference.span.kind"] = "RETRIEVER"
        conn.execute(
            "UPDATE spans SET content = ? WHERE trace_id = ? AND name = 'retrieve'",
            (json.dumps(data), varied.first),
        )
    uri = f"sqlite:///{path}"
    fast = Store(uri, "tests").get_trace(varied.first)
    slow = Store(uri, "tests", fast=False).get_trace(varied.first)
    _same([fast], [slow], spans=True)
    assert [n.kind for n in build(fast).nodes() if n.name == "retrieve"] == ["RETRIEVER"]


def test_unknown_ids_and_experiments_say_so_on_the_fast_path(varied: Varied) -> None:
    store = Store(varied.uri, "tests")
    with pytest.raises(llmtrace.TraceNotFoundError, match="no trace 'tr-nope'"):
        store.get_trace("tr-nope")
    with pytest.raises(StoreError, match=r"experiments: 'Default', 'native', 'tests', 'varied'"):
        Store(varied.uri, "nosuch").experiment_id()


@pytest.mark.slow
def test_http_server_goes_to_mlflow(mlflow_server: str) -> None:
    llmtrace.configure(tracking_uri=mlflow_server, experiment="fastpath-http")
    with llmtrace.session("conv-h", user="hana"):
        with llmtrace.span("served", kind="AGENT", inputs={"text": "hi"}) as s:
            s.set_outputs("hello")
    assert llmtrace.flush(30)
    store = Store(mlflow_server, "fastpath-http")
    assert store.reader() is None
    (trace,) = store.search(max_results=5, include_spans=True)
    assert not isinstance(trace, StoredTrace)
    view = build(store.get_trace(s.trace_id or ""))
    assert (view.name, view.session, view.user, view.span_count) == ("served", "conv-h", "hana", 1)


COMMANDS = [
    ["traces", "list"],
    ["traces", "list", "--status", "error", "--since", "2026-01-01", "--json"],
    ["traces", "show", "{first}"],
    ["traces", "export", "{first}", "--html", "{out}"],
    ["sessions", "list"],
    ["sessions", "show", "conv-1"],
    ["traces", "tail", "--count", "1", "--interval", "0.05"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_view_commands_do_not_import_mlflow(
    varied: Varied, tmp_path: Path, command: list[str]
) -> None:
    """Each view command in a fresh process: it answers; MLflow, pydantic, evals stay out."""
    args = [a.format(first=varied.first, out=tmp_path / "t.html") for a in command]
    script = (
        "import sys\n"
        "from llmtrace.cli import app\n"
        "try:\n"
        "    app(sys.argv[1:])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'mlflow', 'pandas', 'openai', 'sqlalchemy', 'numpy', 'pydantic', 'evals', "
        "'opentelemetry'})\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *args, "--tracking-uri", varied.uri, "-e", "tests"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "120"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stderr, done.stderr
    assert done.stdout.strip() or (tmp_path / "t.html").exists()


def test_json_export_is_mlflows_own(varied: Varied, tmp_path: Path) -> None:
    """``traces export --json`` on the fast path writes MLflow's JSON of the trace, unchanged."""
    from mlflow.tracking import MlflowClient
    from typer.testing import CliRunner

    from llmtrace.cli import app

    out = tmp_path / "t.json"
    result = CliRunner().invoke(
        app,
        ["traces", "export", varied.first, "--json", str(out), "--tracking-uri", varied.uri],
    )
    assert result.exit_code == 0, result.output
    expected = MlflowClient(varied.uri).get_trace(varied.first).to_json(pretty=True)
    assert out.read_text(encoding="utf-8") == expected + "\n"
