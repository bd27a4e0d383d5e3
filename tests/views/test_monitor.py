"""`llmtrace monitor`: figures worked out by hand on a store with fixed times, both read paths.

The store (tests/views/monitor_store.py) holds seven agent traces in [T0, T0 + 4 h) and two
outside it. By hand, with the nearest-rank percentile (rank ceil(p/100 * n)):
latencies 100 200 300 400 500 600 1000 ms → p50 = 4th = 400, p95 = p99 = 7th = 1000; errors
2 of 7; tokens 10+20+...+70 = 280; cost 0.28.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmtrace.views._monitor import render, sparkline, summarise
from llmtrace.views._monitor_check import ConditionError, parse_condition
from llmtrace.views._store import Store, StoreError
from tests.views.monitor_store import AGENT_CALLS, HOUR_MS, T0_MS, write

UNTIL = T0_MS + 4 * HOUR_MS
SINCE = "2026-11-30T00:00:00"


@pytest.fixture(scope="module")
def agent_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    uri = f"sqlite:///{tmp_path_factory.mktemp('monitor') / 'mlflow.db'}"
    assert write(uri, "agent", AGENT_CALLS) == len(AGENT_CALLS)
    return uri


def _summary(uri: str, by: str, use_sql: bool | None = None):
    return summarise(
        Store(uri, "agent"), since=SINCE, every="1h", by=by, until_ms=UNTIL, use_sql=use_sql
    )


def _row(f) -> tuple:
    return (f.key, f.count, f.errors, f.p50_ms, f.p95_ms, f.p99_ms, f.tokens, round(f.cost_usd, 9))


def test_total_and_buckets_equal_the_hand_computed_figures(agent_store: str) -> None:
    summary = _summary(agent_store, "span")
    assert summary.source == "sql"
    assert _row(summary.total) == ("all", 7, 2, 400.0, 1000.0, 1000.0, 280, 0.28)
    hour = [str(T0_MS + h * HOUR_MS) for h in range(4)]
    # hour 0: 100, 300 (error), 200 ms; hour 1: 400, 500; hour 2: nothing; hour 3: 1000 (error), 600
    assert [_row(b) for b in summary.buckets] == [
        (hour[0], 3, 1, 200.0, 300.0, 300.0, 60, 0.06),
        (hour[1], 2, 0, 400.0, 500.0, 500.0, 90, 0.09),
        (hour[3], 2, 1, 600.0, 1000.0, 1000.0, 130, 0.13),
    ]


EXPECTED_GROUPS = {
    # spans: search 20, 40 (error), 30; agent = the traces; chat = half of each trace's latency
    "span": [
        ("search", 3, 1, 30.0, 40.0, 40.0, 0, 0.0),
        ("agent", 7, 2, 400.0, 1000.0, 1000.0, 0, 0.0),
        ("chat", 7, 1, 200.0, 500.0, 500.0, 280, 0.28),
        ("lookup", 1, 0, 10.0, 10.0, 10.0, 0, 0.0),
    ],
    # chat spans: gpt-a 50, 150 (error), 250, 500; gpt-b 100, 200, 300
    "model": [
        ("gpt-a", 4, 1, 150.0, 500.0, 500.0, 140, 0.14),
        ("gpt-b", 3, 0, 200.0, 300.0, 300.0, 140, 0.14),
    ],
    "tool": [
        ("search", 3, 1, 30.0, 40.0, 40.0, 0, 0.0),
        ("lookup", 1, 0, 10.0, 10.0, 10.0, 0, 0.0),
    ],
    # traces: s1 100, 300 (error); s2 200, 400; s3 500, 1000 (error); the 7th has no session
    "session": [
        ("s3", 2, 1, 500.0, 1000.0, 1000.0, 110, 0.11),
        ("s1", 2, 1, 100.0, 300.0, 300.0, 30, 0.03),
        ("s2", 2, 0, 200.0, 400.0, 400.0, 70, 0.07),
    ],
    "user": [
        ("alice", 4, 2, 300.0, 1000.0, 1000.0, 140, 0.14),
        ("bob", 2, 0, 200.0, 400.0, 400.0, 70, 0.07),
    ],
}


@pytest.mark.parametrize("by", list(EXPECTED_GROUPS))
def test_groups_worst_first_equal_the_hand_computed_figures(agent_store: str, by: str) -> None:
    summary = _summary(agent_store, by)
    assert [_row(g) for g in summary.groups] == EXPECTED_GROUPS[by]


def test_group_trend_is_its_p95_per_bucket(agent_store: str) -> None:
    groups = {g.key: g for g in _summary(agent_store, "user").groups}
    assert groups["alice"].trend == [300.0, 500.0, None, 1000.0]
    assert groups["bob"].trend == [200.0, 400.0, None, None]


@pytest.mark.parametrize("by", list(EXPECTED_GROUPS))
def test_sql_and_mlflow_client_give_the_same_figures(agent_store: str, by: str) -> None:
    sql, client = _summary(agent_store, by, use_sql=True), _summary(agent_store, by, use_sql=False)
    assert (sql.source, client.source) == ("sql", "client")
    for a, b in [(sql.total, client.total), *zip(sql.buckets, client.buckets, strict=True),
                 *zip(sql.groups, client.groups, strict=True)]:  # fmt: skip
        assert _row(a) == _row(b)
        assert a.trend == b.trend


def test_the_sql_path_opens_the_file_read_only(agent_store: str) -> None:
    path = Path(agent_store.removeprefix("sqlite:///"))
    before = path.stat().st_mtime_ns, path.read_bytes()
    _summary(agent_store, "model")
    assert (path.stat().st_mtime_ns, path.read_bytes()) == before
    assert not Path(f"{path}-journal").exists() and not Path(f"{path}-wal").exists()


def test_unknown_experiment_and_bad_options_are_one_line_errors(agent_store: str) -> None:
    with pytest.raises(StoreError, match=r"no experiment 'nope'.*'agent'"):
        summarise(Store(agent_store, "nope"), since=SINCE, until_ms=UNTIL)
    with pytest.raises(StoreError, match="--by 'color'"):
        summarise(Store(agent_store, "agent"), since=SINCE, by="color", until_ms=UNTIL)
    with pytest.raises(StoreError, match="--every 'often'"):
        summarise(Store(agent_store, "agent"), since=SINCE, every="often", until_ms=UNTIL)


def test_render_fits_80_columns(agent_store: str) -> None:
    from rich.console import Console

    for by in EXPECTED_GROUPS:
        console = Console(width=80, record=True, color_system=None)
        console.print(render(_summary(agent_store, by), 80))
        text = console.export_text()
        assert max(len(line) for line in text.splitlines()) <= 80
        assert "traces 7" in text and "p95 1.0 s" in text and "cost $0.2800" in text
        first_group = EXPECTED_GROUPS[by][0][0]
        assert first_group in text


def test_sparkline_scales_to_the_largest() -> None:
    assert sparkline([0.0, 4.0, None, 8.0]) == "▁▄ █"
    assert sparkline([None, None]) == "  "


@pytest.mark.parametrize(
    ("text", "held"),
    [
        ("error_rate > 0.05", True),
        ("error_rate > 30%", False),
        ("p95_ms > 2000", False),
        ("p95_ms >= 1000 and traces == 7", True),
        ("cost_usd > 10 or tokens > 279", True),
        ("cost_usd > 10 or tokens > 280", False),
    ],
)
def test_fail_if_conditions(agent_store: str, text: str, held: bool) -> None:
    from llmtrace.views._monitor_figures import METRICS

    total = _summary(agent_store, "span").total
    assert parse_condition(text).holds({m: total.value(m) for m in METRICS})[0] is held


@pytest.mark.parametrize(
    "text", ["", "error_rate >", "latency > 5", "p95_ms 2000", "error_rate > 0.05 xor p95_ms > 1",
             "__import__('os') > 1", "p95_ms > 1; rm"],
)  # fmt: skip
def test_bad_fail_if_is_a_one_line_error(text: str) -> None:
    with pytest.raises(ConditionError) as info:
        parse_condition(text)
    assert "\n" not in str(info.value)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "llmtrace", "monitor", *args],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_cli_json_and_fail_if_exit_codes(agent_store: str) -> None:
    window = ["--tracking-uri", agent_store, "-e", "agent", "--since", SINCE, "--every", "1d"]
    # the window runs to now: the trace 241 min after T0 is in it too (8 traces, 3 errors)
    done = _cli(*window, "--json", "--by", "model")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (data["total"]["count"], data["total"]["errors"], data["source"]) == (8, 3, "sql")
    assert [g["key"] for g in data["groups"]] == ["gpt-a", "gpt-b"]
    failing = _cli(*window, "--fail-if", "error_rate > 0.05")
    assert failing.returncode == 1 and "error_rate 0.375 > 0.05" in failing.stderr
    assert "traces 8" in failing.stdout
    assert _cli(*window, "--fail-if", "error_rate > 0.5").returncode == 0
    bad = _cli(*window, "--fail-if", "error_rate >> 1")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and bad.stderr.startswith("error:")
    missing = _cli("--tracking-uri", agent_store, "-e", "nope")
    assert missing.returncode == 1 and missing.stderr.startswith("error: no experiment 'nope'")


@pytest.mark.slow
def test_a_server_gives_the_same_figures_through_mlflows_client(mlflow_server: str) -> None:
    experiment = f"agent-{os.getpid()}-{id(mlflow_server)}"  # the server is shared by the session
    assert write(mlflow_server, experiment, AGENT_CALLS) == len(AGENT_CALLS)
    for by in ("span", "user"):
        summary = summarise(
            Store(mlflow_server, experiment), since=SINCE, every="1h", by=by, until_ms=UNTIL
        )
        assert summary.source == "client"
        assert _row(summary.total) == ("all", 7, 2, 400.0, 1000.0, 1000.0, 280, 0.28)
        assert [_row(g) for g in summary.groups] == EXPECTED_GROUPS[by]
