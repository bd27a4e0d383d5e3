"""An MLflow trace as a plain tree of nodes: what every view (terminal, HTML, transcript) shows.

Only this module reads MLflow's span objects; the renderers work on `TraceView` and `Node`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .. import _semconv as sc
from ..tracing._serialize import as_text
from ._assessments import AssessmentView
from ._messages import (
    Message,
    _flattened_messages,
    _genai_messages,
    _langchain_messages,
    _openai_messages,
)

#: Keys of a root span's inputs that usually hold the user's message, in order of preference.
USER_KEYS = ("text", "message", "question", "query", "input", "prompt", "user_input", "content")
#: Keys of a root span's outputs that usually hold the reply.
REPLY_KEYS = ("answer", "reply", "response", "output", "content", "text", "result")


@dataclass
class Document:
    """One retrieved document: its content, score and id (when the retriever gave them)."""

    content: str
    score: float | None = None
    doc_id: str | None = None


@dataclass
class Node:
    """One span, with its children, in the shape the views need."""

    span_id: str
    name: str
    kind: str
    status: str
    start_ns: int
    end_ns: int
    parent_id: str | None = None
    error: str | None = None
    stacktrace: str | None = None
    inputs: Any = None
    outputs: Any = None
    has_inputs: bool = False
    has_outputs: bool = False
    tokens: dict[str, int] | None = None
    cost: float | None = None
    model: str | None = None
    input_messages: list[Message] | None = None
    output_messages: list[Message] | None = None
    documents: list[Document] | None = None
    children: list[Node] = field(default_factory=list)

    @property
    def duration_ms(self) -> float:
        """Wall time of the span in milliseconds."""
        return max(0, self.end_ns - self.start_ns) / 1e6

    @property
    def is_error(self) -> bool:
        """True when the span failed."""
        return self.status == "ERROR"

    def walk(self) -> Iterator[Node]:
        """This node and all its descendants, depth first, in start order."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def count(self) -> int:
        """How many spans this subtree holds (itself included)."""
        return sum(1 for _ in self.walk())


@dataclass
class TraceView:
    """A whole trace: summary fields of the MLflow trace info plus the span tree."""

    trace_id: str
    name: str
    status: str
    start_ms: int
    duration_ms: float | None
    session: str | None = None
    user: str | None = None
    tokens: dict[str, int] | None = None
    cost: float | None = None
    roots: list[Node] = field(default_factory=list)
    span_count: int = 0
    request_preview: str | None = None
    response_preview: str | None = None
    assessments: list[AssessmentView] = field(default_factory=list)

    @property
    def start_ns(self) -> int:
        """Earliest span start (the trace's time origin)."""
        starts = [n.start_ns for root in self.roots for n in root.walk()]
        return min(starts, default=self.start_ms * 1_000_000)

    @property
    def end_ns(self) -> int:
        """Latest span end."""
        ends = [n.end_ns for root in self.roots for n in root.walk()]
        return max(ends, default=self.start_ns)

    def nodes(self) -> Iterator[Node]:
        """Every span of the trace, depth first."""
        for root in self.roots:
            yield from root.walk()

    @property
    def errors(self) -> list[Node]:
        """The failed spans, in tree order."""
        return [n for n in self.nodes() if n.is_error]


def short_type(exc_type: str) -> str:
    """``__main__.WeatherTimeout`` -> ``WeatherTimeout``."""
    return exc_type.rsplit(".", 1)[-1]


def _error(span: Any) -> tuple[str | None, str | None]:
    status = span.status
    code = getattr(status.status_code, "value", str(status.status_code))
    for event in span.events:
        if event.name == sc.EXCEPTION_EVENT:
            attrs = event.attributes or {}
            exc_type = short_type(str(attrs.get("exception.type", "Exception")))
            message = attrs.get("exception.message", "")
            return f"{exc_type}: {message}", attrs.get("exception.stacktrace")
    if code == "ERROR":
        return status.description or "error", None
    return None, None


def _documents(outputs: Any) -> list[Document] | None:
    if isinstance(outputs, dict) and isinstance(outputs.get("documents"), list):
        outputs = outputs["documents"]  # LangChain's retriever output, as OpenInference keeps it
    if not isinstance(outputs, list) or not outputs:
        return None
    docs = []
    for item in outputs:
        if not isinstance(item, dict) or "page_content" not in item:
            return None
        metadata = item.get("metadata") or {}
        score = metadata.get("score") if isinstance(metadata, dict) else None
        docs.append(
            Document(
                content=str(item.get("page_content")),
                score=float(score) if isinstance(score, (int, float)) else None,
                doc_id=None if item.get("id") is None else str(item["id"]),
            )
        )
    return docs


