"""One-line-per-item tables: `traces list`, `traces tail` and `sessions list`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from . import _format as fmt
from ._lines import Line
from ._model import TraceView
from ._sessions import SessionSummary

GAP = "  "


INDENT = "  "
#: Shrinkable columns (names, session ids) are cut no narrower than this.
MIN_SHRUNK = 8


def natural_widths(
    headers: Sequence[str],
    rows: Sequence[Sequence[tuple[str, str]]],
    max_widths: dict[int, int] | None = None,
) -> list[int]:
    """Each column's width: its longest cell or header, capped by ``max_widths``."""
    max_widths = max_widths or {}
    widths = [len(h) for h in headers]
    for row in rows:
        for i, (text, _) in enumerate(row):
            widths[i] = max(widths[i], len(text))
    return [min(w, max_widths.get(i, w)) for i, w in enumerate(widths)]


def one_line_width(widths: Sequence[int]) -> int:
    """The width of a row of columns this wide, gaps included."""
    return sum(widths) + len(GAP) * (len(widths) - 1)


def _shrink(widths: list[int], columns: Sequence[int], shrink: Sequence[int], room: int) -> bool:
    """Narrow the widest shrinkable of ``columns`` until they fit ``room``; False if they can't."""
    candidates = [c for c in shrink if c in columns]
    while one_line_width([widths[c] for c in columns]) > room:
        if not candidates:
            return False
        i = max(candidates, key=lambda k: widths[k])
        if widths[i] <= MIN_SHRUNK:
            return False
        widths[i] -= 1
    return True


def column_groups(
    widths: list[int], width: int | None, shrink: Sequence[int] = ()
) -> list[list[int]]:
    """Which columns go on which line of a row (``widths`` may be narrowed in place).

    One line when the columns fit ``width``; else the columns fill lines in order (ids and
    names whole), the lines after the first indented by `INDENT`, and a line still too wide
    shrinks its shrinkable columns (down to `MIN_SHRUNK`), then its last one.

    Example:
        >>> column_groups([35, 9, 6, 14, 8, 6, 9, 6], 80)
        [[0, 1, 2, 3, 4], [5, 6, 7]]
    """
    every = list(range(len(widths)))
    if width is None or one_line_width(widths) <= width:
        return [every]
    groups: list[list[int]] = [[]]
    for i, w in enumerate(widths):
        group = groups[-1]
        room = width - (len(INDENT) if len(groups) > 1 else 0)
        if group and one_line_width([widths[c] for c in group]) + len(GAP) + w > room:
            groups.append([i])
        else:
            group.append(i)
    for n, group in enumerate(groups):
        room = width - (len(INDENT) if n else 0)
        if not _shrink(widths, group, shrink, room):
            last = group[-1]
            widths[last] = max(
                1, widths[last] - (one_line_width([widths[c] for c in group]) - room)
            )
    return groups


def table_lines(
    headers: Sequence[str],
    rows: Sequence[Sequence[tuple[str, str]]],
    right: frozenset[int] = frozenset(),
    max_widths: dict[int, int] | None = None,
    width: int | None = None,
    shrink: Sequence[int] = (),
    widths: Sequence[int] | None = None,
) -> list[Line]:
    """Aligned columns: dim header line(s), then the line(s) of each row of ``(text, style)``.

    When the columns do not fit ``width``, columns empty in every row are left out, and each
    row wraps onto indented, aligned lines (see
    `column_groups`); the header wraps the same way, so every value stays whole and labelled.
    ``widths`` fixes the column widths (a table printed before its rows are known).

    Example:
        >>> table_lines(["id", "n"], [[("a", ""), ("3", "")]], right=frozenset({1}))
    """
    fixed = widths is not None
    widths = list(widths) if widths is not None else natural_widths(headers, rows, max_widths)
    if not fixed and rows and width is not None and one_line_width(widths) > width:
        empty = {i for i in range(len(headers)) if not any(row[i][0] for row in rows)}
        if empty:  # too wide: columns with no value in any row go first
            keep = [i for i in range(len(headers)) if i not in empty]
            return table_lines(
                [headers[i] for i in keep],
                [[row[i] for i in keep] for row in rows],
                frozenset(keep.index(i) for i in right if i in keep),
                {keep.index(i): w for i, w in (max_widths or {}).items() if i in keep},
                width,
                [keep.index(i) for i in shrink if i in keep],
            )
    groups = column_groups(widths, width, shrink)

    def cell(i: int, text: str) -> str:
        text = fmt.clip(text, widths[i])
        return text.rjust(widths[i]) if i in right else text.ljust(widths[i])

    lines: list[Line] = []
    for n, group in enumerate(groups):
        lead = INDENT if n else ""
        lines.append([(lead + GAP.join(cell(i, headers[i]) for i in group), "dim")])
    for row in rows:
        for n, group in enumerate(groups):
            line: Line = [(INDENT, "")] if n else []
            for k, i in enumerate(group):
                if k:
                    line.append((GAP, ""))
                text, style = row[i]
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


