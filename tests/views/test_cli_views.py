"""`llmtrace traces|sessions ...` on a colourless fixed-width console, exact output.

The known conversation (tests/views/conftest.py) is traced into a real SQLite store with fixed
span times, so every column, timing bar, token count and cost below is computed by the code
from what llmtrace stored: the bars by hand (20 cells of 60 ms over the 1.2 s trace), the cost
from the built-in gpt-4o-mini price (USD 0.15 / 0.60 per 1M input / output tokens).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import llmtrace
from llmtrace.cli import app
from tests.conftest import free_port
from tests.views.conftest import Known

SHOW = """\
trace {first}  chat_turn  OK
started 2026-01-02 03:04:05 UTC · 1.20 s · 4 spans · 62 tokens (50 in, 12 out) · $0.000015 · 1 error
session conv-1 · user alice

span                  kind         duration  timeline               tokens       cost  status
chat_turn             AGENT          1.20 s  ████████████████████                      OK
│   in:  {{"text": "Where is my order A-1001?"}}
│   out: Your order A-1001 shipped with DHL.
├── retrieve          RETRIEVER    100.0 ms  ██··················                      OK
│       in:  {{"query": "Where is my order A-1001?"}}
│       1. 0.920 [d1]  Order A-1001 shipped with DHL.
│       2. 0.410 [d2]  Returns take 14 days.
├── chat gpt-4o-mini  LLM          800.0 ms  ··██████████████····       62  $0.000015  OK
│       model gpt-4o-mini · tokens 50 in + 12 out
│       system: You answer order questions.
│       user: Where is my order A-1001?
│       assistant: It shipped with DHL.
└── lookup_order      TOOL         250.0 ms  ···············█████                      ERROR
        ✗ TimeoutError: order service timed out
        in:  {{"order_id": "A-1001"}}
"""

TRANSCRIPT = """\
session conv-1 · user alice · 2 turns · 162 tokens · $0.000039
2026-01-02 03:04:05 → 2026-01-02 03:05:05 UTC

turn 1  03:04:05  1.20 s  62 tokens  $0.000015  OK  {first}
  user       Where is my order A-1001?
  assistant  Your order A-1001 shipped with DHL.
  ✗ lookup_order: TimeoutError: order service timed out

turn 2  03:05:05  400.0 ms  100 tokens  $0.000024  OK  {second}
  user       Thanks!
  assistant  You're welcome!
