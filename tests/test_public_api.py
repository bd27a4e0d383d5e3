"""The public surface: `__all__` is sorted, complete, and importing does no work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import evals
import llmtrace
import llmtrace.views
from llmtrace import _semconv, semconv


def test_all_is_sorted_and_complete() -> None:
    assert llmtrace.__all__ == sorted(llmtrace.__all__)
    public = {
        name
        for name in dir(llmtrace)
        if not name.startswith("_") and not isinstance(getattr(llmtrace, name), type(llmtrace))
    }
    assert public == set(llmtrace.__all__)
    assert evals.__all__ == sorted(evals.__all__)


def test_lazy_exports_match_the_typed_imports() -> None:
    """Each public name is imported on first use from where the ``TYPE_CHECKING`` block says."""
    import ast
    import importlib
    from pathlib import Path

    tree = ast.parse(Path(llmtrace.__file__).read_text(encoding="utf-8"))
    guarded = next(
        n for n in tree.body if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test)
    )
    typed = {
        alias.asname or alias.name: "." * node.level + (node.module or "")
        for node in guarded.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert typed == llmtrace._EXPORTS
    assert sorted(typed) == llmtrace.__all__
    for name, module in typed.items():
        assert getattr(llmtrace, name) is getattr(importlib.import_module(module, "llmtrace"), name)


def test_import_llmtrace_leaves_the_tracing_stack_unloaded() -> None:
    """``import llmtrace`` (and so the ``llmtrace`` command) loads no OpenTelemetry SDK."""
    code = (
        "import sys, llmtrace\n"
        "heavy = sorted(m for m in sys.modules if m.startswith(('opentelemetry', 'llmtrace.')))\n"
        "assert heavy == ['llmtrace._log'], heavy\n"
        "assert callable(llmtrace.trace) and 'opentelemetry' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


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


def test_a_traced_call_after_a_bare_import_is_traced(tmp_path: Path) -> None:
    """No `configure()`, only ``import llmtrace``: the first span starts the runtime lazily."""
    code = (
        "import llmtrace\n"
        "@llmtrace.trace\n"
        "def answer(q):\n"
        "    return q\n"
        "assert answer('a') == 'a'\n"
        "assert llmtrace.flush(60)\n"
        "assert llmtrace.stats().exported == 1, llmtrace.stats()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, timeout=180)
    assert (tmp_path / "mlflow.db").exists()


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