def _node(span: Any) -> Node:
    get = span.get_attribute
    error, stacktrace = _error(span)
    code = span.status.status_code
    status = str(getattr(code, "value", code))
    if status != "ERROR":  # an exception recorded on a span that still succeeded
        error = stacktrace = None
    inputs = get(sc.MLFLOW_SPAN_INPUTS)
    outputs = get(sc.MLFLOW_SPAN_OUTPUTS)
    kind = str(get(sc.MLFLOW_SPAN_TYPE) or "UNKNOWN")
    node = Node(
        span_id=span.span_id,
        name=span.name,
        kind=kind,
        status=status,
        start_ns=int(span.start_time_ns or 0),
        end_ns=int(span.end_time_ns or span.start_time_ns or 0),
        parent_id=span.parent_id,
        error=error,
        stacktrace=stacktrace,
        inputs=inputs,
        outputs=outputs,
        has_inputs=inputs is not None,
        has_outputs=outputs is not None,
    )
    usage = get(sc.MLFLOW_CHAT_USAGE)
    if isinstance(usage, dict):
        node.tokens = {k: int(v) for k, v in usage.items() if isinstance(v, (int, float))}
    cost = get(sc.MLFLOW_LLM_COST)
    if isinstance(cost, dict) and isinstance(cost.get("total_cost"), (int, float)):
        node.cost = float(cost["total_cost"])
    model = (
        get(sc.MLFLOW_LLM_MODEL) or get(sc.GEN_AI_RESPONSE_MODEL) or get(sc.GEN_AI_REQUEST_MODEL)
    )
    node.model = str(model) if model else None
    genai_in, genai_out = get(sc.GEN_AI_INPUT_MESSAGES), get(sc.GEN_AI_OUTPUT_MESSAGES)
    if genai_in is not None or genai_out is not None:
        node.input_messages = _genai_messages(genai_in)
        node.output_messages = _genai_messages(genai_out)
    elif kind in ("LLM", "CHAT_MODEL"):
        ins, outs = _openai_messages(inputs, outputs)
        if ins is None and outs is None:
            ins, outs = _langchain_messages(inputs, outputs)
        ins = ins or _flattened_messages(span, sc.LLM_INPUT_MESSAGES)
        outs = outs or _flattened_messages(span, sc.LLM_OUTPUT_MESSAGES)
        node.input_messages, node.output_messages = ins, outs
    if kind in ("LLM", "CHAT_MODEL") and node.output_messages is None:
        if isinstance(outputs, str) and outputs:  # set_outputs("the reply"), with any inputs
            node.output_messages = [Message("assistant", outputs)]
    if kind == "RETRIEVER":
        node.documents = _documents(outputs)
    return node


def _usage(info: Any) -> dict[str, int] | None:
    try:
        usage = info.token_usage
    except (ValueError, TypeError):
        return None
    return usage if isinstance(usage, dict) else None


def _cost(info: Any) -> float | None:
    try:
        cost = info.cost
    except (ValueError, TypeError, AttributeError):
        return None
    if isinstance(cost, dict) and isinstance(cost.get("total_cost"), (int, float)):
        return float(cost["total_cost"])
    return None


def _assessment(item: Any) -> AssessmentView:
    """An MLflow ``Feedback``/``Expectation`` (or the fast path's stand-in) as a view."""
    feedback = getattr(item, "feedback", None)
    expectation = getattr(item, "expectation", None)
    if feedback is not None:
        kind, value, error = "feedback", feedback.value, feedback.error
    elif expectation is not None:
        kind, value, error = "expectation", expectation.value, None
    else:
        kind, value, error = "issue", None, None
    source = item.source
    return AssessmentView(
        assessment_id=item.assessment_id,
        name=item.name,
        kind=kind,
        value=value,
        source_type=str(source.source_type),
        source_id=source.source_id,
        rationale=item.rationale,
        span_id=item.span_id,
        error_code=None if error is None else error.error_code,
        error_message=None if error is None else error.error_message,
        metadata=dict(item.metadata) if item.metadata else None,
        create_time_ms=item.create_time_ms,
        last_update_time_ms=item.last_update_time_ms,
        overrides=item.overrides,
        valid=item.valid,
        run_id=item.run_id,
    )


def assessments(info: Any) -> list[AssessmentView]:
    """The trace's assessments, oldest first (ties by id)."""
    views = [_assessment(a) for a in (getattr(info, "assessments", None) or [])]
    views.sort(key=lambda a: (a.create_time_ms or 0, a.assessment_id or ""))
    return views


