"""Turn arbitrary Python values into bounded, secret-free JSON text (on the export thread).

Nothing here may raise: a value that cannot be represented becomes a short placeholder string.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

REDACTED = "[REDACTED]"
_MAX_DEPTH = 20

#: Mapping keys whose values are secrets, whatever they hold (compared lower-cased, '-' as '_').
SECRET_KEYS = frozenset(
    {
        "authorization",
        "proxy_authorization",
        "api_key",
        "apikey",
        "x_api_key",
        "api_token",
        "access_token",
        "refresh_token",
        "token",
        "bearer",
        "password",
        "passwd",
        "secret",
        "client_secret",
        "openai_api_key",
        "organization",
        "openai_organization",
        "cookie",
        "set_cookie",
    }
)

#: Secret-looking substrings inside free text, as one alternation (one pass per string).
_SECRET_RE = re.compile(
    "|".join(
        [
            r"\bsk-[A-Za-z0-9_\-]{8,}",  # OpenAI / Anthropic style keys
            r"(?i:\bbearer\s+[A-Za-z0-9._~+/=\-]{8,})",  # bearer tokens
            (
                r"(?i:\b(?:api[_-]?key|authorization)\s*[:=]\s*['\"]?"
                r"(?:(?:bearer|basic|token)\s+)?[^\s'\",}]{6,})"
            ),
            r"\bAKIA[0-9A-Z]{16}\b",  # AWS access key ids
            r"\bgh[pousr]_[A-Za-z0-9]{20,}\b",  # GitHub tokens
            r"\borg-[A-Za-z0-9]{16,}\b",  # OpenAI organization ids
        ]
    )
)


def mask_text(text: str) -> str:
    """Replace secret-looking substrings of ``text`` with ``[REDACTED]``.

    Example:
        >>> mask_text("key sk-abcdefghijklmnop")
        'key [REDACTED]'
    """
    if len(text) < 8:
        return text
    return _SECRET_RE.sub(REDACTED, text)


def is_secret_key(key: str) -> bool:
    """True when a mapping key or argument name names a secret (``api_key``, ``Authorization``)."""
    return key.lower().replace("-", "_") in SECRET_KEYS


def to_jsonable(value: Any, _depth: int = 0, _seen: set[int] | None = None) -> Any:
    """Convert ``value`` to plain JSON types, masking secrets; never raises.

    Cycles become ``"<circular ...>"``; unknown objects their ``repr`` (or a placeholder when
    ``repr`` itself fails).
    """
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return mask_text(value)
    if _depth > _MAX_DEPTH:
        return f"<max depth {type(value).__name__}>"
    seen = _seen if _seen is not None else set()
    oid = id(value)
    if oid in seen:
        return f"<circular {type(value).__name__}>"
    seen.add(oid)
    try:
        return _convert(value, _depth, seen)
    except Exception:  # a broken __iter__/__getattr__/model_dump in user code
        return _safe_repr(value)
    finally:
        seen.discard(oid)


def _convert(value: Any, depth: int, seen: set[int]) -> Any:
    nxt = depth + 1
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = k if isinstance(k, str) else str(to_jsonable(k, nxt, seen))
            out[key] = REDACTED if is_secret_key(key) and v else to_jsonable(v, nxt, seen)
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v, nxt, seen) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, nxt, seen)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return to_jsonable(fields, nxt, seen)
    model_dump = getattr(value, "model_dump", None)  # pydantic v2 (openai responses)
    if callable(model_dump) and not isinstance(value, type):
        return to_jsonable(model_dump(), nxt, seen)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and not isinstance(value, type):
        return to_jsonable(to_dict(), nxt, seen)
    return _safe_repr(value)


def _safe_repr(value: Any) -> str:
    try:
        return mask_text(repr(value))
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


def dump_json(
    value: Any,
    max_chars: int,
    redact: Callable[[Any], Any] | None = None,
) -> tuple[str, bool]:
    """Serialize ``value`` to JSON text of at most ~``max_chars``; returns (text, truncated).

    A value too long becomes a JSON *string* holding its first ``max_chars`` characters and a
    ``...[truncated N chars]`` marker, so the result is always valid JSON.
    """
    data = to_jsonable(value)
    if redact is not None:
        try:
            data = to_jsonable(redact(data))
        except Exception:
            data = "<redact hook failed; value withheld>"
    text = json.dumps(data, ensure_ascii=False, allow_nan=True)
    if max_chars > 0 and len(text) > max_chars:
        dropped = len(text) - max_chars
        return json.dumps(f"{text[:max_chars]}...[truncated {dropped} chars]"), True
    return text, False


def as_text(value: Any) -> str:
    """A value as one string: a string as it is, anything else as compact JSON (or ``str()``).

    Example:
        >>> as_text({"q": "hi"})
        '{"q": "hi"}'
    """
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)
