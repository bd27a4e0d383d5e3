"""One-line-per-item tables: `traces list`, `traces tail` and `sessions list`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import _format as fmt
from ._lines import Line
from ._model import TraceView

GAP = "  "


def table_lines(
    headers: Sequence[str],
    rows: Sequence[Sequence[tuple[str, str]]],
    right: frozenset[int] = frozenset(),
    max_widths: dict[int, int] | None = None,
    width: int | None = None,
    shrink: Sequence[int] = (),
) -> list[Line]:
    """Aligned columns: a dim header line, then one line per row of ``(text, style)`` cells.

    Example:
        >>> table_lines(["id", "n"], [[("a", ""), ("3", "")]], right=frozenset({1}))
    """
    max_widths = max_widths or {}
    widths = [len(h) for h in headers]
    for row in rows:
        for i, (text, _) in enumerate(row):
            widths[i] = max(widths[i], len(text))
    widths = [min(w, max_widths.get(i, w)) for i, w in enumerate(widths)]
    if width is not None and shrink:  # narrow the widest shrinkable column until it fits
        while sum(widths) + len(GAP) * (len(widths) - 1) > width:
            i = max(shrink, key=lambda k: widths[k])
            if widths[i] <= 8:
                break
            widths[i] -= 1

    def cell(i: int, text: str) -> str:
        text = fmt.clip(text, widths[i])
        return text.rjust(widths[i]) if i in right else text.ljust(widths[i])

    lines: list[Line] = [[(GAP.join(cell(i, h) for i, h in enumerate(headers)), "dim")]]
    for row in rows:
        line: Line = []
        for i, (text, style) in enumerate(row):
            if i:
                line.append((GAP, ""))
            line.append((cell(i, text), style))
        lines.append(line)
    return lines


def _status_style(status: str) -> str:
    return "bold red" if status == "ERROR" else "yellow" if status == "IN_PROGRESS" else "green"


TRACE_HEADERS = (
    "trace id",
    "name",
    "status",
    "start (UTC)",
    "duration",
    "tokens",
    "cost",
    "session",
)


def trace_row(view: TraceView) -> list[tuple[str, str]]:
    """The cells of one trace in `traces list` / `traces tail`."""
    return [
        (view.trace_id, "cyan"),
        (view.name, "bold"),
        (view.status, _status_style(view.status)),
        (fmt.timestamp(view.start_ms), ""),
        (fmt.duration(view.duration_ms), ""),
        (fmt.tokens(view.tokens), ""),
        (fmt.cost(view.cost), ""),
        (view.session or "", ""),
    ]


#: Fixed column widths of `traces tail` (it prints before it knows the rows).
TAIL_WIDTHS = (35, 24, 11, 19, 9, 7, 9, 0)


def _fixed(cells: Sequence[tuple[str, str]]) -> Line:
    line: Line = []
    for i, ((text, style), width) in enumerate(zip(cells, TAIL_WIDTHS, strict=True)):
        if i:
            line.append((GAP, ""))
        text = fmt.clip(text, width) if width else text
        line.append((text.rjust(width) if i in (4, 5, 6) else text.ljust(width), style))
    return line


def tail_header() -> Line:
    """The header line of `traces tail`."""
    return [(piece, "dim") for piece, _ in _fixed([(h, "") for h in TRACE_HEADERS])]


def tail_line(view: TraceView) -> Line:
    """One trace as a `traces tail` line (fixed column widths)."""
    return _fixed(trace_row(view))


def traces_table(views: Sequence[TraceView], width: int | None = None) -> list[Line]:
    """`traces list`: id, name, status, start, duration, tokens, cost, session."""
    return table_lines(
        TRACE_HEADERS,
        [trace_row(v) for v in views],
        right=frozenset({4, 5, 6}),
        max_widths={1: 32, 7: 36},
        width=width,
        shrink=(1, 7),
    )


def trace_json(view: TraceView) -> dict[str, object]:
    """One trace of `traces list --json` (summary fields, no spans)."""
    return {
        "trace_id": view.trace_id,
        "name": view.name,
        "status": view.status,
        "start_ms": view.start_ms,
        "start": fmt.timestamp(view.start_ms).replace(" ", "T") + "Z",
        "duration_ms": view.duration_ms,
        "tokens": view.tokens,
        "cost_usd": view.cost,
        "session": view.session,
        "user": view.user,
        "request_preview": view.request_preview,
        "response_preview": view.response_preview,
    }


@dataclass
class SessionSummary:
    """The traces of one session, summed: turns, time span, tokens, cost, errors."""

    session: str
    user: str | None
    turns: int
    first_ms: int
    last_ms: int
    tokens: int
    cost: float | None
    errors: int


def summarize_sessions(views: Sequence[TraceView]) -> list[SessionSummary]:
    """Group trace summaries by session, most recently active first."""
    by_session: dict[str, SessionSummary] = {}
    for view in views:
        if not view.session:
            continue
        total = fmt.tokens(view.tokens)
        tokens = int(total.replace(",", "")) if total else 0
        found = by_session.get(view.session)
        if found is None:
            by_session[view.session] = SessionSummary(
                view.session,
                view.user,
                1,
                view.start_ms,
                view.start_ms,
                tokens,
                view.cost,
                int(view.status == "ERROR"),
            )
            continue
        found.turns += 1
        found.first_ms = min(found.first_ms, view.start_ms)
        found.last_ms = max(found.last_ms, view.start_ms)
        found.tokens += tokens
        if view.cost is not None:
            found.cost = (found.cost or 0.0) + view.cost
        found.errors += int(view.status == "ERROR")
        found.user = found.user or view.user
    return sorted(by_session.values(), key=lambda s: s.last_ms, reverse=True)


def sessions_table(sessions: Sequence[SessionSummary], width: int | None = None) -> list[Line]:
    """`sessions list`: session, user, turns, first and last turn, tokens, cost, failed turns."""
    rows = [
        [
            (s.session, "cyan"),
            (s.user or "", ""),
            (str(s.turns), ""),
            (fmt.timestamp(s.first_ms), ""),
            (fmt.timestamp(s.last_ms), ""),
            (f"{s.tokens:,}" if s.tokens else "", ""),
            (fmt.cost(s.cost), ""),
            (str(s.errors), "bold red" if s.errors else ""),
        ]
        for s in sessions
    ]
    return table_lines(
        ("session", "user", "turns", "first (UTC)", "last (UTC)", "tokens", "cost", "failed"),
        rows,
        right=frozenset({2, 5, 6, 7}),
        max_widths={0: 40, 1: 24},
        width=width,
        shrink=(0, 1),
    )
