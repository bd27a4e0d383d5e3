"""`sessions show`: a conversation as a transcript, one block per turn (= one trace).

Each turn shows what the user said and what the app replied, with the turn's latency, tokens,
cost, status, failed spans and trace id, so a bad turn is one `traces show` away.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from . import _format as fmt
from ._assessments import turn_lines
from ._lines import Line
from ._model import TraceView, reply_text, user_text

ROLE_W = 11  # "assistant" + 2


def _wrapped(role: str, text: str | None, width: int, style: str) -> list[Line]:
    body = "-" if text is None else text
    room = max(20, width - 2 - ROLE_W)
    rows: list[str] = []
    for paragraph in body.splitlines() or [""]:
        rows.extend(textwrap.wrap(paragraph, room) or [""])
    label = role.ljust(ROLE_W)
    return [
        [("  ", ""), (label if i == 0 else " " * ROLE_W, "dim"), (row, style)]
        for i, row in enumerate(rows)
    ]


def transcript_lines(session: str, views: Sequence[TraceView], width: int) -> list[Line]:
    """The transcript of ``session`` from its traces (built with spans), oldest turn first.

    Example:
        >>> print(Lines(transcript_lines("conv-42", views, 100)).plain())
    """
    views = sorted(views, key=lambda v: v.start_ms)
    users = sorted({v.user for v in views if v.user})
    usage_known = [v.tokens for v in views if v.tokens]
    total_tokens = sum(int(fmt.tokens(u).replace(",", "")) for u in usage_known)
    costs = [v.cost for v in views if v.cost is not None]
    errors = sum(1 for v in views if v.status == "ERROR")
    facts = [f"session {session}"]
    if users:
        facts.append(f"user {', '.join(users)}")
    facts.append(f"{len(views)} turn{'s' if len(views) != 1 else ''}")
    if usage_known:
        facts.append(f"{total_tokens:,} tokens")
    if costs:
        facts.append(fmt.cost(sum(costs)))
    head: Line = [(" · ".join(facts), "bold")]
    if errors:
        head.append((f" · {errors} failed turn{'s' if errors != 1 else ''}", "bold red"))
    lines: list[Line] = [head]
    if views:
        lines.append(
            [
                (
                    f"{fmt.timestamp(views[0].start_ms)} → {fmt.timestamp(views[-1].start_ms)} UTC",
                    "dim",
                )
            ]
        )
    for number, view in enumerate(views, 1):
        lines.append([])
        status_style = "bold red" if view.status == "ERROR" else "green"
        facts = [fmt.timestamp(view.start_ms)[11:], fmt.duration(view.duration_ms)]
        if view.tokens:
            facts.append(f"{fmt.tokens(view.tokens)} tokens")
        if view.cost is not None:
            facts.append(fmt.cost(view.cost))
        lines.append(
            [
                (f"turn {number}", "bold"),
                ("  " + "  ".join(facts) + "  ", ""),
                (view.status, status_style),
                ("  ", ""),
                (view.trace_id, "cyan"),
            ]
        )
        lines.extend(_wrapped("user", user_text(view), width, ""))
        lines.extend(_wrapped("assistant", reply_text(view), width, "green"))
        for node in view.errors:
            text = f"✗ {node.name}: {node.error}"
            lines.append([("  ", ""), (fmt.clip(fmt.one_line(text), width - 2), "red")])
        lines.extend(turn_lines(view.assessments, width))
    return lines
