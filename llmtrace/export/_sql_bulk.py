"""Bulk writes of whole new traces into MLflow's SQL store: one transaction, cached statements.

MLflow's `SqlAlchemyStore.log_spans` spends about 2 ms of CPU per trace on ORM work (a flush per
new trace, `merge` per tag, a fresh multi-row INSERT compiled per 100 spans); SQLite itself takes
~6% of that (benchmarks/RESULTS.md). For the usual case, traces that are new to the store and
whose root span is in the batch, `write_new_traces` writes the very rows `log_spans` would, with
one executemany INSERT per table. Everything else goes back to the caller for `log_spans`:
traces already in the store or without their root in the batch, stores of another kind
(workspaces, non-SQLite), opt-in trace rollups, or an MLflow whose store this was not checked
against (`tests/export/test_sql_bulk.py` compares every stored row with what `log_spans`
writes). A span's store-time translation is the direct path's (`_translate`, priced by
`_catalog`) where its keys are covered, MLflow's own function elsewhere.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from typing import Any

from . import _translate as tr
from ._sql_rows import parse_json_string
from ._translate import CHECKED_MLFLOW

logger = logging.getLogger("llmtrace")

_CHECKED_TRANSLATORS = (
    "OpenInferenceTranslator", "GeminiCliTranslator", "ClaudeCodeTranslator", "GenAiTranslator",
    "SpringAiTranslator", "TraceloopTranslator", "GoogleADKTranslator", "VercelAITranslator",
    "VoltAgentTranslator", "LiveKitTranslator", "LaminarTranslator", "LangfuseTranslator",
)  # fmt: skip
_CHECKED_EVENT_TRANSLATORS = ("SpringAiTranslator", "LiveKitTranslator", "ClaudeCodeTranslator")
"""The OTel-schema translators of MLflow 3.17 that `_translate.covered` was checked against."""


_TRACE_INFO_COLUMNS = frozenset(
    {
        "request_id", "experiment_id", "timestamp_ms", "execution_time_ms", "status",
        "client_request_id", "request_preview", "response_preview", "db_payload_generation",
        "trace_name", "session_id", "input_tokens", "output_tokens", "total_tokens",
        "cache_read_input_tokens", "cache_creation_input_tokens",
        "cache_creation_input_tokens_above_1hr", "input_cost", "output_cost", "total_cost",
    }
)  # fmt: skip
_SPAN_COLUMNS = frozenset(
    {
        "trace_id", "experiment_id", "span_id", "parent_span_id", "name", "type", "status",
        "start_time_unix_nano", "end_time_unix_nano", "duration_ns", "content", "input_cost",
        "output_cost", "total_cost", "model_name", "model_provider",
    }
)  # fmt: skip


def supported(store: Any) -> bool:
    """True when ``store`` is a plain SQLite `SqlAlchemyStore` of a checked MLflow release."""
    try:
        import mlflow
        from mlflow.store.tracking.dbmodels.models import SqlSpan, SqlTraceInfo
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
        from mlflow.store.tracking.utils.sql_trace_rollups import rollups_enabled
        from mlflow.tracing.otel import translation
    except ImportError:
        return False
    if not mlflow.__version__.startswith(CHECKED_MLFLOW):
        return False
    if (
        tuple(type(t).__name__ for t in translation._TRANSLATORS) != _CHECKED_TRANSLATORS
        or tuple(type(t).__name__ for t in translation._EVENT_TRANSLATORS)
        != _CHECKED_EVENT_TRANSLATORS
    ):
        return False
    if type(store) is not SqlAlchemyStore or store.db_type != "sqlite" or rollups_enabled():
        return False
    return {c.name for c in SqlTraceInfo.__table__.columns} == _TRACE_INFO_COLUMNS and {
        c.name for c in SqlSpan.__table__.columns
    } == _SPAN_COLUMNS


def covered(span: Any) -> bool:
    """True when `_translate` computes this span's store-time translation (its keys and
    event names are `_translate.covered`); MLflow's function does it otherwise."""
    otel = span._span  # what to_dict reads: its attributes and events
    return tr.covered(otel.attributes or {}, [event.name for event in otel.events])


