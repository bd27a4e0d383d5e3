"""JSON text of the values that need no cleaning: ``None``, booleans, small numbers, ``{}``, ``[]``.

The export thread serializes a span's inputs and outputs through `dump_json`, which repairs,
masks and cuts every string it meets. Many spans carry nothing of the kind (a function of no
arguments has inputs ``{}``, many return ``None``, a flag or a count); their JSON text is known
without that walk, so `dump_json` asks here first (when no ``redact`` hook must see the value).
A property test checks that the text equals the walk's.
"""

from __future__ import annotations

import math
from typing import Any

_LIMIT = 2**53  # integers JSON readers take exactly; longer ones take the full path


def plain_json(value: Any, max_chars: int = 0) -> str | None:
    """The JSON text of ``value`` if it needs no cleaning, else None (the walk must do it).

    ``max_chars`` as `dump_json`'s: a text longer than that (> 0) is None, to be cut there.

    Example:
        >>> plain_json({}), plain_json(3), plain_json("text")
        ('{}', '3', None)
    """
    text = _text(value)
    if text is not None and 0 < max_chars < len(text):
        return None
    return text


def _text(value: Any) -> str | None:
    cls = type(value)
    if value is None:
        return "null"
    if cls is bool:
        return "true" if value else "false"
    if cls is int:
        return str(value) if -_LIMIT < value < _LIMIT else None
    if cls is float:
        return repr(value) if math.isfinite(value) else None
    if (cls is dict or cls is list) and not value:
        return "{}" if cls is dict else "[]"
    return None
