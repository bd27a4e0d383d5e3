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
    try:
        attributes, events, context = span._attributes, span._events, span._context
    except AttributeError:  # not the SDK's ReadableSpan
        attributes, events, context = span.attributes, span.events, span.context
    if attributes:
        # an ended span's attributes are immutable: its dict can be read without the lock
        for value in getattr(attributes, "_dict", attributes).values():
            total += _flat(value)
    if events:
        for event in tuple(events):
            total += 64
            for value in (event.attributes or {}).values():
                total += _flat(value)
    payload = lookup(context.span_id) if context is not None else None
    if payload is not None:
        args = payload.args
        if args is not None:
            for a in args[0]:
                total += _shallow(a)
            for v in args[1].values():
                total += _shallow(v)
        inputs, outputs, extra = payload.inputs, payload.outputs, payload.extra
        # None or not recorded: an object's header, without the call
        total += _OTHER if inputs is None else _shallow(inputs)
        total += _OTHER if outputs is None else _shallow(outputs)
        if extra:
            for value in extra.values():
                total += _shallow(value)
    return total