def translate(span: Any) -> dict[str, Any]:
    """What MLflow's `translate_span_when_storing` returns for ``span``, computed faster.

    For `covered` spans: `_translate.translate` on the span's dictionary, then MLflow's cost
    step (`_translate.price`). Other spans go through MLflow's function itself.
    `tests/export/test_sql_bulk.py` compares both on many spans.
    """
    if not covered(span):
        from mlflow.tracing.otel.translation import translate_span_when_storing

        return translate_span_when_storing(span)
    span_dict = span.to_dict()
    attributes = tr.translate(span_dict.get("attributes", {}), span_dict.get("events", []))
    if tr.needs_pricing(attributes):
        tr.price(attributes)
    span_dict["attributes"] = attributes
    return span_dict


def _node(span_id: str, parent_id: str | None, attributes: dict[str, Any], key: str) -> Any:
    from mlflow.tracing.utils import SpanAggregationNode, try_json_loads

    value = attributes.get(key)
    if isinstance(value, str):
        value = try_json_loads(value)
    return SpanAggregationNode(
        span_id=span_id,
        parent_id=parent_id,
        data=value if isinstance(value, dict) else None,
    )


class _Rows:
    """The rows of one batch of new traces, as `log_spans` would store them."""

    def __init__(self, artifact_root: str, experiment_id: str) -> None:
        self.artifact_root = artifact_root
        self.experiment_id = experiment_id
        self.trace_infos: list[dict[str, Any]] = []
        self.tags: list[dict[str, Any]] = []
        self.metadata: list[dict[str, Any]] = []
        self.spans: list[dict[str, Any]] = []

    def drop(self, trace_ids: set[str]) -> None:
        """Forget the rows of ``trace_ids``."""
        self.trace_infos = [r for r in self.trace_infos if r["request_id"] not in trace_ids]
        self.tags = [r for r in self.tags if r["request_id"] not in trace_ids]
        self.metadata = [r for r in self.metadata if r["request_id"] not in trace_ids]
        self.spans = [r for r in self.spans if r["trace_id"] not in trace_ids]

    def artifact_location(self, trace_id: str) -> str:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
        from mlflow.utils.uri import append_to_uri_path

        return append_to_uri_path(
            self.artifact_root,
            SqlAlchemyStore.TRACE_FOLDER_NAME,
            trace_id,
            SqlAlchemyStore.ARTIFACTS_FOLDER_NAME,
        )

    def add_trace(
        self, trace_id: str, spans: list[Any], resource_attributes: dict[str, Any]
    ) -> None:
        from mlflow.entities import SpanStatusCode
        from mlflow.entities.trace_state import TraceState
        from mlflow.store.tracking.sqlalchemy_store import _validate_trace_tag
        from mlflow.store.tracking.utils.trace_analytics import (
            COST_COLUMN_BY_KEY,
            TOKEN_COLUMN_BY_KEY,
            bounded_model_dimension,
            finite_float_or_none,
            token_count_or_none,
            validate_session_id,
            validate_trace_name,
        )
        from mlflow.tracing.constant import (
            GenAiSemconvKey,
            SpanAttributeKey,
            SpansLocation,
            TraceMetadataKey,
            TraceTagKey,
        )
        from mlflow.tracing.utils import (
            TraceJSONEncoder,
            aggregate_cost_from_span_nodes,
            aggregate_usage_from_span_nodes,
        )
        from mlflow.tracing.utils.truncation import _get_truncated_preview
        from mlflow.utils.mlflow_tags import MLFLOW_ARTIFACT_LOCATION

        experiment = int(self.experiment_id)
        usage_nodes, cost_nodes = [], []
        session_id = user_id = root_dict = root_status = None
        root_tags: dict[str, str] = {}
        for span in spans:
            span_dict = translate(span)
            attributes = span_dict.get("attributes", {})
            span_id, parent_id = span.span_id, span.parent_id  # computed properties: once
            status = span.status.status_code
            usage_nodes.append(_node(span_id, parent_id, attributes, SpanAttributeKey.CHAT_USAGE))
            cost_nodes.append(_node(span_id, parent_id, attributes, SpanAttributeKey.LLM_COST))
            span_cost = None
            if attributes:
                if session_id is None and (
                    found := attributes.get(SpanAttributeKey.SESSION_ID)
                    or attributes.get(GenAiSemconvKey.CONVERSATION_ID)
                ):
                    session_id = validate_session_id(parse_json_string(found))
                if user_id is None and (found := attributes.get("user.id")):
                    user_id = parse_json_string(found)
                span_cost = attributes.get(SpanAttributeKey.LLM_COST)
            costs: dict[str, Any] = {}
            if span_cost:
                try:
                    costs = json.loads(span_cost)
                except (TypeError, ValueError):
                    costs = {}
            self.spans.append(
                {
                    "trace_id": trace_id,
                    "experiment_id": experiment,
                    "span_id": span_id,
                    "parent_span_id": parent_id,
                    "name": span.name,
                    "type": span.span_type,
                    "status": status,
                    "start_time_unix_nano": span.start_time_ns,
                    "end_time_unix_nano": span.end_time_ns,
                    "content": json.dumps(span_dict, cls=TraceJSONEncoder, ensure_ascii=False),
                    "input_cost": finite_float_or_none(costs.get("input_cost")),
                    "output_cost": finite_float_or_none(costs.get("output_cost")),
                    "total_cost": finite_float_or_none(costs.get("total_cost")),
                    "model_name": bounded_model_dimension(
                        parse_json_string(attributes.get(SpanAttributeKey.MODEL))
                    ),
                    "model_provider": bounded_model_dimension(
                        parse_json_string(attributes.get(SpanAttributeKey.MODEL_PROVIDER))
                    ),
                }
            )
            if parent_id is None:
                root_status, root_dict = status, span_dict
                prefix = SpanAttributeKey.TRACE_TAG_PREFIX
                for key, value in attributes.items():
                    if not key.startswith(prefix):
                        continue
                    try:
                        tag_key, tag_value = _validate_trace_tag(
                            key[len(prefix) :], str(parse_json_string(value))
                        )
                    except Exception:
                        continue
                    if tag_key == TraceTagKey.TRACE_NAME:
                        tag_value = validate_trace_name(tag_value)
                    root_tags[tag_key] = tag_value

        start_ms = min(s.start_time_ns for s in spans) // 1_000_000
        ends = [s.end_time_ns for s in spans if s.end_time_ns is not None]
        end_ms = max(ends) // 1_000_000 if ends else None
        error = root_status == SpanStatusCode.ERROR
        info: dict[str, Any] = dict.fromkeys(_TRACE_INFO_COLUMNS)
        info.update(
            request_id=trace_id,
            experiment_id=experiment,
            timestamp_ms=start_ms,
            execution_time_ms=(end_ms - start_ms) if end_ms else None,
            status=(TraceState.ERROR if error else TraceState.OK).value,
            db_payload_generation=1,
            trace_name=root_tags.get(TraceTagKey.TRACE_NAME),
            session_id=session_id or None,
        )
        root_attributes = root_dict.get("attributes", {})
        try:
            if inputs := root_attributes.get(SpanAttributeKey.INPUTS):
                info["request_preview"] = _get_truncated_preview(inputs, role="user")
            if outputs := root_attributes.get(SpanAttributeKey.OUTPUTS):
                info["response_preview"] = _get_truncated_preview(outputs, role="assistant")
        except Exception:
            logger.debug("llmtrace: no trace preview for %s", trace_id, exc_info=True)
        if usage := aggregate_usage_from_span_nodes(usage_nodes):
            for key, column in TOKEN_COLUMN_BY_KEY.items():
                info[column] = token_count_or_none(usage.get(key))
        if cost := aggregate_cost_from_span_nodes(cost_nodes):
            for key, column in COST_COLUMN_BY_KEY.items():
                info[column] = finite_float_or_none(cost.get(key))
        self.trace_infos.append(info)

        tags = {
            MLFLOW_ARTIFACT_LOCATION: self.artifact_location(trace_id),
            TraceTagKey.SPANS_LOCATION: SpansLocation.TRACKING_STORE.value,
        }
        for key, value in resource_attributes.items():
            if key.startswith(("telemetry.sdk.", "mlflow.")):
                continue
            text = value if isinstance(value, str) else json.dumps(value)
            try:
                key, text = _validate_trace_tag(key, text)
            except Exception:
                continue
            tags[key] = text
        tags.update((k, v) for k, v in root_tags.items() if k != TraceTagKey.TRACE_NAME)
        self.tags.extend({"request_id": trace_id, "key": k, "value": v} for k, v in tags.items())
        if user_id:
            self.metadata.append(
                {"request_id": trace_id, "key": TraceMetadataKey.TRACE_USER, "value": user_id}
            )


