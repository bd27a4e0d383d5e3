"""A failing store, summarized: one line per distinct error per window, never a traceback flood.

When a store fails for every batch (read-only, deleted, a full disk), MLflow logs the whole
SQLAlchemy traceback each time (`mlflow.store.db.utils` logs ``exception``), thousands of
lines a second on the traced program's stderr. The export process routes every logger (MLflow's,
SQLAlchemy's, alembic's, llmtrace's, Python warnings) to one `Summary` handler: a record is
printed as a single line, at most once per distinct message per `WINDOW_S`, and the next line
of that kind says how many like it were held back (so does `Summary.close`, at exit).

Example:
    >>> install(sys.stderr)      # in the export process, after importing MLflow
    >>> logging.getLogger("mlflow.store.db.utils").error("database is locked")   # printed
    >>> logging.getLogger("mlflow.store.db.utils").error("database is locked")   # counted
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import IO

from ._isolate import describe, one_line

WINDOW_S = 30.0
"""A distinct message is printed at most once per this many seconds."""
PREFIX = "llmtrace export process: "
_MAX_LINE = 400
_VARYING = re.compile(r"0x[0-9a-f]+|[0-9a-f]{8,}|\d+", re.IGNORECASE)
_LOGGERS = ("mlflow", "sqlalchemy", "alembic", "urllib3", "py.warnings", "llmtrace")


class Summary(logging.Handler):
    """Print each distinct record once per `WINDOW_S` on one line; count the rest."""

    def __init__(self, stream: IO[str], window_s: float = WINDOW_S) -> None:
        super().__init__(logging.WARNING)
        self.stream = stream
        self.window_s = window_s
        self._last: dict[str, float] = {}  # key -> when last printed
        self._held: dict[str, tuple[int, str]] = {}  # key -> (records held back, a sample)
        self._guard = threading.Lock()

    def key_and_text(self, record: logging.LogRecord) -> tuple[str, str]:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text = f"{text} ({describe(record.exc_info[1])})"
        line = one_line(text, _MAX_LINE)
        return f"{record.name}|{_VARYING.sub('#', line)[:200]}", line

    def emit(self, record: logging.LogRecord) -> None:
        try:
            key, line = self.key_and_text(record)
            now = time.monotonic()
            with self._guard:
                last = self._last.get(key)
                if last is not None and now - last < self.window_s:
                    count, _ = self._held.get(key, (0, line))
                    self._held[key] = (count + 1, line)
                    return
                self._last[key] = now
                held, _ = self._held.pop(key, (0, line))
            more = f" (and {held} more like it in the last {self.window_s:.0f} s)" if held else ""
            self._write(f"{PREFIX}{record.levelname.lower()}: {line}{more}")
        except Exception:  # logging must never break the export process
            pass

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Say how many records were held back since their last printed line."""
        try:
            with self._guard:
                held, self._held = self._held, {}
            for count, line in held.values():
                if count:
                    self._write(f"{PREFIX}{count} more like: {line}")
        except Exception:
            pass
        super().close()


def install(stream: IO[str]) -> Summary:
    """Route the root logger and MLflow's, SQLAlchemy's and llmtrace's loggers (and Python
    warnings) to one `Summary` on ``stream``. For the export process only: it owns its logging.
    """
    summary = Summary(stream)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(summary)
    root.setLevel(logging.WARNING)
    for name in _LOGGERS:
        named = logging.getLogger(name)
        for handler in list(named.handlers):
            if not isinstance(handler, logging.NullHandler):
                named.removeHandler(handler)
        named.propagate = True
    logging.captureWarnings(True)
    return summary
