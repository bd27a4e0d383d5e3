"""A trace as one self-contained HTML file (no CDN, no network): collapsible span tree with a
timeline column, each span's error, conversation, documents, inputs and outputs.

Spans are nested ``<details>`` elements, so they open and close on click without any script;
a few lines of inline JavaScript add "expand all" / "collapse all". The same markup, without the
page around it, is what notebooks show (`html_fragment`).
"""

from __future__ import annotations

from html import escape

from . import _format as fmt
from ._assessments import assessments_html
from ._messages import Message
from ._model import Node, TraceView, pretty

CSS = """
.llmtrace-view{font:13px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,sans-serif;
 color:#1f2328;max-width:1200px}
.llmtrace-view h1{font-size:16px;margin:0 0 4px}
.llmtrace-view .facts{color:#57606a;margin:0 0 2px}
.llmtrace-view .err-text{color:#cf222e}
.llmtrace-view .toolbar{margin:8px 0}
.llmtrace-view .toolbar button{font:inherit;margin-right:6px;padding:2px 8px;cursor:pointer}
.llmtrace-view details{margin-left:14px}
.llmtrace-view .tree>details{margin-left:0}
.llmtrace-view summary{display:flex;align-items:center;gap:8px;cursor:pointer;padding:1px 4px;
 border-radius:4px;list-style:none}
.llmtrace-view summary::-webkit-details-marker{display:none}
.llmtrace-view summary:hover{background:#f3f4f6}
.llmtrace-view summary .tw{width:10px;color:#8c959f;flex:none}
.llmtrace-view details[open]>summary .tw::before{content:"\\25BE"}
.llmtrace-view details:not([open])>summary .tw::before{content:"\\25B8"}
.llmtrace-view details.leaf>summary .tw::before{content:"\\2022"}
.llmtrace-view .name{flex:1;font-weight:600;white-space:nowrap;overflow:hidden;
 text-overflow:ellipsis}
.llmtrace-view .error>summary .name{color:#cf222e}
.llmtrace-view .kind{flex:none;width:92px;font-size:11px;color:#57606a}
.llmtrace-view .num{flex:none;width:76px;text-align:right;font-variant-numeric:tabular-nums}
.llmtrace-view .status{flex:none;width:48px;font-size:11px;color:#1a7f37}
.llmtrace-view .error>summary .status{color:#cf222e;font-weight:700}
.llmtrace-view .bar{flex:none;position:relative;width:240px;height:10px;background:#f0f1f3;
 border-radius:2px}
.llmtrace-view .bar i{position:absolute;top:0;bottom:0;min-width:2px;background:#54aeff;
 border-radius:2px}
.llmtrace-view .k-LLM .bar i,.llmtrace-view .k-CHAT_MODEL .bar i{background:#c297ff}
.llmtrace-view .k-TOOL .bar i{background:#d4a72c}
.llmtrace-view .k-RETRIEVER .bar i{background:#4ac26b}
.llmtrace-view .error>summary .bar i{background:#ff8182}
.llmtrace-view .body{margin:2px 0 6px 18px;padding-left:8px;border-left:2px solid #eaeef2}
.llmtrace-view .exc{color:#cf222e;white-space:pre-wrap;margin:2px 0}
.llmtrace-view pre{background:#f6f8fa;padding:6px 8px;margin:2px 0;white-space:pre-wrap;
 word-break:break-word;max-height:400px;overflow:auto;font-size:12px}
.llmtrace-view .msg{margin:2px 0;display:flex;gap:6px}
.llmtrace-view .msg .text{white-space:pre-wrap;min-width:0;overflow-wrap:anywhere}
.llmtrace-view .role{flex:none;min-width:70px;color:#57606a;font-weight:600}
.llmtrace-view .msg.out{color:#1a7f37}
.llmtrace-view .doc{margin:2px 0}
.llmtrace-view .score{display:inline-block;min-width:48px;color:#0969da;
 font-variant-numeric:tabular-nums}
.llmtrace-view .meta{color:#57606a;font-size:12px}
.llmtrace-view .io>summary{font-size:12px;color:#57606a;display:block}
.llmtrace-view .io>summary::before{content:"\\25B8  "}
.llmtrace-view .io[open]>summary::before{content:"\\25BE  "}
.llmtrace-view .cols{display:flex;gap:8px;font-size:11px;color:#8c959f;padding:0 4px 2px 22px}
.llmtrace-view .cols .name{font-weight:400}
"""

