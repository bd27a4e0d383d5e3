"""`llmtrace report --html`: one self-contained page of charts, each with the table behind it.

Latency percentiles and error rate over time, tokens and cost per day and per model, the
slowest and the failing span names, sessions per user, the scores of recent evaluation runs and
of continuously scored traces (`evals.watch`). The charts are matplotlib SVG inlined in the
page, the figures are also embedded as JSON (``<script id="llmtrace-report-data">``), and the
page loads nothing: it opens offline.

Example:
    >>> page = report_html(Store("sqlite:///mlflow.db"), since="7d")        # doctest: +SKIP
    >>> Path("report.html").write_text(page)
"""

from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from . import _report_charts as charts
from ._monitor import duration_ms, ms, summarise, usd
from ._monitor_figures import Figures, Summary
from ._report_data import Extras, client_extras, sql_available, sql_extras, to_json
from ._store import Store, since_ms

DAY_MS = 86_400_000
TOP = 10


@dataclass(frozen=True)
class ReportData:
    """Every figure of a report: the time series, the per-day model view, the spans, the rest."""

    over_time: Summary
    """Buckets of ``every`` (groups: span names)."""
    per_day: Summary
    """Day buckets, groups: models (cells: each model per day)."""
    extras: Extras

    def to_json(self) -> dict[str, Any]:
        per_day_models = {
            model: {str(day): cell.to_json() for day, cell in sorted(days.items())}
            for model, days in self.per_day.cells.items()
        }
        return {
            "over_time": self.over_time.to_json(),
            "per_day": {**self.per_day.to_json(), "cells": per_day_models},
            **to_json(self.extras),
        }


def _default_every(window_ms: int) -> str:
    if window_ms <= 2 * DAY_MS:
        return "1h"
    return "6h" if window_ms <= 14 * DAY_MS else "1d"


def collect(
    store: Store,
    *,
    since: str = "7d",
    every: str | None = None,
    until_ms: int | None = None,
    use_sql: bool | None = None,
) -> ReportData:
    """The report's figures (SQLite aggregates when it can, MLflow's client otherwise)."""
    until = int(time.time() * 1000) if until_ms is None else until_ms
    every = every or _default_every(until - since_ms(since, now=until / 1000))
    common = {"since": since, "until_ms": until, "use_sql": use_sql}
    over_time = summarise(store, every=every, by="span", **common)
    per_day = summarise(store, every="1d", by="model", **common)
    window = {
        "since_ms": over_time.since_ms,
        "until_ms": until,
        "every_ms": duration_ms(every),
    }
    extras = None
    if over_time.source == "sql":
        from . import _monitor_sql

        path = _monitor_sql.sqlite_path(store.tracking_uri)
        assert path is not None
        with _monitor_sql.connect(path) as conn:
            if sql_available(conn):
                exp_id = _monitor_sql.experiment_id(conn, over_time.experiment, store.tracking_uri)
                extras = sql_extras(conn, exp_id, **window)
    if extras is None:
        store = store.through_mlflow()
        traces = store.search(
            f"timestamp_ms >= {window['since_ms']} AND timestamp_ms < {until}",
            max_results=10_000_000,
        )
        extras = client_extras(store, traces, **window)
    return ReportData(over_time, per_day, extras)


