"""`llmtrace.show()`: a trace as a rich tree in a terminal, as HTML in a notebook."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when something is shown, keeping `import llmtrace` light
    from rich.console import Console, ConsoleOptions

    from ._model import TraceView
    from ._terminal import TreeOptions


class TraceDisplay:
    """A trace ready to display: rich renders it as the span tree, Jupyter as HTML.

    Example:
        >>> display = llmtrace.show(trace, html=True)
        >>> display._repr_html_()[:15]
        '<style>.llmtra'
    """

    def __init__(self, view: TraceView, options: TreeOptions | None = None) -> None:
        from ._terminal import TreeOptions

        self.view = view
        self.options = options or TreeOptions()

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Any]:
        from ._lines import Lines
        from ._terminal import tree_lines

        yield Lines(tree_lines(self.view, options.max_width, self.options))

    def _repr_html_(self) -> str:
        from ._html import html_fragment

        return html_fragment(self.view)

    def text(self, width: int = 100) -> str:
        """The terminal rendering as plain text, ``width`` characters wide."""
        from ._lines import Lines
        from ._terminal import tree_lines

        return Lines(tree_lines(self.view, width, self.options)).plain()

    def __repr__(self) -> str:
        return (
            f"<TraceDisplay {self.view.trace_id} {self.view.name!r}: "
            f"{self.view.span_count} spans, {self.view.status}>"
        )


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython  # type: ignore[import-not-found]
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def show(
    trace_or_id: Any,
    *,
    full: bool = False,
    span: str | None = None,
    depth: int | None = None,
    collapse: int = 5,
    html: bool | None = None,
    console: Console | None = None,
) -> TraceDisplay | None:
    """Show a trace: its span tree, timings, tokens, cost, errors, messages and documents.

    Args:
        trace_or_id: an `mlflow.entities.Trace` or a trace id (``tr-...``) in the configured
            store (pending spans are flushed first).
        full: inputs, outputs and messages in full instead of one line each.
        span: only the spans with this name (or span id), in full.
        depth: show this many levels of the tree.
        collapse: summarize runs of more than this many same-named siblings (0: never).
        html: True returns a `TraceDisplay` (rendered as HTML by Jupyter); False prints to
            the terminal; None (default) picks HTML inside a Jupyter kernel.
        console: the rich console to print to (default: a new one on stdout).

    Returns:
        The `TraceDisplay` when showing HTML (a notebook's cell shows it), else None.

    Example:
        >>> llmtrace.show("tr-6ebe11d0...")            # in a terminal: the span tree
        >>> llmtrace.show(trace, depth=2)              # in a notebook: collapsible HTML
    """
    from ._model import TraceView, build
    from ._terminal import TreeOptions

    if isinstance(trace_or_id, TraceView):
        view = trace_or_id
    elif isinstance(trace_or_id, str):
        from .. import _runtime
        from ._store import Store

        _runtime.flush()  # a trace just made is found
        config = _runtime.current_config()
        view = build(Store(config.tracking_uri, config.experiment).get_trace(trace_or_id))
    else:
        view = build(trace_or_id)
    display = TraceDisplay(view, TreeOptions(full=full, span=span, depth=depth, collapse=collapse))
    if html is None:
        html = _in_notebook()
    if html:
        return display
    if console is None:
        from rich.console import Console

        console = Console()
    console.print(display)
    return None