SCRIPT = """
function llmtraceToggle(button, open){
  var root = button.closest('.llmtrace-view');
  root.querySelectorAll('details').forEach(function(d){ d.open = open; });
}
"""


def _bar(node: Node, t0: int, t1: int) -> str:
    total = max(1, t1 - t0)
    left = (node.start_ns - t0) / total * 100
    width = max(0.0, (node.end_ns - node.start_ns) / total * 100)
    return f'<span class="bar"><i style="left:{left:.2f}%;width:{width:.2f}%"></i></span>'


def _summary(node: Node, t0: int, t1: int) -> str:
    return (
        '<summary><span class="tw"></span>'
        f'<span class="name" title="{escape(node.name)}">{escape(node.name)}</span>'
        f'<span class="kind">{escape(node.kind)}</span>'
        f'<span class="num">{escape(fmt.duration(node.duration_ms))}</span>'
        f"{_bar(node, t0, t1)}"
        f'<span class="num">{escape(fmt.tokens(node.tokens))}</span>'
        f'<span class="num">{escape(fmt.cost(node.cost))}</span>'
        f'<span class="status">{escape(node.status)}</span></summary>'
    )


def _message(message: Message, css: str) -> str:
    """One chat message: the role, then the text in its own box (continuation lines align)."""
    return (
        f'<div class="{css}"><span class="role">{escape(message.role)}</span>'
        f'<span class="text">{escape(message.text)}</span></div>'
    )


def _body(node: Node, root: bool = False) -> str:
    parts: list[str] = []
    if node.error:
        parts.append(f'<div class="exc">✗ {escape(node.error)}</div>')
        if node.stacktrace:
            parts.append(
                '<details class="io"><summary>stack trace</summary>'
                f'<pre class="err-text">{escape(node.stacktrace)}</pre></details>'
            )
    facts = []
    if node.model:
        facts.append(f"model {node.model}")
    if node.tokens:
        facts.append(
            f"tokens {node.tokens.get('input_tokens', 0):,} in + "
            f"{node.tokens.get('output_tokens', 0):,} out"
        )
    if facts:
        parts.append(f'<div class="meta">{escape(" · ".join(facts))}</div>')
    if node.input_messages is not None or node.output_messages is not None:
        parts.extend(_message(m, "msg") for m in node.input_messages or [])
        parts.extend(_message(m, "msg out") for m in node.output_messages or [])
    if node.documents is not None:
        for doc in node.documents:
            score = "-" if doc.score is None else f"{doc.score:.3f}"
            ident = f' <span class="meta">[{escape(doc.doc_id)}]</span>' if doc.doc_id else ""
            parts.append(
                f'<div class="doc"><span class="score">{score}</span>'
                f"{escape(doc.content)}{ident}</div>"
            )
    # a parent's values would push its children away, but the root's are what a reader wants
    opened = "" if node.children and not root else " open"
    if node.has_inputs:
        parts.append(
            f'<details class="io"{opened}><summary>inputs</summary>'
            f"<pre>{escape(pretty(node.inputs))}</pre></details>"
        )
    if node.has_outputs:
        parts.append(
            f'<details class="io"{opened}><summary>outputs</summary>'
            f"<pre>{escape(pretty(node.outputs))}</pre></details>"
        )
    return f'<div class="body">{"".join(parts)}</div>' if parts else ""