def _day(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    if not rows:
        body = f'<tr><td colspan="{len(headers)}" class="none">no data in this window</td></tr>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(key: str, title: str, chart: str, table: str, note: str = "") -> str:
    note_html = f'<p class="note">{html.escape(note)}</p>' if note else ""
    return (
        f'<section class="chart" id="chart-{key}" data-chart="{key}">'
        f"<h2>{html.escape(title)}</h2>{note_html}<figure>{chart}</figure>"
        f"<details open><summary>table</summary><div class='rows'>{table}</div></details></section>"
    )


def _when(epoch_ms: int, every_ms: int) -> str:
    return _day(epoch_ms).strftime("%Y-%m-%d" if every_ms >= DAY_MS else "%Y-%m-%d %H:%M")


def _sections(data: ReportData) -> list[str]:
    over, per_day, extras = data.over_time, data.per_day, data.extras
    every = over.every_ms
    by_start = {int(b.key): b for b in over.buckets}
    starts = over.bucket_starts()
    times = [_day(s) for s in starts]
    window = (_day(starts[0]) if starts else _day(over.since_ms), _day(over.until_ms))

    def series(attr: str) -> list[float | None]:
        return [getattr(by_start[s], attr) if s in by_start else None for s in starts]

    out = []
    out.append(
        _section(
            "latency",
            "Latency percentiles over time (traces)",
            charts.line_chart(
                "trace latency (ms)",
                times,
                {p: series(f"{p}_ms") for p in ("p50", "p95", "p99")},
                "ms",
                window,
            ),
            _table(
                ["bucket (UTC)", "traces", "p50", "p95", "p99"],
                [
                    [
                        _when(int(b.key), every),
                        f"{b.count:,}",
                        ms(b.p50_ms),
                        ms(b.p95_ms),
                        ms(b.p99_ms),
                    ]
                    for b in over.buckets
                ],
            ),
        )
    )
    out.append(
        _section(
            "errors",
            "Error rate over time (traces)",
            charts.bar_chart(
                "traces that failed (%)",
                [_day(int(b.key)) for b in over.buckets],
                [100 * b.error_rate for b in over.buckets],
                "%",
                every / DAY_MS,
                window,
            ),
            _table(
                ["bucket (UTC)", "traces", "errors", "error rate"],
                [
                    [
                        _when(int(b.key), every),
                        f"{b.count:,}",
                        f"{b.errors:,}",
                        f"{b.error_rate:.1%}",
                    ]
                    for b in over.buckets
                ],
            ),
        )
    )
    days = sorted({day for cells in per_day.cells.values() for day in cells})
    models = [g.key for g in sorted(per_day.groups, key=lambda g: (-g.tokens, g.key))]

    def per_model(attr: str) -> dict[str, list[float]]:
        return {
            m: [float(getattr(per_day.cells[m][d], attr)) if d in per_day.cells[m] else 0.0
                for d in days]
            for m in models
        }  # fmt: skip

    model_rows = [
        [_when(d, DAY_MS), m, f"{per_day.cells[m][d].count:,}", f"{per_day.cells[m][d].tokens:,}",
         usd(per_day.cells[m][d].cost_usd)]
        for d in days for m in models if d in per_day.cells[m]
    ]  # fmt: skip
    model_table = _table(["day (UTC)", "model", "calls", "tokens", "cost"], model_rows)
    day_times = [_day(d) for d in days]
    first_day = per_day.since_ms - per_day.since_ms % DAY_MS
    last_day = per_day.until_ms - per_day.until_ms % DAY_MS + DAY_MS
    day_window = (_day(first_day), _day(last_day))
    out.append(
        _section(
            "tokens",
            "Tokens per day and model",
            charts.stacked_bars(
                "tokens", day_times, per_model("tokens"), "tokens", 1.0, day_window
            ),
            model_table,
        )
    )
    out.append(
        _section(
            "cost",
            "Cost per day and model",
            charts.stacked_bars(
                "cost (USD)", day_times, per_model("cost_usd"), "USD", 1.0, day_window
            ),
            model_table,
        )
    )
    slowest = sorted(over.groups, key=lambda g: (-(g.p95_ms or 0.0), g.key))[:TOP]
    out.append(
        _section(
            "slowest-spans",
            "Slowest span names (p95)",
            charts.hbar_chart(
                "p95 latency (ms)",
                [g.key for g in slowest],
                [g.p95_ms or 0 for g in slowest],
                "ms",
            ),
            _spans_table(slowest),
        )
    )
    failing = sorted((g for g in over.groups if g.errors), key=lambda g: (-g.errors, g.key))[:TOP]
    out.append(
        _section(
            "failing-spans",
            "Failing span names",
            charts.hbar_chart(
                "failed spans", [g.key for g in failing], [g.errors for g in failing], "spans"
            ),
            _spans_table(failing),
        )
    )
    users = extras.users[: TOP * 2]
    out.append(
        _section(
            "users",
            "Sessions per user",
            charts.hbar_chart(
                "sessions", [u.user for u in users], [u.sessions for u in users], "sessions"
            ),
            _table(
                ["user", "sessions", "traces"],
                [[u.user, f"{u.sessions:,}", f"{u.traces:,}"] for u in users],
            ),
        )
    )
    runs = list(reversed(extras.runs))  # oldest of the recent ones first
    metrics = sorted({m for r in runs for m in r.means})
    out.append(
        _section(
            "eval-runs",
            "Evaluation scores of recent runs",
            charts.grouped_bars(
                "mean score per run",
                [r.name for r in runs],
                {m: [r.means.get(m, 0.0) for r in runs] for m in metrics},
            ),
            _table(
                ["run", "started (UTC)", "metric", "mean"],
                [
                    [r.name, _when(r.start_ms, 60_000), m, f"{r.means[m]:.3f}"]
                    for r in runs
                    for m in sorted(r.means)
                ],
            ),
            "runs tagged llmtrace.evaluation in this experiment (any date)",
        )
    )
    names = sorted({s.name for s in extras.scores})
    buckets = sorted({s.bucket_ms for s in extras.scores})
    by_key = {(s.bucket_ms, s.name): s for s in extras.scores}
    out.append(
        _section(
            "watch-scores",
            "Scores of continuously scored traces (llmtrace eval watch)",
            charts.line_chart(
                "mean score of the traces started in each bucket",
                [_day(b) for b in buckets],
                {
                    n: [by_key[(b, n)].mean if (b, n) in by_key else None for b in buckets]
                    for n in names
                },
                "mean score",
                window,
            ),
            _table(
                ["bucket (UTC)", "score", "traces scored", "mean"],
                [
                    [_when(s.bucket_ms, every), s.name, f"{s.n:,}", f"{s.mean:.3f}"]
                    for s in extras.scores
                ],
            ),
        )
    )
    return out


def _spans_table(groups: list[Figures]) -> str:
    return _table(
        ["span", "spans", "errors", "p50", "p95", "p99"],
        [[g.key, f"{g.count:,}", f"{g.errors:,}", ms(g.p50_ms), ms(g.p95_ms), ms(g.p99_ms)]
         for g in groups],
    )  # fmt: skip


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d1d1f;
background:#f6f6f8}
header{padding:18px 28px;background:#fff;border-bottom:1px solid #e3e3e8}
header h1{margin:0 0 4px;font-size:20px} header p{margin:0;color:#555}
.totals{display:flex;flex-wrap:wrap;gap:10px;margin-top:12px}
.totals div{background:#f1f3f9;border-radius:6px;padding:6px 12px}
.totals b{display:block;font-size:18px}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:16px;padding:16px}
section{background:#fff;border:1px solid #e3e3e8;border-radius:8px;padding:12px 16px}
section h2{font-size:15px;margin:0 0 6px} figure{margin:0} figure svg{width:100%;height:auto}
.note{color:#666;margin:0;font-size:12px}
table{border-collapse:collapse;width:100%;font-size:12px;margin-top:6px}
th,td{border-bottom:1px solid #eee;padding:3px 6px;text-align:right}
th:first-child,td:first-child{text-align:left} td.none{text-align:center;color:#888}
details summary{cursor:pointer;color:#555;font-size:12px}
.rows{max-height:230px;overflow:auto}
"""


def render_html(data: ReportData) -> str:
    """The report page."""
    over = data.over_time
    t = over.total
    window = f"{_when(over.since_ms, 60_000)} → {_when(over.until_ms, 60_000)} UTC"
    totals = "".join(
        f"<div>{html.escape(label)}<b>{html.escape(value)}</b></div>"
        for label, value in (
            ("traces", f"{t.count:,}"),
            ("error rate", f"{t.error_rate:.1%}"),
            ("p50", ms(t.p50_ms)),
            ("p95", ms(t.p95_ms)),
            ("p99", ms(t.p99_ms)),
            ("tokens", f"{t.tokens:,}"),
            ("cost", usd(t.cost_usd)),
        )
    )
    payload = json.dumps(data.to_json(), separators=(",", ":")).replace("</", "<\\/")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>llmtrace report — {html.escape(over.experiment)}</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<header><h1>llmtrace report — {html.escape(over.experiment)}</h1>"
        f"<p>{html.escape(window)} · {html.escape(over.tracking_uri)}</p>"
        f"<div class='totals'>{totals}</div></header>"
        f"<main>{''.join(_sections(data))}</main>"
        f"<script type='application/json' id='llmtrace-report-data'>{payload}</script>"
        "</body></html>\n"
    )


def report_html(store: Store, **options: Any) -> str:
    """`collect` then `render_html`."""
    return render_html(collect(store, **options))
