"""Output to a pipe or file is written without rich (`_lines.plain_text`): the same characters
a rich console prints there, at the width rich would take."""

from __future__ import annotations

from io import StringIO

import pytest
from rich.console import Console

from llmtrace.views._lines import (
    Line,
    Lines,
    line_text,
    plain_text,
    plain_width,
    rich_would_style,
)
from llmtrace.views._model import build
from llmtrace.views._sessions import summarize_sessions
from llmtrace.views._store import Store
from llmtrace.views._tables import sessions_table, traces_table
from llmtrace.views._terminal import TreeOptions, tree_lines
from llmtrace.views._transcript import transcript_lines
from tests.views.conftest import Known

ODD: list[Line] = [
    [("日本語 ✓ 🎉 ", "bold"), ("x" * 200, "red")],  # wide characters; longer than any width
    [("   ", "dim")],
    [],
    [("trailing   ", "cyan"), ("  ", "")],
    [("a", ""), ("b" * 79, "green"), ("c", "bold red")],
]


def _rich(lines: list[Line], width: int) -> str:
    out = StringIO()
    Console(file=out, width=width, highlight=False, force_terminal=False).print(Lines(lines))
    return out.getvalue()


@pytest.mark.parametrize("width", [60, 80, 120])
def test_plain_text_is_what_rich_prints(known: Known, width: int) -> None:
    store = Store(known.uri, known.experiment)
    trace = build(store.get_trace(known.first))
    views = store.summaries()
    blocks = [
        traces_table(views, width),
        sessions_table(summarize_sessions(views), width),
        tree_lines(trace, width, TreeOptions()),
        tree_lines(trace, width, TreeOptions(full=True)),
        transcript_lines("conv-1", [build(store.get_trace(v.trace_id)) for v in views], width),
        ODD[1:],
    ]
    for lines in blocks:
        assert plain_text(lines, width) == _rich(lines, width)
    for line in ODD:
        text = plain_text([line], width)
        assert text is None if "🎉" in line_text(line) else text == _rich([line], width)


def test_text_rich_measures_otherwise_is_left_to_rich() -> None:
    for odd in ("日本語", "🎉", "e\u0301", "tab\there", "\u00ad"):
        assert plain_text([[("ok ", ""), (odd, "")]], 80) is None, odd
    narrow = [[("zoë · réponse │ 1.4 ms ✗ → … ñ ß Ł ɏ µ ▁▂▃▄▅▆▇█ — ✓", "")]]
    assert plain_text(narrow, 80) == _rich(narrow, 80)
    assert plain_text(narrow, 20) == _rich(narrow, 20)


@pytest.mark.parametrize("columns", [None, "55", "132", "wide"])
def test_plain_width_is_richs(monkeypatch: pytest.MonkeyPatch, columns: str | None) -> None:
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert plain_width() == Console().width


@pytest.mark.parametrize(
    ("env", "styled"),
    [({}, False), ({"FORCE_COLOR": "1"}, True), ({"FORCE_COLOR": ""}, False),
     ({"TTY_COMPATIBLE": "1"}, True), ({"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"}, False)],
)  # fmt: skip
def test_styles_are_left_to_rich_when_it_would_use_them(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], styled: bool
) -> None:
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("sys.stdout", StringIO())  # not a terminal
    assert rich_would_style() is styled is Console().is_terminal
