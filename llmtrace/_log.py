"""llmtrace's logger and its one rule: an internal failure is a warning once, then debug.

Tracing must never flood the traced program's log; a failure that repeats on every span is
reported once per key (per `OnceLogger`), and again only at debug level.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

logger = logging.getLogger("llmtrace")


class OnceLogger:
    """Warn once per key, then log at debug level.

    Example:
        >>> once = OnceLogger()
        >>> once.warn("export", "llmtrace could not export: %s", "timeout")  # a warning
        >>> once.warn("export", "llmtrace could not export: %s", "timeout")  # debug only
    """

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def warn(self, key: str, msg: str, *args: Any) -> None:
        with self._lock:
            first = key not in self._seen
            self._seen.add(key)
        (logger.warning if first else logger.debug)(msg, *args)


_process_wide = OnceLogger()


def warn_once(key: str, msg: str, *args: Any) -> None:
    """Log an llmtrace-internal failure once per ``key`` in this process (then at debug level)."""
    _process_wide.warn(key, msg, *args)
