"""One bad trace fails alone: what an error is about, and writing a batch split until it is.

An error is about the *store* (transient: a locked file, a refused connection, HTTP 429/5xx;
or lasting: a read-only or full disk, a missing table, HTTP 401/403/404) or about the *data*
of the batch (anything else: a lone surrogate the database cannot encode, a trace name MLflow
finds too long, HTTP 400/413/422). `write_isolated` writes a batch in one call; when that call
fails for a reason about the data, it splits the batch in halves, trace by trace, until each
bad trace is alone, so the good ones are stored with a few extra calls (about 2·log2(n) for
one bad trace among n), and only the bad trace is refused. A store-wide error stops the
batch at once: splitting would only repeat the same failure (and its log lines) per trace.

Example:
    >>> outcome = write_isolated(group_by_trace(spans), lambda part: store.log_spans("0", part))
    >>> outcome.failed          # [(spans of a refused trace, "why")]
    >>> outcome.rest, outcome.error   # not written because the store failed as a whole
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Group = list[Any]
"""The spans of one trace (any span type with a ``trace_id``), in batch order."""

_RETRYABLE = (
    "database is locked",
    "deadlock",
    "timeout",
    "timed out",
    "temporarily",
    "connection",
    "could not connect",
    "server closed",
)
_STORE_WIDE = (
    "readonly database",
    "read-only",
    "read only",
    "disk is full",
    "no space left",
    "quota",
    "unable to open database",
    "disk i/o error",
    "no such table",
    "no such column",
    "malformed",
    "not a database",
    "permission denied",
    "out of memory",
)
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_STORE_STATUS = frozenset({401, 403, 404, 405, 501})
_SQL_DETAIL = re.compile(r"\s*\[(?:SQL|parameters): .*", re.DOTALL)
_BACKGROUND = re.compile(r"\s*\(Background on this error at: [^)]*\)")


class PartlyStored(Exception):
    """A write stored some traces of its part before failing (``cause``) on the others."""

    def __init__(self, stored: set[str], cause: Exception) -> None:
        super().__init__(str(cause))
        self.stored = stored
        self.cause = cause


def one_line(text: str, limit: int = 500) -> str:
    """``text`` on one line, without a SQL statement and its parameters (they hold the user's
    data) and SQLAlchemy's "Background on this error" link, at most ``limit`` characters."""
    text = " ".join(_BACKGROUND.sub("", _SQL_DETAIL.sub("", text)).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(exc: BaseException) -> str:
    """``Type: message`` for ``exc``, by `one_line`."""
    try:
        text = str(exc)
    except Exception:
        text = "(no message)"
    return f"{type(exc).__name__}: {one_line(text)}"


def _texts(exc: BaseException) -> Iterable[str]:
    """The lower-cased heads of ``exc`` and of the exceptions it was raised ``from`` (not of
    one it was raised while handling: that may be about something else)."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 5:
        yield describe(current).lower()
        current = current.__cause__
        seen += 1


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of an `HttpStatusError` (duck-typed), else None."""
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


def locked(exc: BaseException) -> bool:
    """SQLite's ``database is locked`` (another writer holds the file)."""
    return any("database is locked" in text for text in _texts(exc))


def retryable(exc: BaseException) -> bool:
    """Transient: a locked SQLite file, a deadlock, a connection error, HTTP 408/429/5xx, a
    timeout. Worth the same call again after a pause."""
    status = status_of(exc)
    if status is not None:
        return status in _RETRY_STATUS or (status >= 500 and status not in _STORE_STATUS)
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    return any(needle in text for text in _texts(exc) for needle in _RETRYABLE)


def store_wide(exc: BaseException) -> bool:
    """About the store as a whole and not transient (read-only, full disk, no schema, HTTP
    401/403/404): every trace would fail the same way, so the batch is not split."""
    if retryable(exc):
        return False
    status = status_of(exc)
    if status is not None:
        return status in _STORE_STATUS
    if isinstance(exc, OSError) and not isinstance(exc, UnicodeError):
        return True
    return any(needle in text for text in _texts(exc) for needle in _STORE_WIDE)


def about_the_data(exc: BaseException) -> bool:
    """Neither transient nor store-wide: one of the traces written may be the reason."""
    return not retryable(exc) and not store_wide(exc)


def group_by_trace(spans: Iterable[Any], key: Callable[[Any], Any] | None = None) -> list[Group]:
    """The spans grouped by ``key(span)`` (default: ``span.trace_id``), groups in the order
    their first span came."""
    groups: dict[Any, Group] = {}
    for span in spans:
        groups.setdefault(span.trace_id if key is None else key(span), []).append(span)
    return list(groups.values())


def flatten(groups: Iterable[Group]) -> list[Any]:
    return [span for group in groups for span in group]


@dataclass
class Outcome:
    """What `write_isolated` did with a batch: everything not listed here was written."""

    failed: list[tuple[Group, str]] = field(default_factory=list)
    """Traces refused alone, with the reason."""
    rest: list[Group] = field(default_factory=list)
    """Traces not written because the store failed as a whole (``error``)."""
    error: Exception | None = None
    """That store-wide or transient error (after the write's own retries)."""

    def spans_failed(self) -> int:
        return sum(len(g) for g, _ in self.failed)

    def spans_left(self) -> int:
        return sum(len(g) for g in self.rest)

    def lost(self) -> list[tuple[Group, str]]:
        """Every trace not written, with why: refused alone, or left by ``error``."""
        if self.error is None:
            return list(self.failed)
        why = describe(self.error)
        return self.failed + [(group, why) for group in self.rest]


Write = Callable[[list[Any]], "Mapping[Any, str] | None"]
"""Writes spans (raising on failure); may return trace ids it refused on purpose, with why."""


def write_isolated(groups: Sequence[Group], write: Write) -> Outcome:
    """Write ``groups`` with as few ``write`` calls as the errors allow (see module doc).

    ``write`` may raise `PartlyStored` (some traces stored before its failure); it may also
    return ``{trace_id: reason}`` for traces it refused without raising (they count failed).
    """
    outcome = Outcome()
    parts: list[list[Group]] = [list(groups)] if groups else []
    while parts:
        part = parts.pop(0)
        if outcome.error is not None:
            outcome.rest.extend(part)
            continue
        try:
            refused = write(flatten(part))
        except Exception as exc:
            cause = exc
            if isinstance(exc, PartlyStored):
                part = [g for g in part if g[0].trace_id not in exc.stored]
                cause = exc.cause
            if not part:
                continue
            if not about_the_data(cause):
                outcome.error = cause
                outcome.rest.extend(part)
            elif len(part) == 1:
                outcome.failed.append((part[0], describe(cause)))
            else:
                middle = len(part) // 2
                parts[0:0] = [part[:middle], part[middle:]]
            continue
        if isinstance(refused, Mapping) and refused:
            outcome.failed.extend(
                (group, refused[group[0].trace_id])
                for group in part
                if group[0].trace_id in refused
            )
    return outcome
