"""llmtrace's logger and its two rules: a failure is a warning once, then debug; and a warning
is seen even when the program set up no logging.

Tracing must never flood the traced program's log; a failure that repeats on every span is
reported once per key (per `OnceLogger`), and again only at debug level. A library's logger
usually carries a `NullHandler`, which also hides its warnings from a program that never
called ``logging.basicConfig()``: a lost span or a store that cannot be written would go
unseen. llmtrace's logger carries `StderrFallback` instead, which prints a warning as one
``llmtrace: ...`` line on stderr only when no other handler would receive it (what Python's
`logging.lastResort` does for a logger without any handler).
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

logger = logging.getLogger("llmtrace")


class StderrFallback(logging.Handler):
    """Print WARNING and above on stderr when the record reaches no other handler.

    Example:
        >>> logging.getLogger("llmtrace").warning("export failed")   # no logging configured
        llmtrace: export failed                                       # (on stderr)
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        if _reaches_another_handler(record, self):
            return
        try:
            message = record.getMessage()
            if not message.startswith("llmtrace"):
                message = f"llmtrace: {message}"
            stream = sys.stderr
            if stream is not None:
                stream.write(message.replace("\n", " ") + "\n")
                stream.flush()
        except Exception:  # never let logging break the traced program
            pass


def _reaches_another_handler(record: logging.LogRecord, me: logging.Handler) -> bool:
    current: logging.Logger | None = logging.getLogger(record.name)
    while current is not None:
        for handler in current.handlers:
            if handler is me or isinstance(handler, logging.NullHandler):
                continue
            if record.levelno >= handler.level:
                return True
        if not current.propagate:
            return False
        current = current.parent  # type: ignore[assignment]
    return False


if not any(isinstance(h, StderrFallback) for h in logger.handlers):
    logger.addHandler(StderrFallback())


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
