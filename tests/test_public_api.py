"""The public surface: `__all__` is sorted, complete, and importing does no work."""

from __future__ import annotations

import subprocess
import sys

import evals
import llmtrace
import llmtrace.views
from llmtrace import _semconv, semconv


def test_all_is_sorted_and_complete() -> None:
    assert llmtrace.__all__ == sorted(llmtrace.__all__)
    public = {
        name
        for name in vars(llmtrace)
        if not name.startswith("_") and not isinstance(getattr(llmtrace, name), type(llmtrace))
    }
    assert public == set(llmtrace.__all__)
    assert evals.__all__ == sorted(evals.__all__)


def test_semconv_exports_every_key_once() -> None:
    """`llmtrace.semconv` re-exports every key of `_semconv` (where keys are defined), sorted."""
    keys = {name for name in vars(_semconv) if name.isupper()}
    assert semconv.__all__ == sorted(semconv.__all__)
    assert set(semconv.__all__) == keys
    assert all(getattr(semconv, name) is getattr(_semconv, name) for name in keys)
    assert semconv.__doc__
    strings = [getattr(_semconv, name) for name in keys if isinstance(getattr(_semconv, name), str)]
    assert len(strings) == len(set(strings)), "two constants name the same key"
    assert llmtrace.semconv is semconv


def test_views_exports() -> None:
    assert llmtrace.views.__all__ == sorted(llmtrace.views.__all__)
    assert {"TraceDisplay", "as_text", "show"} <= set(llmtrace.views.__all__)
    assert llmtrace.views.as_text({"q": "hi"}) == '{"q": "hi"}'
    assert llmtrace.views.as_text("plain") == "plain"


def test_public_objects_have_docstrings() -> None:
    for name in llmtrace.__all__:
        assert getattr(llmtrace, name).__doc__, name


def test_import_is_light_and_does_nothing() -> None:
    code = (
        "import sys, signal, logging, atexit\n"
        "before = signal.getsignal(signal.SIGTERM)\n"
        "import llmtrace\n"
        "assert 'mlflow' not in sys.modules, 'mlflow imported at import time'\n"
        "assert signal.getsignal(signal.SIGTERM) is before\n"
        "assert llmtrace._runtime.pipeline() is None\n"
        "from llmtrace._log import StderrFallback\n"
        "handlers = logging.getLogger('llmtrace').handlers\n"
        "assert [type(h) for h in handlers] == [StderrFallback], handlers\n"
        "assert not logging.getLogger().handlers  # nothing added to the program's logging\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
