"""Which judge API errors are retried, and how long to wait before the next try.

Retried: rate limits (429), server errors (5xx), 408/409, timeouts and connection errors.
The wait honours the server's ``Retry-After`` (or ``retry-after-ms``) header; without one it is
exponential backoff with jitter. Other errors (401, 400, 404…) are raised at once.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["Backoff", "is_retryable", "retry_after"]

_RETRY_STATUS = frozenset({408, 409, 429})


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def is_retryable(exc: BaseException) -> bool:
    """True for a 429, 5xx, 408, 409, timeout or connection error from the OpenAI client.

    Example:
        >>> is_retryable(openai.RateLimitError(...))
        True
    """
    import openai

    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    status = _status(exc)
    if isinstance(exc, openai.APIStatusError) and status is not None:
        return status in _RETRY_STATUS or status >= 500
    return False


def retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms``, ``retry-after``), or None.

    ``retry-after`` may be seconds or an HTTP date.
    """
    response = getattr(exc, "response", None)
    headers: Any = getattr(response, "headers", None)
    if headers is None:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            if name == "retry-after-ms":
                continue
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                continue
            seconds = when.timestamp() - time.time()
        if math.isfinite(seconds):
            return max(0.0, seconds)
    return None


@dataclass(frozen=True)
class Backoff:
    """Delays between retries: ``Retry-After`` when given, else capped exponential + jitter.

    Attempt ``n`` (0-based) waits a random time in ``[d/2, d]`` with
    ``d = min(max_delay, base * 2**n)``. A ``Retry-After`` is waited in full (plus up to 10 %
    jitter, so parallel callers do not return at once), capped at ``max_retry_after``.

    Example:
        >>> Backoff(base=0.5).delay(2, exc)   # 1.0-2.0 s without Retry-After
    """

    base: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int, exc: BaseException | None = None) -> float:
        """Seconds to sleep before retry number ``attempt + 1``."""
        asked = retry_after(exc) if exc is not None else None
        if asked is not None:
            asked = min(asked, self.max_retry_after)
            return asked + random.uniform(0.0, min(1.0, asked * 0.1))
        ceiling = min(self.max_delay, self.base * (2.0**attempt))
        return random.uniform(ceiling / 2.0, ceiling)
