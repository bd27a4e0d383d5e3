"""Tables and trees that fit the terminal: readable at 80 columns, full detail at 120.

At 80 columns no value of a row is cut: columns that do not fit the first line move to an
aligned second line under it (the header says which), dates get shorter, and only names and
session ids may be shortened. At 120 the same commands print one line per row.
"""

from __future__ import annotations

import json

import pytest

import llmtrace
from llmtrace.views._lines import Lines
from llmtrace.views._model import TraceView
from llmtrace.views._tables import tail_header, tail_line
from tests.views.conftest import Known
from tests.views.test_cli_views import SESSIONS, TABLE, run

LONG_SESSION = "support-chat-2026-01-02-alice"


@pytest.fixture
def wide(known: Known) -> str:
    """Experiment ``layout`` of the known store: one trace with a long name and session id."""
    llmtrace.configure(tracking_uri=known.uri, experiment="layout", schedule_delay_ms=20)
    with llmtrace.session(LONG_SESSION, user="alice@example.com"):
        with llmtrace.span("answer_customer_question", kind="AGENT") as s:
            s.set_inputs({"text": "hi"})
            with llmtrace.span("lookup_customer_record", kind="TOOL"):
                pass
    assert llmtrace.flush(30)
    return "layout"


def fits(out: str, width: int) -> None:
    lines = out.splitlines()
    assert lines and max(len(line) for line in lines) <= width, out
    assert "…" not in out, out


def test_traces_list_at_80_columns_keeps_every_column(known: Known) -> None:
    code, out, err = run(known, "traces", "list", width=80)
    assert (code, err) == (0, "")
    fits(out, 80)
    lines = out.splitlines()
    assert len(lines) == 2 + 2 * 2  # a two-line header, two lines per trace
    for header in ("trace id", "name", "status", "start", "duration", "tokens", "cost", "session"):
        assert header in "\n".join(lines[:2])
    first = "\n".join(lines[4:6])
    for value in (known.first, "chat_turn", "OK", "03:04:05", "1.20 s", "62", "$0.000015"):
        assert value in first
    assert "conv-1" in lines[5]


def test_traces_list_wraps_long_names_and_sessions_at_80(known: Known, wide: str) -> None:
    code, out, _ = run(known, "traces", "list", width=80, experiment=wide)
    assert code == 0
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert LONG_SESSION in out and "answer_customer_question" in out


def test_traces_list_at_120_columns_is_one_line_per_trace(known: Known) -> None:
    code, out, _ = run(known, "traces", "list", width=120)
    assert code == 0
    assert out == TABLE.format(first=known.first, second=known.second)


def test_sessions_list_at_80_and_120(known: Known, wide: str) -> None:
    code, out, _ = run(known, "sessions", "list", width=80, experiment=wide)
    assert code == 0
    fits(out, 80)
    for value in (LONG_SESSION, "alice@example.com", "turns", "last (UTC)", "failed"):
        assert value in out
    assert "tokens" not in out  # no session here has any: the empty column gives way
    code, out, _ = run(known, "sessions", "list", width=120)
    assert out == SESSIONS


def _summary(known: Known) -> TraceView:
    from mlflow import MlflowClient

    from llmtrace.views._model import trace_summary

    return trace_summary(MlflowClient(tracking_uri=known.uri).get_trace(known.first).info)


@pytest.mark.parametrize("width", [80, 120])
def test_tail_fits_the_width(known: Known, width: int) -> None:
    view = _summary(known)
    header = Lines(tail_header(width)).plain().splitlines()
    line = Lines([*tail_line(view, width)]).plain().splitlines()
    assert all(len(x) <= width for x in header + line)
    text = "\n".join(line)
    for value in (known.first, "chat_turn", "OK", "1.20 s", "62", "$0.000015", "conv-1"):
        assert value in text
    assert "…" not in text
    assert len(line) == (1 if width >= 120 else 2)


def test_traces_show_tree_fits_80_columns(known: Known, wide: str) -> None:
    for experiment, trace in ((known.experiment, known.first), (wide, None)):
        if trace is None:
            _, listing, _ = run(known, "traces", "list", "--json", experiment=wide)


            trace = json.loads(listing)[0]["trace_id"]
        code, out, _ = run(known, "traces", "show", trace, width=80, experiment=experiment)
        assert code == 0
        lines = out.splitlines()
        assert max(len(line) for line in lines) <= 80, out
        header = next(i for i, line in enumerate(lines) if line.startswith("span "))
        rows = [line for line in lines[header:] if "…" not in line and "  " in line]
        for word in ("kind", "duration", "tokens", "cost", "status"):
            assert word in lines[header]
        assert "…" not in "\n".join(lines[: header + 2]), out
        if trace == known.first:
            assert any(
                "chat gpt-4o-mini" in r and "800.0 ms" in r and "$0.000015" in r for r in rows
            )
            assert any("lookup_order" in r and "ERROR" in r for r in rows)
        else:
            assert any("answer_customer_question" in r for r in rows), out
            assert any("lookup_customer_record" in r for r in rows), out


def test_an_empty_experiment_names_the_experiments_with_traces(known: Known) -> None:
    code, out, err = run(known, "traces", "list", experiment="Default")
    assert code == 1 and out == ""
    assert err.startswith("no traces yet in experiment 'Default'"), err
    assert "'tests'" in err and "--experiment" in err and err.count("\n") == 1


def test_an_llm_reply_set_as_a_plain_string_is_shown(known: Known) -> None:
    llmtrace.configure(tracking_uri=known.uri, experiment="replies", schedule_delay_ms=20)
    question = [{"role": "user", "parts": [{"type": "text", "content": "Capital of France?"}]}]
    with llmtrace.span("generate", kind="LLM") as llm:  # GenAI input messages, a string out
        llm.set_attribute("gen_ai.input.messages", json.dumps(question))
        llm.set_outputs("Paris is the capital of France.")
        first = llm.trace_id or ""
    with llmtrace.span("generate", kind="LLM") as llm:  # the quickstart's generate span
        llm.set_inputs({"question": "Capital of Germany?", "context": ["Berlin is..."]})
        llm.set_outputs("Berlin is the capital of Germany.")
        second = llm.trace_id or ""
    assert llmtrace.flush(30)
    _, out, _ = run(known, "traces", "show", first, width=120, experiment="replies")
    assert "user: Capital of France?" in out
    assert "assistant: Paris is the capital of France." in out
    _, out, _ = run(known, "traces", "show", second, width=120, experiment="replies")
    assert 'in:  {"question": "Capital of Germany?"' in out  # the inputs are not lost
    assert "assistant: Berlin is the capital of Germany." in out
