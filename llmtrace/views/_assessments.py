"""A trace's feedback and expectations in the views: terminal lines, HTML, the list filter.

`AssessmentView` is what the renderers get (built from MLflow's ``trace.info.assessments`` by
`llmtrace.views._model.assessments`, or by the direct SQLite read); `assessment_lines`
(``traces show``), `turn_lines` (``sessions show``) and `assessments_html` (the HTML page) draw
them, and `feedback_filter` turns ``--feedback NAME=VALUE`` into MLflow's filter syntax.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Any

from .._errors import LLMTraceError
from . import _format as fmt
from ._lines import Line


@dataclass
class AssessmentView:
    """One assessment logged on a trace: a feedback (a judgement) or an expectation (a label).

    ``value`` is the logged value as MLflow returns it (bool, number, string, list, dict);
    ``error_code``/``error_message`` are set when a feedback records a failed judgement;
    ``valid`` is False once another assessment ``overrides`` it. Both read paths (MLflow's
    client and the direct SQLite read) build the same views.

    Example:
        >>> AssessmentView("a-1", "helpful", "feedback", False, "HUMAN", "alice").source_text
        'human alice'
    """

    assessment_id: str | None
    name: str
    kind: str  # "feedback" | "expectation" | "issue"
    value: Any
    source_type: str  # HUMAN | CODE | LLM_JUDGE
    source_id: str | None = None
    rationale: str | None = None
    span_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    metadata: dict[str, Any] | None = None
    create_time_ms: int | None = None
    last_update_time_ms: int | None = None
    overrides: str | None = None
    valid: bool | None = None
    run_id: str | None = None

    @property
    def error(self) -> str | None:
        """The failed judgement's message (or code), None when the feedback holds a value."""
        return self.error_message or self.error_code

    @property
    def shown(self) -> bool:
        """Whether the views print it: a valid feedback or expectation (not overridden)."""
        return self.valid is not False and self.kind in ("feedback", "expectation")

    @property
    def value_text(self) -> str:
        """The value as one short text: ``true``, ``4``, ``"Paris"`` stays ``Paris``."""
        if self.error and self.value is None:
            return f"error: {self.error}"
        if isinstance(self.value, str):
            return self.value
        return json.dumps(self.value, ensure_ascii=False)

    @property
    def source_text(self) -> str:
        """``human alice@example.com``, ``code`` (MLflow's ``default`` id left out)."""
        kind = self.source_type.lower()
        return kind if self.source_id in (None, "", "default") else f"{kind} {self.source_id}"


def _style(view: AssessmentView) -> str:
    if view.kind == "expectation":
        return "cyan"
    if view.value is False or view.error:
        return "bold red"
    if view.value is True:
        return "green"
    return "bold"


def _one(view: AssessmentView, width: int, indent: str) -> Line:
    line: Line = [
        (indent, ""),
        (f"{view.kind:<12}", "dim"),
        (f"{view.name} = ", ""),
        (fmt.clip(fmt.one_line(view.value_text), 60), _style(view)),
        (f"  ({view.source_text}", "dim"),
    ]
    if view.span_id:
        line.append((f", span {view.span_id}", "dim"))
    line.append((")", "dim"))
    if view.rationale:
        used = sum(len(text) for text, _ in line)
        line.append((f"  {fmt.clip(fmt.one_line(view.rationale), max(10, width - used - 2))}", ""))
    return line


def _ordered(views: list[AssessmentView]) -> list[AssessmentView]:
    shown = [v for v in views if v.shown]
    return sorted(shown, key=lambda v: (v.kind != "feedback", v.create_time_ms or 0, v.name))


def assessment_lines(views: list[AssessmentView], width: int) -> list[Line]:
    """``traces show``: a titled block, feedback first, oldest first (nothing if none).

    Example:
        >>> print(Lines(assessment_lines(view.assessments, 100)).plain())
        assessments
          feedback    helpful = false  (human alice)  wrong city
    """
    shown = _ordered(views)
    if not shown:
        return []
    return [[], [("assessments", "bold")], *(_one(v, width, "  ") for v in shown)]


def turn_lines(views: list[AssessmentView], width: int) -> list[Line]:
    """``sessions show``: one indented line per assessment of a turn."""
    return [_one(v, width, "  ") for v in _ordered(views)]


