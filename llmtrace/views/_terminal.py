"""`traces show` in the terminal: the span tree with kind, duration, timing bar, tokens, cost.

Under each span: its error (red), its chat messages as a conversation, its retrieved documents
with scores, or its inputs and outputs, one line each unless ``full``. Long runs of same-named
siblings collapse to a summary line (errors always stay visible); ``depth`` limits the levels.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..tracing._serialize import as_text
from . import _format as fmt
from ._lines import Line
from ._model import Node, TraceView, pretty

KIND_STYLE = {
    "LLM": "magenta",
    "CHAT_MODEL": "magenta",
    "EMBEDDING": "magenta",
    "RETRIEVER": "cyan",
    "RERANKER": "cyan",
    "TOOL": "yellow",
    "AGENT": "blue",
    "CHAIN": "blue",
    "GUARDRAIL": "green",
    "EVALUATOR": "green",
}
KIND_W, DUR_W, TOK_W, COST_W, STATUS_W = 10, 9, 7, 9, 6
BAR_W = 20
GAP = "  "


@dataclass(frozen=True)
class TreeOptions:
    """How much of a trace to show.

    Attributes:
        full: inputs, outputs, messages and errors in full (stack traces too).
        span: show only the spans with this name (or span id), with their subtrees, in full.
        depth: show this many levels (1 = the root only); deeper spans are counted.
        collapse: a run of more than this many same-named siblings shows its first two, its
            last and its errors, and one summary line for the rest; 0 never collapses.
        messages: in the short form, how many of an LLM call's input messages to show.
        documents: in the short form, how many retrieved documents to show.
    """

    full: bool = False
    span: str | None = None
    depth: int | None = None
    collapse: int = 5
    messages: int = 3
    documents: int = 5


def _wrapped(pieces: list[tuple[str, str]], width: int | None) -> list[Line]:
    """``a · b · c`` on as many lines as ``width`` needs, breaking only between pieces."""
    lines: list[Line] = [[]]
    used = 0
    for text, style in pieces:
        sep = " · " if lines[-1] else ""
        if lines[-1] and width is not None and used + len(sep) + len(text) > width:
            lines.append([])
            sep, used = "", 0
        lines[-1].append((sep + text, style))
        used += len(sep) + len(text)
    return lines


def header_lines(view: TraceView, width: int | None = None) -> list[Line]:
    """Trace id, name and status; start, duration, spans, tokens, cost; session and user.

    The facts wrap between items to fit ``width``.
    """
    status_style = "bold red" if view.status == "ERROR" else "green"
    lines: list[Line] = [
        [
            ("trace ", "bold"),
            (view.trace_id, "bold"),
            ("  ", ""),
            (view.name, "bold"),
            ("  ", ""),
            (view.status, status_style),
        ]
    ]
    facts = [
        f"started {fmt.timestamp(view.start_ms)} UTC",
        fmt.duration(view.duration_ms),
        f"{view.span_count} span{'s' if view.span_count != 1 else ''}",
    ]
    errors = len(view.errors)
    if view.tokens:
        usage = view.tokens
        facts.append(
            f"{fmt.tokens(usage)} tokens ({usage.get('input_tokens', 0):,} in, "
            f"{usage.get('output_tokens', 0):,} out)"
        )
    if view.cost is not None:
        facts.append(fmt.cost(view.cost))
    pieces = [(fact, "") for fact in facts]
    if errors:
        pieces.append((f"{errors} error{'s' if errors != 1 else ''}", "bold red"))
    lines.extend(_wrapped(pieces, width))
    who = []
    if view.session:
        who.append((f"session {view.session}", ""))
    if view.user:
        who.append((f"user {view.user}", ""))
    if who:
        lines.extend(_wrapped(who, width))
    return lines


@dataclass
class _Layout:
    name_w: int
    bar_w: int
    t0: int
    t1: int
    width: int
    kind_w: int = KIND_W
    tok_w: int = TOK_W
    cost_w: int = COST_W


def _layout(view: TraceView, roots: list[Node], width: int) -> _Layout:
    """Column widths: the names get room first, then the timing bar (down to 8, then none)."""
    longest = 12
    kinds = tokens = costs = 0
    stack = [(root, 0) for root in roots]
    seen = 0
    while stack and seen < 20_000:  # a sample of that size is enough to size the columns
        node, depth = stack.pop()
        seen += 1
        longest = max(longest, 4 * depth + len(node.name))
        kinds = max(kinds, len(node.kind))
        tokens = max(tokens, len(fmt.tokens(node.tokens)))
        costs = max(costs, len(fmt.cost(node.cost)))
        stack.extend((child, depth + 1) for child in node.children)
    name_w = min(longest, 40)
    layout = _Layout(name_w, BAR_W, view.start_ns, view.end_ns, width)

    def room() -> int:  # what the name column may take
        fixed = layout.kind_w + DUR_W + layout.tok_w + layout.cost_w + STATUS_W + len(GAP) * 5
        return width - fixed - (layout.bar_w + len(GAP) if layout.bar_w else 0)

    if room() < name_w:
        layout.bar_w = max(8, BAR_W - (name_w - room()))
    if room() < name_w:  # narrow: columns as wide as their values, not their widest case
        layout.kind_w = max(len("kind"), kinds)
        layout.tok_w = max(len("tokens"), tokens)
        layout.cost_w = max(len("cost"), costs)
        layout.bar_w = max(8, min(BAR_W, layout.bar_w + (room() - name_w)))
    if room() < name_w:
        layout.bar_w = 0  # the names matter more than the bar
    layout.name_w = max(12, min(name_w, room()))
    return layout


def _column_header(layout: _Layout) -> Line:
    cells = [
        "span".ljust(layout.name_w),
        "kind".ljust(layout.kind_w),
        "duration".rjust(DUR_W),
        *(["timeline".ljust(layout.bar_w)] if layout.bar_w else []),
        "tokens".rjust(layout.tok_w),
        "cost".rjust(layout.cost_w),
        "status",
    ]
    return [(GAP.join(cells), "dim")]


def _row(node: Node, prefix: str, layout: _Layout) -> Line:
    name = fmt.clip(prefix + node.name, layout.name_w)
    guide, label = name[: len(prefix)], name[len(prefix) :]
    kind_style = KIND_STYLE.get(node.kind, "")
    status_style = "bold red" if node.is_error else "green"
    bar: Line = []
    if layout.bar_w:
        timing = fmt.bar(node.start_ns, node.end_ns, layout.t0, layout.t1, layout.bar_w)
        bar = [(timing, kind_style), (GAP, "")]
    return [
        (guide, "dim"),
        (label.ljust(layout.name_w - len(guide)), "bold red" if node.is_error else "bold"),
        (GAP, ""),
        (node.kind.ljust(layout.kind_w), kind_style),
        (GAP, ""),
        (fmt.duration(node.duration_ms).rjust(DUR_W), ""),
        (GAP, ""),
        *bar,
        (fmt.tokens(node.tokens).rjust(layout.tok_w), ""),
        (GAP, ""),
        (fmt.cost(node.cost).rjust(layout.cost_w), ""),
        (GAP, ""),
        (node.status, status_style),
    ]


def _text_lines(
    prefix: str, label: str, text: str, full: bool, width: int, style: str = ""
) -> list[Line]:
    """``label text`` under a span: one clipped line, or every line of ``text`` when full."""
    if not full:
        room = width - len(prefix) - len(label)
        return [[(prefix, "dim"), (label, "dim"), (fmt.clip(fmt.one_line(text), room), style)]]
    pad = " " * len(label)
    room = max(8, width - len(prefix) - len(label))
    rows = [
        row[i : i + room] if row else ""
        for row in (text.splitlines() or [""])
        for i in range(0, max(1, len(row)), room)
    ]  # long lines wrap, never cut
    return [
        [(prefix, "dim"), (label if i == 0 else pad, "dim"), (row, style)]
        for i, row in enumerate(rows)
    ]


def _details(node: Node, prefix: str, opts: TreeOptions, full: bool, width: int) -> list[Line]:
    """The lines under a span's row: error, model/tokens, conversation, documents, in/out."""
    out: list[Line] = []
    show = pretty if full else as_text
    if node.error:
        out.extend(_text_lines(prefix, "✗ ", node.error, full, width, "red"))
        if full and node.stacktrace and "\n" in node.stacktrace.strip():  # frames, not a repeat
            out.extend(_text_lines(prefix, "  ", node.stacktrace.rstrip(), True, width, "red"))
    if node.model or node.tokens:
        facts = []
        if node.model:
            facts.append(f"model {node.model}")
        if node.tokens:
            facts.append(
                f"tokens {node.tokens.get('input_tokens', 0):,} in + "
                f"{node.tokens.get('output_tokens', 0):,} out"
            )
        out.append([(prefix, "dim"), (" · ".join(facts), "dim")])
    if node.input_messages is not None or node.output_messages is not None:
        if node.input_messages is None and node.has_inputs:  # a reply to inputs, not messages
            out.extend(_text_lines(prefix, "in:  ", show(node.inputs), full, width))
        messages = list(node.input_messages or [])
        if not full and len(messages) > opts.messages:
            hidden = len(messages) - opts.messages
            out.append([(prefix, "dim"), (f"… {hidden} earlier message(s)", "dim")])
            messages = messages[-opts.messages :]
        for message in messages:
            out.extend(_text_lines(prefix, f"{message.role}: ", message.text, full, width))
        for message in node.output_messages or []:
            out.extend(_text_lines(prefix, f"{message.role}: ", message.text, full, width, "green"))
        return out
    if node.has_inputs:
        out.extend(_text_lines(prefix, "in:  ", show(node.inputs), full, width))
    if node.documents is not None:
        docs = node.documents if full else node.documents[: opts.documents]
        for i, doc in enumerate(docs, 1):
            score = f"{doc.score:.3f}" if doc.score is not None else "  -  "
            ident = f" [{doc.doc_id}]" if doc.doc_id else ""
            label = f"{i}. {score}{ident}  "
            out.extend(_text_lines(prefix, label, doc.content, full, width, "cyan"))
        if len(docs) < len(node.documents):
            more = len(node.documents) - len(docs)
            out.append([(prefix, "dim"), (f"… {more} more document(s)", "dim")])
    elif node.has_outputs:
        out.extend(_text_lines(prefix, "out: ", show(node.outputs), full, width, "green"))
    return out


