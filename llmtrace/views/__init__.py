"""Views of stored traces: the span tree in a terminal, a transcript per session, HTML.

`llmtrace.show(trace)` is the entry point from Python; the ``llmtrace`` CLI (``traces show``,
``sessions show``, ``traces export --html``) uses the same renderers. rich and MLflow are imported
only when something is shown.

Example:
    >>> import llmtrace
    >>> llmtrace.show(llmtrace.search_traces(max_results=1)[0])
"""

from ._show import TraceDisplay, show

__all__ = ["TraceDisplay", "show"]