def build_rows(
    artifact_root: str, experiment_id: str, traces: list[tuple[str, list[Any], dict[str, Any]]]
) -> _Rows:
    """The rows of ``traces`` (whole new traces: id, spans, OTel resource attributes)."""
    rows = _Rows(artifact_root, experiment_id)
    for trace_id, spans, resource_attributes in traces:
        rows.add_trace(trace_id, spans, resource_attributes)
    return rows


def _resource_attributes(spans: list[Any]) -> dict[str, Any]:
    """The OTel resource attributes of a trace (as `log_spans` finds them: first non-empty)."""
    for span in spans:
        resource = getattr(span._span, "resource", None)
        if resource is not None and resource.attributes:
            return dict(resource.attributes)
    return {}


def _artifact_root(store: Any, experiment_id: str) -> str:
    """The experiment's artifact location (fixed once created), cached on the store object."""
    cache = store.__dict__.setdefault("_llmtrace_artifact_roots", {})
    if experiment_id not in cache:
        cache[experiment_id] = store.get_experiment(experiment_id).artifact_location
    return str(cache[experiment_id])


def write_new_traces(
    store: Any, experiment_id: str, spans: list[Any], refused: dict[str, str] | None = None
) -> list[Any]:
    """Store the complete new traces among ``spans``; return the spans left for `log_spans`.

    One transaction: either every new trace of the batch is stored, or none is (and all of
    ``spans`` come back). Errors other than a lost race (a trace created meanwhile) propagate,
    so the caller's retry on ``database is locked`` applies. With ``refused``, the traces whose
    id the store already holds for another trace (`_dupes.conflicts`) are put there with the
    reason, and neither stored nor returned.

    Example:
        >>> rest = write_new_traces(store, "0", spans)
        >>> if rest:
        ...     store.log_spans("0", rest)
    """
    from mlflow.exceptions import MlflowException
    from mlflow.store.tracking.dbmodels.models import (
        SqlSpan,
        SqlTraceInfo,
        SqlTraceMetadata,
        SqlTraceTag,
    )
    from sqlalchemy import insert, select
    from sqlalchemy.exc import IntegrityError

    from ._dupes import conflicts

    by_trace: dict[str, list[Any]] = defaultdict(list)
    for span in spans:
        by_trace[span.trace_id].append(span)
    whole = [t for t, group in by_trace.items() if any(s._span.parent is None for s in group)]
    if not whole and refused is None:
        return spans
    rows = build_rows(
        _artifact_root(store, experiment_id),
        experiment_id,
        [(t, by_trace[t], _resource_attributes(by_trace[t])) for t in whole],
    )
    clashes: dict[str, str] = {}
    try:  # one transaction (one commit): a commit is ~0.6 ms, a fifth of a small batch's cost
        with store.ManagedSessionMaker(read_only=False) as session:
            asked = list(by_trace) if refused is not None else whole
            stored = set(
                session.scalars(
                    select(SqlTraceInfo.request_id).where(SqlTraceInfo.request_id.in_(asked))
                )
            )
            if stored and refused is not None:
                clashes = conflicts(session, by_trace, stored)
            if stored:  # begun earlier (children without their root): log_spans completes them
                rows.drop(stored)
            if rows.trace_infos:
                session.execute(insert(SqlTraceInfo.__table__), rows.trace_infos)
                session.execute(insert(SqlTraceTag.__table__), rows.tags)
                if rows.metadata:
                    session.execute(insert(SqlTraceMetadata.__table__), rows.metadata)
                session.execute(insert(SqlSpan.__table__), rows.spans)
    except MlflowException as exc:
        if not isinstance(exc.__cause__, IntegrityError):
            raise
        # another writer stored one of these traces meanwhile
        logger.debug("llmtrace: bulk write lost a race; using log_spans", exc_info=True)
        return spans
    if refused is not None:
        refused.update(clashes)
    written = (set(whole) - stored) | set(clashes)
    return [s for s in spans if s.trace_id not in written]
