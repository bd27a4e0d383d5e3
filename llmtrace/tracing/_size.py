"""A cheap, bounded estimate of the memory a finished span holds while it waits for export.

The export queue is bounded in bytes as well as in spans (``max_queue_bytes``): a tight loop
over large payloads must not grow the traced process without limit. The estimate runs on the
caller's thread, so it looks only one level into containers, at most `_ITEMS` items, and
counts text by its length; it is a bound on the order of magnitude, not an exact size.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from ._payload import lookup

SPAN_OVERHEAD = 1024  # a ReadableSpan with its context, resource and a few attributes
_ITEMS = 64
_OTHER = 64  # any object that is not text: its header and a pointer or two
# sized as one object; a bare `object` is the payload's marker for a value not recorded
_SMALL = frozenset({int, float, bool, type(None), object})


def _flat(value: Any) -> int:
    cls = type(value)
    if cls is str or cls is bytes or cls is bytearray:
        return len(value) + 50
    return _OTHER


def _shallow(value: Any) -> int:
    cls = type(value)
    if cls is str or cls is bytes or cls is bytearray:
        return len(value) + 50
    if cls is dict:
        total = 0
        for i, (key, item) in enumerate(value.items()):
            if i == _ITEMS:
                return total * len(value) // _ITEMS
            total += _flat(key) + _flat(item)
        return total + 64
    if cls is list or cls is tuple or cls is set:
        total = 0
        for i, item in enumerate(value):
            if i == _ITEMS:
                return total * len(value) // _ITEMS
            total += _flat(item)
        return total + 56
    return _OTHER


def approx_bytes(span: ReadableSpan) -> int:
    """Estimated bytes held by ``span`` and the payload llmtrace keeps for it.

    Runs once per span on the caller's thread, so it reads the ended span's own fields: the
    public ``attributes`` and ``events`` properties wrap, lock and copy them on every access
    (half of this function's time before). Spans of another SDK take the public properties.

    Example:
        >>> approx_bytes(span)   # a span whose input is a 2 MB string
        2098216
    """
    total = SPAN_OVERHEAD
    try:  # the SDK's containers define __len__ in Python: read the dict and deque they wrap
        attributes = span._attributes._dict  # immutable once the span ended: no lock needed
        events = span._events._dq
        span_id = span._context[1]  # SpanContext is a tuple; its `span_id` property reads [1]
    except (AttributeError, TypeError):  # not the SDK's ReadableSpan, or one shed already
        context = span.context
        attributes, events = span.attributes, span.events
        span_id = context.span_id if context is not None else None
    if attributes:
        for value in attributes.values():
            total += _flat(value)
    if events:
        for event in tuple(events):
            total += 64
            for value in (event.attributes or {}).values():
                total += _flat(value)
    payload = lookup(span_id) if span_id is not None else None
    if payload is None:
        return total
    args = payload.args
    if args is not None:
        if args[0]:
            for a in args[0]:
                total += _shallow(a)
        if args[1]:
            for v in args[1].values():
                total += _shallow(v)
    # inputs and outputs are often a number, None or not recorded: an object's header
    inputs, outputs, extra = payload.inputs, payload.outputs, payload.extra
    total += _OTHER if type(inputs) in _SMALL else _shallow(inputs)
    total += _OTHER if type(outputs) in _SMALL else _shallow(outputs)
    if extra:
        for value in extra.values():
            total += _shallow(value)
    return total
