"""Conversations: the traces of each session summed up (`sessions list`).

`summarize_sessions` sums trace summaries read through MLflow's client; on a SQLite store the
fast read path computes the same summaries in SQL (`SqliteReader.sessions`), and a test keeps
the two equal field for field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import _format as fmt

if TYPE_CHECKING:
    from ._model import TraceView


@dataclass
class SessionSummary:
    """The traces of one session, summed: turns, time span, tokens, cost, errors.

    ``user`` is the newest trace's user (the first one set, going back); ``first_ms`` and
    ``last_ms`` are the first and last turn's start; ``cost`` is None when no turn has one.
    """

    session: str
    user: str | None
    turns: int
    first_ms: int
    last_ms: int
    tokens: int
    cost: float | None
    errors: int


def summarize_sessions(views: Sequence[TraceView]) -> list[SessionSummary]:
    """Group trace summaries (newest first) by session, most recently active first.

    Example:
        >>> [s.session for s in summarize_sessions(views)]
        ['conv-2', 'conv-1']
    """
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
