"""The view model read back from the real store, `llmtrace.show()`, the HTML file, big traces."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from rich.console import Console

import llmtrace
from llmtrace.views import TraceDisplay
from llmtrace.views._format import bar, duration
from llmtrace.views._html import html_document
from llmtrace.views._model import Document, Message, build, reply_text, user_text
from llmtrace.views._store import Store, build_filter, since_ms
from llmtrace.views._terminal import TreeOptions, tree_lines
from tests.views.conftest import Known


def test_build_reads_what_llmtrace_stored(known: Known) -> None:
    view = build(Store(known.uri, known.experiment).get_trace(known.first))
    assert (view.trace_id, view.name, view.status) == (known.first, "chat_turn", "OK")
    assert (view.session, view.user, view.span_count) == ("conv-1", "alice", 4)
    assert view.duration_ms == 1200.0
    assert view.tokens == {"input_tokens": 50, "output_tokens": 12, "total_tokens": 62}
    assert view.cost == pytest.approx(50 * 0.15e-6 + 12 * 0.60e-6)
    (root,) = view.roots
    retrieve, llm, tool = root.children
    assert [n.kind for n in (root, retrieve, llm, tool)] == ["AGENT", "RETRIEVER", "LLM", "TOOL"]
    assert retrieve.documents == [
        Document("Order A-1001 shipped with DHL.", 0.92, "d1"),
        Document("Returns take 14 days.", 0.41, "d2"),
    ]
    assert llm.input_messages == [
        Message("system", "You answer order questions."),
        Message("user", "Where is my order A-1001?"),
    ]
    assert llm.output_messages == [Message("assistant", "It shipped with DHL.")]
    assert (llm.model, llm.tokens, llm.duration_ms) == (
        "gpt-4o-mini",
        {"input_tokens": 50, "output_tokens": 12, "total_tokens": 62},
        800.0,
    )
    assert (tool.status, tool.error) == ("ERROR", "TimeoutError: order service timed out")
    assert [n.name for n in view.errors] == ["lookup_order"]
    assert user_text(view) == "Where is my order A-1001?"
    assert reply_text(view) == "Your order A-1001 shipped with DHL."


def test_show_returns_html_for_notebooks(known: Known) -> None:
    trace = Store(known.uri, known.experiment).get_trace(known.first)
    display = llmtrace.show(trace, html=True)
    assert isinstance(display, TraceDisplay)
    html = display._repr_html_()
    assert html.startswith("<style>") and 'class="llmtrace-view"' in html
    for name in ("chat_turn", "retrieve", "chat gpt-4o-mini", "lookup_order"):
        assert f">{name}</span>" in html
    assert "<html" not in html  # a fragment for the notebook's cell
    assert repr(display) == f"<TraceDisplay {known.first} 'chat_turn': 4 spans, OK>"
    buffer = StringIO()
    Console(file=buffer, width=100, no_color=True).print(display)
    assert buffer.getvalue().startswith(f"trace {known.first}  chat_turn  OK\n")
    assert display.text(100) == buffer.getvalue().rstrip("\n")


def test_html_document_is_self_contained(known: Known) -> None:
    view = build(Store(known.uri, known.experiment).get_trace(known.first))
    page = html_document(view)
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>\n")
    assert not re.search(r"(src|href)\s*=", page)  # no script, style or font from elsewhere
    assert page.count('<details class="span') == 4
    assert page.count("</details>") == page.count("<details")
    # the failed span, the chat call and their ancestors start open, the rest of the tree closed
    opened = re.findall(r'<details class="span[^"]*" data-span-id="[^"]+" open>', page)
    assert len(opened) == 3 and "k-RETRIEVER" not in "".join(opened)


def test_show_by_id_uses_the_configured_store(known: Known) -> None:
    llmtrace.configure(tracking_uri=known.uri, experiment=known.experiment)
    buffer = StringIO()
    llmtrace.show(known.second, console=Console(file=buffer, width=100, no_color=True))
    lines = buffer.getvalue().splitlines()
    assert lines[0] == f"trace {known.second}  chat_turn  OK"
    assert lines[1] == (
        "started 2026-01-02 03:05:05 UTC · 400.0 ms · 2 spans · 100 tokens (80 in, 20 out) "
        "· $0.000024"
    )
    with pytest.raises(llmtrace.TraceNotFoundError):
        llmtrace.show("tr-00000000000000000000000000000000", html=True)


def test_a_big_trace_stays_small_on_screen(known: Known) -> None:
    """Collapsing: 4,950 spans (49 steps of 100 tool calls) fit in under 100 lines.

    Shown: the first two steps, a summary of the 46 others, the last step; in each shown step
    the first two calls, a summary of the 97 others (1 ms each), the last call.
    """
    from tests.views.conftest import _timed_span

    llmtrace.configure(tracking_uri=known.uri, experiment="big", schedule_delay_ms=20)
    with _timed_span("agent", "AGENT", 0, 50 * 101) as root:
        for step in range(49):
            with _timed_span("step", "CHAIN", step * 101, step * 101 + 100, root) as parent:
                for call in range(100):
                    start = step * 101 + call
                    with _timed_span("tool", "TOOL", start, start + 1, parent) as tool:
                        tool.set_inputs({"call": call})
        trace_id = root.trace_id
    assert llmtrace.flush(120)
    view = build(Store(known.uri, "big").get_trace(trace_id))
    assert view.span_count == 1 + 49 + 49 * 100
    lines = tree_lines(view, 120, TreeOptions())
    text = [("".join(t for t, _ in line)) for line in lines]
    assert sum("… 97 more 'tool' (TOOL) spans, 97.0 ms in total" in t for t in text) == 3
    assert sum("… 46 more 'step' (CHAIN) spans, 4.60 s in total" in t for t in text) == 1
    assert len(lines) < 100
    everything = tree_lines(view, 120, TreeOptions(collapse=0))
    assert sum(1 for t in everything if "── tool" in "".join(p for p, _ in t)) == 4900
    shallow = tree_lines(view, 120, TreeOptions(depth=2, collapse=0))
    assert sum(1 for t in shallow if "… 100 span(s) below (--depth)" in "".join(p for p, _ in t))


def test_filters_and_formats() -> None:
    assert build_filter(session="conv-42", status="error") == (
        "metadata.`mlflow.trace.session` = 'conv-42' AND status = 'ERROR'"
    )
    assert build_filter(name="chat_%", user="o'neil") == (
        "metadata.`mlflow.trace.user` = \"o'neil\" AND name LIKE 'chat_%'"
    )
    assert build_filter() is None
    assert since_ms("2h", now=10_000.0) == 2_800_000
    assert since_ms("2026-01-02") == 1767312000000
    with pytest.raises(llmtrace.LLMTraceError, match="--since 'soon'"):
        since_ms("soon")
    with pytest.raises(llmtrace.LLMTraceError, match="--status 'meh'"):
        build_filter(status="meh")
    assert [duration(x) for x in (0.5, 13.14, 2345, 185_000)] == [
        "500 µs",
        "13.1 ms",
        "2.35 s",
        "3m 05s",
    ]
    assert bar(5, 10, 0, 10, 10) == "·····█████"
    assert bar(0, 0, 0, 10, 10) == "█·········"  # an instant still gets one cell


def test_errors_are_red_on_a_colour_terminal(known: Known) -> None:
    view = build(Store(known.uri, known.experiment).get_trace(known.first))
    buffer = StringIO()
    console = Console(file=buffer, width=100, force_terminal=True, color_system="standard")
    console.print(TraceDisplay(view))
    out = buffer.getvalue()
    red, bold_red = "\x1b[31m", "\x1b[1;31m"
    assert f"{bold_red}lookup_order" in out
    assert f"{bold_red}ERROR\x1b[0m" in out
    assert f"{red}TimeoutError: order service timed out\x1b[0m" in out
    assert out.count(bold_red + "ERROR") == 1  # the other spans are not marked
