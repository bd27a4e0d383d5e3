"""`traces list` shows the store's duration (MLflow's whole milliseconds, as `log_spans` stores
it: the difference of the whole-millisecond start and end), `traces show` the spans' own time,
and sub-millisecond times read in µs, never ``0.00 ms``."""

from __future__ import annotations

import json
import re

import llmtrace
from tests.views.conftest import T0, Known, _timed_span
from tests.views.test_cli_views import run


def _trace(start_ms: float, end_ms: float, child: tuple[float, float] | None = None) -> str:
    t0 = T0 + 3_600_000_000_000  # an hour after the known conversation
    with _timed_span("timed", "CHAIN", start_ms, end_ms, t0=t0) as root:
        if child is not None:
            with _timed_span("quick", "TOOL", *child, parent=root, t0=t0):
                pass
        return root.trace_id or ""


def test_list_shows_the_stored_duration_and_small_times_read_in_microseconds(known: Known) -> None:
    llmtrace.configure(tracking_uri=known.uri, experiment="durations", schedule_delay_ms=20)
    # 0.8 ms -> 2.2 ms: 1.4 ms of spans; the store keeps whole milliseconds 0 and 2: "2 ms"
    slow = _trace(0.8, 2.2, child=(1.0, 1.03))
    tiny = _trace(10.10, 10.13)  # 30 µs
    assert llmtrace.flush(30)
    code, out, _ = run(known, "traces", "list", "--json", experiment="durations")
    assert code == 0
    listed = {t["trace_id"]: t["duration_ms"] for t in json.loads(out)}
    assert listed == {slow: 2.0, tiny: 0.0}  # what MLflow's own log_spans would store

    _, table, _ = run(known, "traces", "list", width=120, experiment="durations")
    cells = {line.split()[0]: line for line in table.splitlines()[1:]}
    assert re.search(r"\s2 ms(\s|$)", cells[slow]) and re.search(r"\s<1 ms(\s|$)", cells[tiny])
    assert "0.00 ms" not in table

    _, shown, _ = run(known, "traces", "show", slow, width=120, experiment="durations")
    assert "· 1.4 ms ·" in shown  # the header: the spans' own time
    assert re.search(r"quick\s+TOOL\s+30 µs", shown), shown
    _, shown, _ = run(known, "traces", "show", tiny, width=120, experiment="durations")
    assert "· 30 µs ·" in shown and "0.00 ms" not in shown
