"""`llmtrace monitor`: how traffic, errors, latency, tokens and cost moved over a time window.

`summarise` picks the read path (SQLite aggregates on a read-only connection when the store is
a checked SQLite file, MLflow's client otherwise) and returns a `Summary`; `render` draws it
for a terminal of 80 columns or more with rich: the window's totals with sparklines, one row per
time bucket, and the groups (``--by``) worst first, each with its p95 trend.

Example:
    >>> summary = summarise(Store("sqlite:///mlflow.db"), since="24h", every="1h", by="model")
    >>> summary.total.p95_ms, summary.groups[0].key                    # doctest: +SKIP
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from ._monitor_figures import GROUPINGS, Aggregate, Figures, Summary, worst_first
from ._store import Store, StoreError, since_ms

_BLOCKS = "▁▂▃▄▅▆▇█"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def duration_ms(value: str, option: str = "--every") -> int:
    """``30m``, ``1h``, ``1d`` as milliseconds; a one-line `StoreError` otherwise.

    Example:
        >>> duration_ms("1h")
        3600000
    """
    match = _DURATION.match(value)
    got = int(float(match.group(1)) * _UNITS[match.group(2)]) if match else 0
    if got <= 0:
        raise StoreError(f"{option} {value!r}: use a duration such as 15m, 1h or 1d")
    return got


_NICE = [m * 60_000 for m in (1, 5, 15, 30, 60, 120, 180, 360, 720, 1440, 10080)]


def nice_every(window_ms: int, most: int = 36) -> int:
    """The shortest round bucket size (1m, 5m, 15m, 30m, 1h, 2h, 3h, 6h, 12h, 1d, 1w) that
    cuts the window into at most ``most`` buckets.

    Example:
        >>> nice_every(24 * 3_600_000) // 60_000, nice_every(7 * 86_400_000) // 60_000
        (60, 360)
    """
    return next((size for size in _NICE if window_ms / size <= most), _NICE[-1])


def summarise(
    store: Store,
    *,
    since: str = "24h",
    every: str | None = None,
    by: str = "span",
    until_ms: int | None = None,
    use_sql: bool | None = None,
) -> Summary:
    """The `Summary` of the store's traces started since ``since``, bucketed by ``every``.

    ``every`` defaults to `nice_every` of the window. ``use_sql`` forces
    (True) or forbids (False) the SQLite path; by default it is used whenever it can be.
    """
    if by not in GROUPINGS:
        raise StoreError(f"--by {by!r}: use one of {', '.join(GROUPINGS)}")
    until = int(time.time() * 1000) if until_ms is None else until_ms
    start = since_ms(since, now=until / 1000)
    if start >= until:
        raise StoreError(f"--since {since!r} is not in the past")
    every_ms = duration_ms(every) if every else nice_every(until - start)
    if (until - start) // every_ms > 2000:
        raise StoreError(f"--every {every!r} makes more than 2000 buckets; use a longer one")
    window = {"since_ms": start, "until_ms": until, "every_ms": every_ms, "by": by}
    from . import _monitor_sql

    path = _monitor_sql.sqlite_path(store.tracking_uri)
    experiment = store.experiment or "Default"
    if path is not None and use_sql is not False:
        with _monitor_sql.connect(path) as conn:
            if _monitor_sql.available(conn):
                exp_id = _monitor_sql.experiment_id(conn, experiment, store.tracking_uri)
                found = _monitor_sql.aggregate(conn, exp_id, **window)
                return _summary(store, experiment, window, "sql", found)
            if use_sql:
                raise StoreError(f"{path}: not a SQLite store of a checked MLflow schema")
    from . import _monitor_client

    found = _monitor_client.aggregate(store.through_mlflow(), **window)
    return _summary(store, experiment, window, "client", found)


def _summary(
    store: Store, experiment: str, window: dict[str, Any], source: str, found: Aggregate
) -> Summary:
    every = window["every_ms"]
    starts = range(window["since_ms"] - window["since_ms"] % every, window["until_ms"], every)
    groups = []
    for group in found.groups:
        cells = found.cells.get(group.key, {})
        trend = [cells[s].p95_ms if s in cells else None for s in starts]
        groups.append(replace(group, trend=trend))
    return Summary(
        store.tracking_uri, experiment, **window, source=source, total=found.total,
        buckets=found.buckets, groups=worst_first(groups), cells=found.cells,
    )  # fmt: skip


def sparkline(values: list[float | None]) -> str:
    """One block character per value, scaled to the largest (space where there is none).

    Example:
        >>> sparkline([1, 2, None, 8])
        '▁▂ █'
    """
    present = [v for v in values if v is not None]
    top = max(present, default=0.0)
    if top <= 0:
        return "".join(" " if v is None else _BLOCKS[0] for v in values)
    return "".join(" " if v is None else _BLOCKS[min(7, int(v / top * 7.999))] for v in values)


def ms(value: float | None) -> str:
    """A latency for people: ``850 ms``, ``2.3 s``, ``—`` when unknown."""
    if value is None:
        return "—"
    if value < 1000:
        return f"{value:.0f} ms"
    return f"{value / 1000:.1f} s"


def usd(value: float) -> str:
    """A cost: ``$0.0042``, ``$12.30``."""
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def _when(epoch_ms: int, every_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)
    return moment.strftime("%m-%d %H:%M" if every_ms < 86_400_000 else "%Y-%m-%d")


def _shrink(values: list[float | None], width: int) -> list[float | None]:
    """At most ``width`` values: the largest of each run of neighbours."""
    if len(values) <= width:
        return values
    out: list[float | None] = []
    for i in range(width):
        part = [v for v in values[i * len(values) // width : (i + 1) * len(values) // width]]
        present = [v for v in part if v is not None]
        out.append(max(present) if present else None)
    return out


def render(summary: Summary, width: int = 80, max_groups: int = 15, max_buckets: int = 24) -> Any:
    """A rich renderable of ``summary`` that fits ``width`` columns (80 or more)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    every = summary.every_ms
    start = datetime.fromtimestamp(summary.since_ms / 1000, tz=timezone.utc)
    end = datetime.fromtimestamp(summary.until_ms / 1000, tz=timezone.utc)
    head = Text()
    head.append(f"{summary.experiment}", style="bold")
    head.append(f"  {start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC, buckets of {_span(every)}\n")
    t = summary.total
    head.append(
        f"traces {t.count:,}  errors {t.errors:,} ({t.error_rate:.1%})  "
        f"p50 {ms(t.p50_ms)}  p95 {ms(t.p95_ms)}  p99 {ms(t.p99_ms)}\n"
        f"tokens {t.tokens:,}  cost {usd(t.cost_usd)}"
    )
    by_start = {int(b.key): b for b in summary.buckets}
    starts = summary.bucket_starts()
    spark_width = max(10, min(len(starts), width - 20))
    lines = Table.grid(padding=(0, 1))
    lines.add_column(style="dim", width=8)
    lines.add_column()
    rows: list[tuple[str, list[float | None]]] = [
        ("traces", [float(by_start[s].count) if s in by_start else None for s in starts]),
        ("errors", [by_start[s].error_rate if s in by_start else None for s in starts]),
        ("p95", [by_start[s].p95_ms if s in by_start else None for s in starts]),
        ("cost", [by_start[s].cost_usd if s in by_start else None for s in starts]),
    ]
    for label, values in rows:
        lines.add_row(label, sparkline(_shrink(values, spark_width)))

    def table(first: str, items: list[Figures], label: Any, trend: bool) -> Table:
        out = Table(box=None, padding=(0, 1), header_style="bold", pad_edge=False)
        out.add_column(first, no_wrap=True, overflow="ellipsis", max_width=22 if trend else 12)
        for name in ("n", "err", "p50", "p95", "p99", "tokens", "cost"):
            out.add_column(name, justify="right", no_wrap=True)
        if trend:
            out.add_column("p95 trend", no_wrap=True, max_width=12)
        for f in items:
            cells = [
                label(f), f"{f.count:,}", f"{f.error_rate:.0%}" if f.errors else "0",
                ms(f.p50_ms), ms(f.p95_ms), ms(f.p99_ms), f"{f.tokens:,}", usd(f.cost_usd),
            ]  # fmt: skip
            if trend:
                cells.append(sparkline(_shrink(f.trend, 12)))
            out.add_row(*cells, style="red" if f.errors else None)
        return out

    parts: list[Any] = [head, Text(""), lines]
    if summary.buckets:
        recent = summary.buckets[-max_buckets:]
        parts += [
            Text(""),
            table("bucket (UTC)", recent, lambda f: _when(int(f.key), every), False),
        ]
        if len(summary.buckets) > len(recent):
            parts.append(Text(f"… {len(summary.buckets) - len(recent)} older buckets (--json)"))
    shown = summary.groups[:max_groups]
    unit = "spans" if summary.by in ("span", "model", "tool") else "traces"
    parts += [Text(""), Text(f"by {summary.by} ({unit}), worst first", style="bold")]
    if shown:
        parts.append(table(summary.by, shown, lambda f: f.key, True))
        if len(summary.groups) > len(shown):
            parts.append(Text(f"… {len(summary.groups) - len(shown)} more (--json for all)"))
    else:
        parts.append(Text(f"no {summary.by} in this window", style="dim"))
    return Group(*parts)


def _span(every_ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)):
        if every_ms % size == 0:
            return f"{every_ms // size}{unit}"
    return f"{every_ms / 1000:g}s"