def _collapsed(children: list[Node], limit: int) -> list[Node | tuple[int, str, str, float]]:
    """Children with long runs of same-named siblings summarized (errors kept)."""
    if limit <= 0 or len(children) <= limit:
        return list(children)
    out: list[Node | tuple[int, str, str, float]] = []
    i = 0
    while i < len(children):
        j = i
        key = (children[i].name, children[i].kind)
        while j < len(children) and (children[j].name, children[j].kind) == key:
            j += 1
        run = children[i:j]
        if len(run) <= limit:
            out.extend(run)
        else:
            hidden: list[Node] = []
            middle = run[2:-1]
            out.extend(run[:2])
            for node in middle:
                if node.is_error:
                    if hidden:
                        out.append(_summary(hidden))
                        hidden = []
                    out.append(node)
                else:
                    hidden.append(node)
            if hidden:
                out.append(_summary(hidden))
            out.append(run[-1])
        i = j
    return out


def _summary(hidden: list[Node]) -> tuple[int, str, str, float]:
    total = sum(n.duration_ms for n in hidden)
    return (len(hidden), hidden[0].name, hidden[0].kind, total)


def _select(view: TraceView, name: str) -> list[Node]:
    return [n for n in view.nodes() if n.name == name or n.span_id == name]


def tree_lines(view: TraceView, width: int, opts: TreeOptions | None = None) -> list[Line]:
    """The whole `traces show` output for ``view`` at console ``width``.

    Example:
        >>> lines = tree_lines(build(trace), 100, TreeOptions(depth=2))
        >>> print(Lines(lines).plain())
    """
    opts = opts or TreeOptions()
    roots = view.roots
    full = opts.full
    if opts.span is not None:
        roots = _select(view, opts.span)
        full = True
    layout = _layout(view, roots, width)
    lines = header_lines(view, width)
    lines.append([])
    lines.append(_column_header(layout))
    # (node or summary, guide for its own row, guide for the lines under it, depth)
    stack: list[tuple[Node | tuple[int, str, str, float], str, str, int]] = [
        (root, "", "", 1) for root in reversed(roots)
    ]
    while stack:
        item, row_guide, under_guide, depth = stack.pop()
        if isinstance(item, tuple):
            count, name, kind, total = item
            text = f"… {count} more {name!r} ({kind}) spans, {fmt.duration(total)} in total"
            lines.append([(row_guide, "dim"), (text, "dim")])
            continue
        node = item
        lines.append(_row(node, row_guide, layout))
        deeper = opts.depth is None or depth < opts.depth
        children = _collapsed(node.children, opts.collapse) if deeper else []
        detail_guide = under_guide + ("│   " if children else "    ")
        lines.extend(_details(node, detail_guide, opts, full, width))
        if node.children and not deeper:
            below = node.count() - 1
            lines.append([(detail_guide, "dim"), (f"… {below} span(s) below (--depth)", "dim")])
        for k in range(len(children) - 1, -1, -1):
            last = k == len(children) - 1
            stack.append(
                (
                    children[k],
                    under_guide + ("└── " if last else "├── "),
                    under_guide + ("    " if last else "│   "),
                    depth + 1,
                )
            )
    if opts.span is not None and not roots:
        names = sorted({n.name for n in view.nodes()})
        lines.append([(f"no span named {opts.span!r}; spans: {', '.join(names)}", "red")])
    return lines