def trace_row(view: TraceView, short_times: bool = False) -> list[tuple[str, str]]:
    """The cells of one trace in `traces list` / `traces tail` (``short_times``: no year)."""
    stamp = fmt.short_timestamp if short_times else fmt.timestamp
    return [
        (view.trace_id, "cyan"),
        (view.name, "bold"),
        (view.status, _status_style(view.status)),
        (stamp(view.start_ms), ""),
        (fmt.duration(view.duration_ms), ""),  # as `traces show` gives it
        (fmt.tokens(view.tokens), ""),
        (fmt.cost(view.cost), ""),
        (view.session or "", ""),
    ]


_TRACE_RIGHT = frozenset({4, 5, 6})
#: Column widths of `traces tail` (it prints before it knows the rows); the session column
#: grows into what its line leaves.
TAIL_WIDTHS = (35, 16, 6, 14, 8, 6, 9, 12)


def _tail_widths(session: str, width: int | None) -> list[int]:
    widths = list(TAIL_WIDTHS)
    if width is not None:
        groups = column_groups(list(TAIL_WIDTHS), width, (1,))
        used = one_line_width([TAIL_WIDTHS[c] for c in groups[-1]]) - TAIL_WIDTHS[7]
        room = width - (len(INDENT) if len(groups) > 1 else 0) - used
        widths[7] = max(TAIL_WIDTHS[7], min(len(session), room))
    return widths


def tail_header(width: int | None = None) -> list[Line]:
    """The header line(s) of `traces tail` at console ``width``."""
    return table_lines(
        TRACE_HEADERS, [], right=_TRACE_RIGHT, width=width, shrink=(1,), widths=TAIL_WIDTHS
    )


def tail_line(view: TraceView, width: int | None = None) -> list[Line]:
    """One trace as `traces tail` line(s), in the columns of `tail_header`."""
    row = trace_row(view, short_times=True)
    widths = _tail_widths(row[7][0], width)
    lines = table_lines(
        TRACE_HEADERS, [row], right=_TRACE_RIGHT, width=width, shrink=(1,), widths=widths
    )
    return lines[len(lines) // 2 :]  # without the header


def traces_table(views: Sequence[TraceView], width: int | None = None) -> list[Line]:
    """`traces list`: id, name, status, start, duration, tokens, cost, session.

    Wider than ``width``, the dates lose their year and each trace wraps onto two lines.
    """
    rows = [trace_row(v) for v in views]
    caps = {1: 32, 7: 36}
    if width is not None and one_line_width(natural_widths(TRACE_HEADERS, rows, caps)) > width:
        rows = [trace_row(v, short_times=True) for v in views]
    return table_lines(
        TRACE_HEADERS, rows, right=_TRACE_RIGHT, max_widths=caps, width=width, shrink=(1, 7)
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


def sessions_table(sessions: Sequence[SessionSummary], width: int | None = None) -> list[Line]:
    """`sessions list`: session, user, turns, first and last turn, tokens, cost, failed turns.

    Wider than ``width``, the dates lose their year and each session wraps onto two lines.
    """

    def row(s: SessionSummary, stamp: Callable[[int], str]) -> list[tuple[str, str]]:
        return [
            (s.session, "cyan"),
            (s.user or "", ""),
            (str(s.turns), ""),
            (stamp(s.first_ms), ""),
            (stamp(s.last_ms), ""),
            (f"{s.tokens:,}" if s.tokens else "", ""),
            (fmt.cost(s.cost), ""),
            (str(s.errors), "bold red" if s.errors else ""),
        ]

    headers = ("session", "user", "turns", "first (UTC)", "last (UTC)", "tokens", "cost", "failed")
    caps = {0: 40, 1: 24}
    rows = [row(s, fmt.timestamp) for s in sessions]
    if width is not None and one_line_width(natural_widths(headers, rows, caps)) > width:
        rows = [row(s, fmt.short_timestamp) for s in sessions]
    return table_lines(
        headers, rows, right=frozenset({2, 5, 6, 7}), max_widths=caps, width=width, shrink=(0, 1)
    )