def span_window(spans: Any) -> tuple[int, int] | None:
    """The first start and last end (ns) of MLflow spans, as `build` times a trace; None if none.

    Example:
        >>> span_window(trace.data.spans)
        (1767323045000000000, 1767323046200000000)
    """
    if not spans:
        return None
    starts = [int(s.start_time_ns or 0) for s in spans]
    ends = [int(s.end_time_ns or s.start_time_ns or 0) for s in spans]
    return min(starts), max(ends)


def trace_summary(info: Any, window: tuple[int, int] | None = None) -> TraceView:
    """A `TraceView` with only the trace-level fields of an MLflow ``TraceInfo`` (no spans).

    The duration is the store's whole milliseconds, or ``window``'s (the spans' first start
    and last end in ns, `span_window`), as `build` gives it.

    Example:
        >>> view = trace_summary(trace.info)
        >>> view.status, view.session
        ('OK', 'conv-42')
    """
    meta = info.trace_metadata or {}
    tags = info.tags or {}
    stored = None if info.execution_duration is None else float(info.execution_duration)
    return TraceView(
        trace_id=info.trace_id,
        name=tags.get("mlflow.traceName", ""),
        status=getattr(info.state, "value", str(info.state)),
        start_ms=int(info.request_time or 0),
        duration_ms=stored if window is None else max(0, window[1] - window[0]) / 1e6,
        session=meta.get(sc.MLFLOW_TRACE_SESSION),
        user=meta.get(sc.MLFLOW_TRACE_USER),
        tokens=_usage(info),
        cost=_cost(info),
        request_preview=info.request_preview,
        response_preview=info.response_preview,
        assessments=assessments(info),
    )


def build(trace: Any) -> TraceView:
    """Turn an `mlflow.entities.Trace` into a `TraceView` (span tree in start order).

    Example:
        >>> view = build(llmtrace.get_trace(trace_id))
        >>> [node.name for node in view.nodes()]
        ['answer', 'retrieve', 'generate']
    """
    view = trace_summary(trace.info)
    nodes = [_node(span) for span in trace.data.spans]
    by_id = {node.span_id: node for node in nodes}
    for node in nodes:
        parent = by_id.get(node.parent_id) if node.parent_id else None
        if parent is None or parent is node:
            view.roots.append(node)
        else:
            parent.children.append(node)
    for node in nodes:
        node.children.sort(key=lambda n: n.start_ns)
    view.roots.sort(key=lambda n: n.start_ns)
    view.span_count = len(nodes)
    if view.roots:  # the spans' own clock: finer than the store's whole milliseconds
        view.duration_ms = max(0, view.end_ns - view.start_ns) / 1e6
    return view


def pretty(value: Any) -> str:
    """A value in full: strings as they are, anything else as indented JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, indent=2, default=str)
    except (TypeError, ValueError):
        return str(value)


def user_text(view: TraceView) -> str | None:
    """What the user said in this turn: from the root's inputs, else the last LLM call's."""
    if not view.roots:
        return None
    root = view.roots[0]
    found = _pick(root.inputs, USER_KEYS, role="user")
    if found is not None:
        return found
    for node in view.nodes():
        if node.input_messages:
            users = [m.text for m in node.input_messages if m.role == "user"]
            if users:
                return users[-1]
    return as_text(root.inputs) if root.has_inputs else None


def reply_text(view: TraceView) -> str | None:
    """What the app answered: the root's outputs, else the last LLM call's reply."""
    if not view.roots:
        return None
    root = view.roots[0]
    if root.has_outputs and root.outputs is not None:
        if isinstance(root.outputs, str):
            return root.outputs
        found = _pick(root.outputs, REPLY_KEYS, role="assistant")
        if found is not None:
            return found
        if root.output_messages:
            return " ".join(m.text for m in root.output_messages)
    last = None
    for node in view.nodes():
        if node.output_messages:
            last = " ".join(m.text for m in node.output_messages)
    if last is not None:
        return last
    return as_text(root.outputs) if root.has_outputs else None


def _pick(value: Any, keys: tuple[str, ...], role: str) -> str | None:
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        return None
    for key in keys:
        if isinstance(value.get(key), str):
            return str(value[key])
    messages = value.get("messages")
    if isinstance(messages, list):
        texts = [
            str(m.get("content"))
            for m in messages
            if isinstance(m, dict) and m.get("role") == role and m.get("content")
        ]
        if texts:
            return texts[-1]
    choices = value.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = choices[0].get("message")
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            return str(message["content"])
    strings = [v for v in value.values() if isinstance(v, str)]
    return strings[0] if len(strings) == 1 else None