def _error_paths(view: TraceView) -> set[str]:
    """Span ids of the failed spans, the spans with chat messages, and all their ancestors
    (opened by default: the conversation and what went wrong show without a click)."""
    parents: dict[str, str | None] = {}
    for node in view.nodes():
        for child in node.children:
            parents[child.span_id] = node.span_id
    opened: set[str] = set()
    chats = [n for n in view.nodes() if n.input_messages or n.output_messages]
    for node in [*view.errors, *chats]:
        current: str | None = node.span_id
        while current is not None and current not in opened:
            opened.add(current)
            current = parents.get(current)
    return opened


def _tree(view: TraceView) -> str:
    t0, t1 = view.start_ns, view.end_ns
    opened = _error_paths(view)
    out: list[str] = []
    # (node, depth) to open, or None to close the element opened before
    stack: list[tuple[Node, int] | None] = [(root, 0) for root in reversed(view.roots)]
    while stack:
        item = stack.pop()
        if item is None:
            out.append("</details>")
            continue
        node, depth = item
        classes = ["span", f"k-{node.kind}"]
        if node.is_error:
            classes.append("error")
        body = _body(node, root=depth == 0)
        if not node.children and not body:
            classes.append("leaf")
        is_open = depth == 0 or node.span_id in opened
        out.append(
            f'<details class="{" ".join(classes)}" data-span-id="{escape(node.span_id)}"'
            f"{' open' if is_open else ''}>"
        )
        out.append(_summary(node, t0, t1))
        out.append(body)
        stack.append(None)
        stack.extend((child, depth + 1) for child in reversed(node.children))
    return "".join(out)


def html_fragment(view: TraceView) -> str:
    """The trace as an HTML fragment (styles included) for notebooks and pages.

    Example:
        >>> from IPython.display import HTML
        >>> HTML(html_fragment(build(trace)))
    """
    status_class = "err-text" if view.status == "ERROR" else ""
    facts = [
        f"started {fmt.timestamp(view.start_ms)} UTC",
        fmt.duration(view.duration_ms),
        f"{view.span_count} spans",
    ]
    if view.tokens:
        facts.append(f"{fmt.tokens(view.tokens)} tokens")
    if view.cost is not None:
        facts.append(fmt.cost(view.cost))
    errors = len(view.errors)
    who = []
    if view.session:
        who.append(f"session {view.session}")
    if view.user:
        who.append(f"user {view.user}")
    return "".join(
        [
            f"<style>{CSS}</style>",
            f"<script>{SCRIPT}</script>",
            '<div class="llmtrace-view">',
            f'<h1>{escape(view.name)} <span class="{status_class}">{escape(view.status)}</span>'
            f'</h1><div class="facts">trace {escape(view.trace_id)}</div>',
            f'<div class="facts">{escape(" · ".join(facts))}',
            f' · <span class="err-text">{errors} error(s)</span>' if errors else "",
            "</div>",
            f'<div class="facts">{escape(" · ".join(who))}</div>' if who else "",
            '<div class="toolbar"><button type="button" onclick="llmtraceToggle(this,true)">'
            'expand all</button><button type="button" onclick="llmtraceToggle(this,false)">'
            "collapse all</button></div>",
            '<div class="cols"><span class="name">span</span><span class="kind">kind</span>'
            '<span class="num">duration</span><span class="bar" style="background:none">'
            'timeline</span><span class="num">tokens</span><span class="num">cost</span>'
            '<span class="status">status</span></div>',
            f'<div class="tree">{_tree(view)}</div>',
            assessments_html(view.assessments),
            "</div>",
        ]
    )


def html_document(view: TraceView) -> str:
    """The trace as a complete, self-contained HTML page (nothing loaded from the network).

    Example:
        >>> Path("trace.html").write_text(html_document(build(trace)), encoding="utf-8")
    """
    title = escape(f"{view.name} {view.trace_id} - llmtrace")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title></head><body>{html_fragment(view)}</body></html>\n"
    )
