"""Spans across a process boundary: compact tuples, length-prefixed pickle frames.

Both ends run in the traced program's process (the encoding side) and in the export process.
The encoding side gives the GIL back every slice of work (`Pacer`): a batch's rows are built
span by span and pickled `CHUNK_ROWS` at a time (`Rows`), never in one C call that holds the
GIL for milliseconds (a 1,024-span batch: ~1.3 ms of pickling, ~6 ms of building rows). The
receiving side sees a plain list of row tuples, as before.
"""

from __future__ import annotations

import pickle
import struct
from collections.abc import Sequence
from typing import IO, Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from ._pacer import Pacer

_HEADER = struct.Struct("!I")
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
CHUNK_ROWS = 64
"""Rows pickled in one piece (~80 µs for ordinary spans); the GIL is given back between."""


class Rows(list[Any]):
    """The row tuples of a batch; pickled `CHUNK_ROWS` at a time, unpickled as a plain list.

    Example:
        >>> rows = encode_spans(spans)[1]
        >>> pickle.loads(pickle.dumps(rows)) == list(rows)
        True
    """

    __slots__ = ()

    def __reduce__(self) -> tuple[Any, ...]:
        pace = Pacer()
        chunks = []
        for start in range(0, len(self), CHUNK_ROWS):
            pace()
            chunks.append(pickle.dumps(self[start : start + CHUNK_ROWS], pickle.HIGHEST_PROTOCOL))
        return (join_rows, (chunks,))


def join_rows(chunks: Sequence[bytes]) -> list[Any]:
    """The rows of a pickled `Rows` (called by ``pickle.loads`` in the export process)."""
    rows: list[Any] = []
    for chunk in chunks:
        rows.extend(pickle.loads(chunk))
    return rows


def encode_spans(spans: Sequence[ReadableSpan]) -> tuple[Any, ...]:
    """Plain tuples for ``spans`` (resource attributes sent once per batch)."""
    resource = dict(spans[0].resource.attributes) if spans and spans[0].resource else {}
    rows = Rows()
    pace = Pacer()  # runs in the traced program: let its threads have the GIL
    for s in spans:
        pace()
        try:
            rows.append(_fields_row(s))
        except AttributeError:  # not the SDK's ReadableSpan: its public properties
            rows.append(_row(s.name, s.context, s.parent, s.start_time, s.end_time, s.status,
                             s.attributes, s.events, s.links, s.kind))  # fmt: skip
    return (resource, rows)


def _fields_row(s: ReadableSpan) -> tuple[Any, ...]:
    """The row of an SDK `ReadableSpan` from its own fields: its properties copy the attributes
    into a mapping proxy and the events and links into tuples on every access (half of this
    function's time before)."""
    return _row(s._name, s._context, s._parent, s._start_time, s._end_time, s._status,
                s._attributes, s._events, s._links, s._kind)  # fmt: skip


def _row(
    name: str,
    ctx: SpanContext | None,
    parent: SpanContext | None,
    start: int | None,
    end: int | None,
    status: Status,
    attrs: Any,
    events: Any,
    links: Any,
    kind: SpanKind,
) -> tuple[Any, ...]:
    return (
        name,
        ctx.trace_id if ctx else 0,
        ctx.span_id if ctx else 0,
        (parent.span_id, parent.is_remote) if parent is not None else None,
        start,
        end,
        status.status_code.value,
        status.description,
        dict(attrs) if attrs else {},
        [(e.name, dict(e.attributes or {}), e.timestamp) for e in events] if events else [],
        [
            (link.context.trace_id, link.context.span_id, dict(link.attributes or {}))
            for link in links
        ]
        if links
        else [],
        kind.value,
    )


def decode_spans(batch: tuple[Any, ...]) -> list[ReadableSpan]:
    """`ReadableSpan` objects back from `encode_spans` output."""
    resource_attrs, rows = batch
    resource = Resource(resource_attrs)
    spans = []
    for (
        name,
        trace_id,
        span_id,
        parent,
        start,
        end,
        code,
        description,
        attrs,
        events,
        links,
        kind,
    ) in rows:
        parent_ctx = (
            SpanContext(trace_id, parent[0], is_remote=parent[1], trace_flags=_SAMPLED)
            if parent is not None
            else None
        )
        spans.append(
            ReadableSpan(
                name=name,
                context=SpanContext(trace_id, span_id, is_remote=False, trace_flags=_SAMPLED),
                parent=parent_ctx,
                resource=resource,
                attributes=attrs,
                events=[Event(n, a, ts) for n, a, ts in events],
                links=[
                    Link(SpanContext(t, s, is_remote=True, trace_flags=_SAMPLED), a)
                    for t, s, a in links
                ],
                kind=SpanKind(kind),
                status=Status(StatusCode(code), description),
                start_time=start,
                end_time=end,
            )
        )
    return spans


def write_frame(stream: IO[bytes], message: Any) -> None:
    """Write one pickled message with a 4-byte length prefix and flush."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)  # not header + data: a batch's bytes are not copied once more
    stream.flush()


def read_frame(stream: IO[bytes]) -> Any:
    """Read one message written by `write_frame`; EOFError when the stream is closed."""
    header = _read_exactly(stream, _HEADER.size)
    (size,) = _HEADER.unpack(header)
    return pickle.loads(_read_exactly(stream, size))


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    chunks = []
    left = size
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError("stream closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
