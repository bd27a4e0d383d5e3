"""The export process's log summary, and what an error is about (store or data)."""

from __future__ import annotations

import io
import logging

import pytest

from llmtrace.export._http import HttpStatusError
from llmtrace.export._isolate import about_the_data, describe, retryable, store_wide
from llmtrace.export._quiet import Summary


def _logger(summary: Summary) -> logging.Logger:
    logger = logging.getLogger("tests.quiet")
    logger.handlers = [summary]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def test_a_thousand_repeats_are_one_line_and_a_count() -> None:
    stream = io.StringIO()
    summary = Summary(stream, window_s=30)
    logger = _logger(summary)
    for i in range(1000):
        try:
            raise RuntimeError(f"attempt to write a readonly database\n[SQL: INSERT {i}]")
        except RuntimeError:
            logger.exception("SQLAlchemy database error for trace tr-%032x", i)
    logger.warning("database or disk is full")
    logger.info("not a warning: not shown")
    summary.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3, lines
    assert "readonly database" in lines[0] and "INSERT" not in lines[0]  # no SQL, no data
    assert "disk is full" in lines[1]
    assert lines[2].startswith("llmtrace export process: 999 more like:")


def test_a_repeat_after_the_window_is_printed_with_its_count() -> None:
    stream = io.StringIO()
    summary = Summary(stream, window_s=0.0)
    logger = _logger(summary)
    logger.error("locked %d", 1)
    logger.error("locked %d", 2)
    assert len(stream.getvalue().splitlines()) == 2


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (RuntimeError("(sqlite3.OperationalError) database is locked"), "retry"),
        (HttpStatusError(503, "busy"), "retry"),
        (HttpStatusError(408, "slow"), "retry"),
        (ConnectionRefusedError(111, "refused"), "retry"),
        (RuntimeError("(sqlite3.OperationalError) attempt to write a readonly database"), "store"),
        (RuntimeError("(sqlite3.OperationalError) database or disk is full"), "store"),
        (RuntimeError("(sqlite3.OperationalError) no such table: trace_info"), "store"),
        (HttpStatusError(403, "no"), "store"),
        (OSError(28, "No space left on device"), "store"),
        (HttpStatusError(400, "bad trace"), "data"),
        (HttpStatusError(413, "too large"), "data"),
        (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), "data"),
        (RuntimeError("'Trace name' exceeds the maximum length of 4096 characters"), "data"),
        (RuntimeError("x [SQL: INSERT ...] [parameters: ('timeout connection',)]"), "data"),
    ],
)
def test_what_an_error_is_about(error: Exception, kind: str) -> None:
    found = "retry" if retryable(error) else "store" if store_wide(error) else "data"
    assert found == kind
    assert about_the_data(error) is (kind == "data")


def test_an_error_is_described_without_the_users_data() -> None:
    error = RuntimeError(
        "(sqlite3.IntegrityError) boom\n[SQL: INSERT INTO spans VALUES (?)]\n"
        "[parameters: ('api_key=sk-secret',)]\n(Background on this error at: https://x/e/1)"
    )
    assert describe(error) == "RuntimeError: (sqlite3.IntegrityError) boom"