"""

TABLE = """\
trace id                             name       status  start (UTC)          duration  tokens       cost  session
{second}  chat_turn  OK      2026-01-02 03:05:05  400.0 ms     100  $0.000024  conv-1
{first}  chat_turn  OK      2026-01-02 03:04:05    1.20 s      62  $0.000015  conv-1
"""  # noqa: E501

SESSIONS = """\
session  user   turns  first (UTC)          last (UTC)           tokens       cost  failed
conv-1   alice      2  2026-01-02 03:04:05  2026-01-02 03:05:05     162  $0.000039       0
"""


def run(
    known: Known, *args: str, width: int = 100, experiment: str | None = None
) -> tuple[int, str, str]:
    """Run the CLI on the known store; (exit code, stdout, stderr)."""
    runner = CliRunner(env={"COLUMNS": str(width), "NO_COLOR": "1"})
    result = runner.invoke(
        app, [*args, "--tracking-uri", known.uri, "--experiment", experiment or known.experiment]
    )
    return result.exit_code, result.stdout, result.stderr


def test_traces_show_prints_the_known_tree(known: Known) -> None:
    code, out, err = run(known, "traces", "show", known.first)
    assert (code, err) == (0, "")
    assert out == SHOW.format(first=known.first)


def test_sessions_show_prints_the_transcript(known: Known) -> None:
    code, out, err = run(known, "sessions", "show", "conv-1")
    assert (code, err) == (0, "")
    assert out == TRANSCRIPT.format(first=known.first, second=known.second)


def test_traces_list_prints_the_table(known: Known) -> None:
    code, out, err = run(known, "traces", "list", width=120)
    assert (code, err) == (0, "")
    assert out == TABLE.format(first=known.first, second=known.second)


def test_sessions_list_prints_the_table(known: Known) -> None:
    code, out, _ = run(known, "sessions", "list", width=120)
    assert code == 0
    assert out == SESSIONS


def test_show_from_python_prints_what_the_cli_prints(known: Known) -> None:
    from io import StringIO

    from rich.console import Console

    buffer = StringIO()
    console = Console(file=buffer, width=100, no_color=True, force_terminal=False)
    assert llmtrace.show(known.first, console=console, html=False) is None
    assert buffer.getvalue() == SHOW.format(first=known.first)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ([], ["second", "first"]),
        (["--limit", "1"], ["second"]),
        (["--session", "conv-1", "--user", "alice"], ["second", "first"]),
        (["--status", "ok", "--name", "chat_%"], ["second", "first"]),
        (["--since", "2026-01-02T03:05:00"], ["second"]),
        (["--filter", "execution_time_ms > 1000"], ["first"]),
    ],
)
def test_traces_list_filters(known: Known, options: list[str], expected: list[str]) -> None:
    code, out, _ = run(known, "traces", "list", "--json", *options)
    assert code == 0
    got = json.loads(out)
    assert [t["trace_id"] for t in got] == [getattr(known, which) for which in expected]
    if expected == ["first"]:
        assert got[0] | {"request_preview": None, "response_preview": None} == {
            "trace_id": known.first,
            "name": "chat_turn",
            "status": "OK",
            "start_ms": 1767323045000,
            "start": "2026-01-02T03:04:05Z",
            "duration_ms": 1200.0,
            "tokens": {"input_tokens": 50, "output_tokens": 12, "total_tokens": 62},
            "cost_usd": pytest.approx(50 * 0.15e-6 + 12 * 0.60e-6),
            "session": "conv-1",
            "user": "alice",
            "request_preview": None,
            "response_preview": None,
        }


def test_traces_list_with_no_match_says_so(known: Known) -> None:
    code, out, err = run(known, "traces", "list", "--session", "nope")
    assert code == 1 and out == ""
    assert err == f"no traces match the filters in experiment 'tests' at {known.uri}\n"


def test_show_depth_and_span_focus(known: Known) -> None:
    code, out, _ = run(known, "traces", "show", known.first, "--depth", "1")
    assert code == 0
    tail = out.splitlines()[5:]
    assert tail == [
        "chat_turn             AGENT          1.20 s  ████████████████████                      OK",
        '    in:  {"text": "Where is my order A-1001?"}',
        "    out: Your order A-1001 shipped with DHL.",
        "    … 3 span(s) below (--depth)",
    ]
    code, out, _ = run(known, "traces", "show", known.first, "--span", "lookup_order")
    assert code == 0
    assert out.splitlines()[5:] == [
        "lookup_order  TOOL         250.0 ms  ···············█████                      ERROR",
        "    ✗ TimeoutError: order service timed out",
        "    in:  {",
        '           "order_id": "A-1001"',
        "         }",
    ]


def test_show_full_prints_values_whole(known: Known, scratch: str) -> None:
    long_text = "word " * 60
    with llmtrace.span("long", kind="CHAIN") as s:
        s.set_inputs({"text": long_text})
        trace_id = s.trace_id
    assert llmtrace.flush(30)
    _, short, _ = run(known, "traces", "show", trace_id, experiment=scratch)
    _, full, _ = run(known, "traces", "show", trace_id, "--full", experiment=scratch)
    short_in = [line for line in short.splitlines() if "in:" in line]
    assert len(short_in) == 1 and short_in[0].endswith("…") and len(short_in[0]) == 100
    rows = full.splitlines()
    body = rows[rows.index("    in:  {") + 1 : rows.index("         }")]
    assert "".join(body).replace(" ", "") == '"text":"' + "word" * 60 + '"'  # wrapped, not cut
    assert max(len(line) for line in full.splitlines()) <= 100
    assert '  "text": ' in full


def test_collapses_repeated_siblings_but_keeps_errors(known: Known, scratch: str) -> None:
    @llmtrace.trace(name="step", kind="TOOL")
    def step(i: int) -> int:
        if i == 10:
            raise ValueError("step 10 failed")
        return i

    @llmtrace.trace(name="loop", kind="AGENT")
    def loop() -> str:
        for i in range(30):
            try:
                step(i)
            except ValueError:
                pass
        return llmtrace.current_span().trace_id or ""

    trace_id = loop()
    assert llmtrace.flush(30)
    code, out, _ = run(known, "traces", "show", trace_id, width=120, experiment=scratch)
    assert code == 0
    lines = out.splitlines()
    rows = [re.sub(r"\s+", " ", line) for line in lines[lines.index(tree_header(lines)) + 1 :]]
    assert rows[0].startswith("loop AGENT")
    shown = [row for row in rows if row.startswith(("├── step", "└── step", "├── …"))]
    durations = r"( [\d.]+ (µs|ms|s) .*| [\d.]+ (µs|ms|s) in total)$"  # the only figures that vary
    assert [re.sub(durations, "", row) for row in shown] == [
        "├── step TOOL",
        "├── step TOOL",
        "├── … 8 more 'step' (TOOL) spans,",
        "├── step TOOL",
        "├── … 18 more 'step' (TOOL) spans,",
        "└── step TOOL",
    ]
    assert "✗ ValueError: step 10 failed" in out
    _, every, _ = run(
        known, "traces", "show", trace_id, "--collapse", "0", width=120, experiment=scratch
    )
    assert every.count("── step") == 30


def test_export_html_and_json(known: Known, tmp_path: Path) -> None:
    page, data = tmp_path / "trace.html", tmp_path / "trace.json"
    code, out, _ = run(
        known, "traces", "export", known.first, "--html", str(page), "--json", str(data)
    )
    assert code == 0 and out == f"wrote {page}\nwrote {data}\n"
    html = page.read_text(encoding="utf-8")
    for name in ("chat_turn", "retrieve", "chat gpt-4o-mini", "lookup_order"):
        assert f">{name}</span>" in html
    assert "TimeoutError: order service timed out" in html
    assert "Order A-1001 shipped with DHL." in html
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html)  # nothing from the web

    from mlflow.entities import Trace

    trace = Trace.from_json(data.read_text(encoding="utf-8"))
    assert trace.info.trace_id == known.first
    assert sorted(s.name for s in trace.data.spans) == [
        "chat gpt-4o-mini",
        "chat_turn",
        "lookup_order",
        "retrieve",
    ]


def tree_header(lines: list[str]) -> str:
    """The column header line of `traces show` output."""
    return next(line for line in lines if line.startswith("span "))


def _one_line_error(code: int, out: str, err: str) -> str:
    assert code == 1, (code, out, err)
    assert "Traceback" not in out + err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err.strip()


def test_unknown_trace_id(known: Known) -> None:
    err = _one_line_error(*run(known, "traces", "show", "tr-0123"))
    assert err == (
        f"error: no trace 'tr-0123' in {known.uri}; list ids with `llmtrace traces list`"
    )
    _one_line_error(*run(known, "traces", "export", "tr-0123", "--html", "x.html"))


def test_unknown_span_name(known: Known) -> None:
    err = _one_line_error(*run(known, "traces", "show", known.first, "--span", "nope"))
    assert err == (
        f"error: no span 'nope' in {known.first}; "
        "spans: chat gpt-4o-mini, chat_turn, lookup_order, retrieve"
    )


def test_wrong_experiment(known: Known) -> None:
    from mlflow.tracking import MlflowClient

    found = MlflowClient(tracking_uri=known.uri).search_experiments()
    names = ", ".join(repr(e.name) for e in sorted(found, key=lambda e: e.name))
    assert "'tests'" in names
    runner = CliRunner(env={"COLUMNS": "100"})
    for command in (["traces", "list"], ["sessions", "list"], ["traces", "show", known.first]):
        result = runner.invoke(app, [*command, "--tracking-uri", known.uri, "--experiment", "nope"])
        err = _one_line_error(result.exit_code, result.stdout, result.stderr)
        assert err == (
            f"error: no experiment 'nope' in {known.uri} (experiments: {names}); pass --experiment"
        )


def test_empty_store_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "mlflow.db"
    runner = CliRunner()
    for command in (["traces", "list"], ["sessions", "show", "x"], ["traces", "show", "tr-1"]):
        result = runner.invoke(app, [*command, "--tracking-uri", f"sqlite:///{missing}"])
        err = _one_line_error(result.exit_code, result.stdout, result.stderr)
        assert err == (
            f"error: no trace store at {missing}: nothing has been traced here yet "
            "(run your app first, or pass --tracking-uri)"
        )
    assert not missing.exists()


def test_store_without_traces(known: Known) -> None:
    from mlflow.tracking import MlflowClient

    sqlite_uri = known.uri
    client = MlflowClient(tracking_uri=sqlite_uri)
    if client.get_experiment_by_name("empty") is None:
        client.create_experiment("empty")
    runner = CliRunner()
    result = runner.invoke(
        app, ["traces", "list", "--tracking-uri", sqlite_uri, "--experiment", "empty"]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"no traces yet in experiment 'empty' at {sqlite_uri}; traces are in experiment(s) "
    )  # the experiments that do have traces are named
    result = runner.invoke(
        app, ["sessions", "show", "conv-9", "--tracking-uri", sqlite_uri, "-e", "empty"]
    )
    assert _one_line_error(result.exit_code, result.stdout, result.stderr) == (
        f"error: no session 'conv-9' in experiment 'empty' at {sqlite_uri}; "
        "list them with `llmtrace sessions list`"
    )


def test_unreachable_server() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = CliRunner().invoke(app, ["traces", "list", "--tracking-uri", url])
    err = _one_line_error(result.exit_code, result.stdout, result.stderr)
    assert (
        err == f"error: cannot reach the MLflow server at {url} (ConnectionError); is it running?"
    )


def test_store_resolution_follows_the_environment(known: Known) -> None:
    runner = CliRunner(
        env={"LLMTRACE_TRACKING_URI": known.uri, "LLMTRACE_EXPERIMENT": "tests", "COLUMNS": "120"}
    )
    result = runner.invoke(app, ["traces", "list"])
    assert result.exit_code == 0
    assert result.stdout == TABLE.format(first=known.first, second=known.second)


def test_ui_refuses_a_missing_store_or_a_busy_port(known: Known, tmp_path: Path) -> None:
    import socket

    missing = tmp_path / "none.db"
    result = CliRunner().invoke(app, ["ui", "--tracking-uri", f"sqlite:///{missing}"])
    assert _one_line_error(result.exit_code, result.stdout, result.stderr).startswith(
        f"error: no trace store at {missing}"
    )
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = run(known, "ui", "--port", str(port))
        assert _one_line_error(code, out, err) == (
            f"error: port {port} on 127.0.0.1 is in use; pass --port"
        )


@pytest.mark.slow
def test_ui_on_a_tracking_server_prints_its_url(mlflow_server: str) -> None:
    from mlflow.tracking import MlflowClient

    experiment_id = MlflowClient(tracking_uri=mlflow_server).create_experiment("ui-url-test")
    result = CliRunner().invoke(
        app, ["ui", "--tracking-uri", mlflow_server, "--experiment", "ui-url-test"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"MLflow UI for experiment 'ui-url-test': "
        f"{mlflow_server}/#/experiments/{experiment_id}/traces\n"
    )


@pytest.mark.slow
def test_tail_follows_new_traces(known: Known, scratch: str) -> None:
    import os
    import shutil
    import subprocess
    import sys
    import threading

    with llmtrace.span("before", kind="CHAIN") as s:
        before = s.trace_id
    assert llmtrace.flush(30)
    exe = shutil.which("llmtrace", path=str(Path(sys.executable).parent))
    command = [exe] if exe else [sys.executable, "-c", "from llmtrace.cli import main; main()"]
    proc = subprocess.Popen(
        [
            *command,
            *("traces", "tail", "--last", "1", "--count", "2", "--interval", "0.2"),
            *("--tracking-uri", known.uri, "--experiment", scratch),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    lines: list[str] = []
    first_seen = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if before in line:
                first_seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert first_seen.wait(60), (lines, proc.stderr.read() if proc.poll() else "")
        with llmtrace.span("after", kind="CHAIN") as s:
            after = s.trace_id
        assert llmtrace.flush(30)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(5)
    assert [re.sub(r"\s+", " ", line).split(" ")[:3] for line in lines] == [
        ["trace", "id", "name"],
        [before, "before", "OK"],
        [after, "after", "OK"],
    ]
