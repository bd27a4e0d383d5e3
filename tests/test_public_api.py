"""The public surface: `__all__` is sorted, complete, and importing does no work."""

from __future__ import annotations

import subprocess
import sys

import evals
import llmtrace


def test_all_is_sorted_and_complete() -> None:
    assert llmtrace.__all__ == sorted(llmtrace.__all__)
    public = {
        name
        for name in vars(llmtrace)
        if not name.startswith("_") and not isinstance(getattr(llmtrace, name), type(llmtrace))
    }
    assert public == set(llmtrace.__all__)
    assert evals.__all__ == sorted(evals.__all__)


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
        "handlers = logging.getLogger('llmtrace').handlers\n"
        "assert all(isinstance(h, logging.NullHandler) for h in handlers)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
