"""Views of stored traces: the span tree in a terminal, a transcript per session, HTML.

`llmtrace.show(trace)` is the entry point from Python; the ``llmtrace`` CLI (``traces show``,
``sessions show``, ``traces export --html``) uses the same renderers. rich and MLflow are imported
only when something is shown. `as_text` is how the views print a value (a string as it is,
anything else as compact JSON), for tools that want to show or compare values the same way.
`read_traces` reads stored traces with their spans as the views do (straight from a SQLite
store's tables when it is safe, else through MLflow's client); `evals.datasets` uses it.

Example:
    >>> import llmtrace
    >>> llmtrace.show(llmtrace.search_traces(max_results=1)[0])
"""

from ..tracing._serialize import as_text
from ._read import read_traces
from ._show import TraceDisplay, show

__all__ = ["TraceDisplay", "as_text", "read_traces", "show"]
