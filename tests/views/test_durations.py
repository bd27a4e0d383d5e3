"""A trace's duration reads the same in `traces list`, `traces tail` and `traces show`: its
spans' time (first start to last end, in ns), not the store's whole milliseconds; and
sub-millisecond times read in µs, never ``0.00 ms``."""

from __future__ import annotations

import json
import re

import pytest

import llmtrace
from llmtrace.views import _format as fmt
from llmtrace.views._model import build, span_window, trace_summary
from llmtrace.views._store import Store
from tests.views.conftest import T0, Known, _timed_span
from tests.views.test_cli_views import run


def _trace(start_ms: float, end_ms: float, child: tuple[float, float] | None = None) -> str:
    t0 = T0 + 3_600_000_000_000  # an hour after the known conversation
    with _timed_span("timed", "CHAIN", start_ms, end_ms, t0=t0) as root:
        if child is not None:
            with _timed_span("quick", "TOOL", *child, parent=root, t0=t0):
                pass
        return root.trace_id or ""


@pytest.fixture(scope="module")
def timed(known: Known) -> dict[str, str]:
    """Two traces in experiment ``durations``: 1.4 ms (the store keeps "2 ms") and 30 µs."""
    llmtrace.configure(tracking_uri=known.uri, experiment="durations", schedule_delay_ms=20)
    # 0.8 ms -> 2.2 ms: 1.4 ms of spans; the store keeps whole milliseconds 0 and 2: "2 ms"
    slow = _trace(0.8, 2.2, child=(1.0, 1.03))
    tiny = _trace(10.10, 10.13)  # 30 µs
    assert llmtrace.flush(30)
    return {"slow": slow, "tiny": tiny}


def test_list_and_show_give_the_spans_duration(known: Known, timed: dict[str, str]) -> None:
    slow, tiny = timed["slow"], timed["tiny"]
    stored = {
        t.info.trace_id: t.info.execution_duration for t in Store(known.uri, "durations").search()
    }
    assert stored == {slow: 2, tiny: 0}  # what the store keeps: whole milliseconds

    code, out, _ = run(known, "traces", "list", "--json", experiment="durations")
    assert code == 0
    listed = {t["trace_id"]: t["duration_ms"] for t in json.loads(out)}
    assert listed == {slow: pytest.approx(1.4), tiny: pytest.approx(0.03)}

    _, table, _ = run(known, "traces", "list", width=120, experiment="durations")
    cells = {line.split()[0]: line for line in table.splitlines()[1:]}
    for trace_id, text in ((slow, "1.4 ms"), (tiny, "30 µs")):
        assert re.search(rf"\s{text}(\s|$)", cells[trace_id]), cells[trace_id]
        _, shown, _ = run(known, "traces", "show", trace_id, width=120, experiment="durations")
        assert f"· {text} ·" in shown, shown  # the header: the same text
        assert re.search(rf"timed\s+CHAIN\s+{text}\s", shown), shown  # the root's row
    assert "0.00 ms" not in table
    _, shown, _ = run(known, "traces", "show", slow, width=120, experiment="durations")
    assert re.search(r"quick\s+TOOL\s+30 µs", shown), shown


def test_both_read_paths_give_list_and_show_the_same_duration(
    known: Known, timed: dict[str, str]
) -> None:
    """The fast path reads the spans table; MLflow's client, the spans it loaded."""
    fast, slow = Store(known.uri, "durations"), Store(known.uri, "durations").through_mlflow()
    shown = {t: build(fast.get_trace(t)).duration_ms for t in timed.values()}
    assert shown == {t: build(slow.get_trace(t)).duration_ms for t in timed.values()}
    assert {v.trace_id: v.duration_ms for v in fast.summaries()} == shown
    with_spans = slow.search(include_spans=True)
    assert {
        t.info.trace_id: trace_summary(t.info, span_window(t.data.spans)).duration_ms
        for t in with_spans
    } == shown
    # without spans, MLflow's client has only the store's whole milliseconds
    assert {v.trace_id: v.duration_ms for v in slow.summaries()} == {
        timed["slow"]: 2.0,
        timed["tiny"]: 0.0,
    }


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "0 µs"),
        (0.0004, "<1 µs"),
        (0.03, "30 µs"),
        (0.9996, "1.0 ms"),
        (1.4, "1.4 ms"),
        (999.96, "1.00 s"),
        (2345, "2.35 s"),
        (59_996, "1m 00s"),
        (None, "-"),
    ],
)
def test_durations_never_read_zero_milliseconds(ms: float | None, text: str) -> None:
    assert fmt.duration(ms) == text