CSS = """
.llmtrace-view .assessments h2{font-size:14px;margin:12px 0 4px}
.llmtrace-view .assessments table{border-collapse:collapse;font-size:12px}
.llmtrace-view .assessments td,.llmtrace-view .assessments th{padding:2px 8px;text-align:left;
 border-bottom:1px solid #eaeef2;vertical-align:top}
.llmtrace-view .assessments .expectation td:nth-child(3){color:#0969da}
"""


def assessments_html(views: list[AssessmentView]) -> str:
    """The HTML page's assessments table ('' when the trace has none)."""
    shown = _ordered(views)
    if not shown:
        return ""
    rows = []
    for v in shown:
        cells = (v.kind, v.name, v.value_text, v.source_text, v.rationale or "", v.span_id or "")
        rows.append(
            f'<tr class="assessment {html.escape(v.kind)}">'
            + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
            + "</tr>"
        )
    head = "".join(
        f"<th>{h}</th>" for h in ("kind", "name", "value", "source", "rationale", "span")
    )
    return (
        f'<style>{CSS}</style><section class="assessments"><h2>Assessments</h2>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


_SPEC = re.compile(r"^\s*([^=!<>\s][^=!<>]*?)\s*(>=|<=|!=|=|>|<)\s*(.*?)\s*$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def _quoted(value: str) -> str:
    if "'" in value:
        if '"' in value:
            raise LLMTraceError(f"cannot filter on a value with both quote kinds: {value!r}")
        return f'"{value}"'
    return f"'{value}'"


def feedback_filter(spec: str, kind: str = "feedback") -> str:
    """MLflow's filter for ``--feedback NAME=VALUE`` (``NAME`` alone: has that feedback).

    ``true``/``false`` match bools, a number matches the same number (``4`` and ``4.0``),
    other values match the text; ``!=``, ``<``, ``<=``, ``>``, ``>=`` work too.

    Example:
        >>> feedback_filter("helpful=false")
        "feedback.`helpful` = 'false'"
        >>> feedback_filter("rating>=4")
        'feedback.`rating` >= 4'
    """
    text = spec.strip()
    if not text:
        raise LLMTraceError("--feedback needs NAME=VALUE (or NAME), e.g. --feedback helpful=false")
    match = _SPEC.match(text)
    if match is None:
        if re.search(r"[=!<>`]", text):
            raise LLMTraceError(f"--feedback {spec!r}: write NAME=VALUE, e.g. helpful=false")
        return f"{kind}.`{text}` IS NOT NULL"
    name, op, raw = match.groups()
    if "`" in name:
        raise LLMTraceError(f"--feedback {spec!r}: a name cannot hold a backquote")
    key = f"{kind}.`{name}`"
    if _NUMBER.match(raw):
        number = float(raw)
        literal = repr(int(number)) if number.is_integer() else repr(number)
        if op == "=":
            return f"{key} >= {literal} AND {key} <= {literal}"
        if op != "!=":
            return f"{key} {op} {literal}"
        return f"{key} != {_quoted(raw)}"
    if op in ("<", "<=", ">", ">="):
        raise LLMTraceError(f"--feedback {spec!r}: {op} needs a number, e.g. rating>=4")
    value = raw.lower() if raw.lower() in ("true", "false") else raw
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return f"{key} {op} {_quoted(value)}"


def parse_value(text: str) -> bool | int | float | str:
    """A value typed on the command line: ``true``/``false``, a number, else the text itself.

    Example:
        >>> parse_value("false"), parse_value("4"), parse_value("0.5"), parse_value("off-topic")
        (False, 4, 0.5, 'off-topic')
    """
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if _NUMBER.match(text.strip()):
        number = float(text)
        return int(text) if re.fullmatch(r"[+-]?\d+", text.strip()) else number
    return text


def parse_expected(text: str) -> Any:
    """An expectation typed on the command line: a JSON list or object, else as `parse_value`.

    Example:
        >>> parse_expected('["Paris", "France"]'), parse_expected("Paris"), parse_expected("4")
        (['Paris', 'France'], 'Paris', 4)
    """
    if text.strip().startswith(("[", "{")):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise LLMTraceError(f"expectation {text!r} is not valid JSON: {exc}") from None
    return parse_value(text)
