"""`MlflowSpanExporter`: OpenTelemetry spans in, MLflow traces out.

Local store URIs (``sqlite:///``, ``postgresql://``, a folder) are written with the store's own
``log_spans`` (many traces per call), or, for whole new traces in a SQLite store, with the
row-for-row equivalent bulk INSERTs of `_sql_bulk`; ``http(s)://`` tracking servers get OTLP/protobuf at
``{uri}/v1/traces``. MLflow is imported on first export, on the export thread.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from . import _semconv as sc
from . import _sql_bulk
from ._runlink import http_linker, link_to_runs

logger = logging.getLogger("llmtrace")

OTLP_PATH = "/v1/traces"
EXPERIMENT_HEADER = "x-mlflow-experiment-id"


def mlflow_trace_id(otel_trace_id: int) -> str:
    """The MLflow trace id (``tr-<32 hex>``) of an OpenTelemetry trace id."""
    return f"tr-{otel_trace_id:032x}"


def to_mlflow_span(span: ReadableSpan) -> Any:
    """Convert an (enriched) OTel span into an `mlflow.entities.Span`.

    MLflow stores every attribute value as JSON text; llmtrace's structured attributes
    (inputs, outputs, token usage...) already are, the others are encoded here.
    """
    from mlflow.entities import Span

    attrs: dict[str, Any] = {}
    for key, value in (span.attributes or {}).items():
        if key in sc.JSON_VALUED and isinstance(value, str):
            attrs[key] = value
        else:
            attrs[key] = json.dumps(list(value) if isinstance(value, tuple) else value)
    attrs[sc.MLFLOW_TRACE_REQUEST_ID] = json.dumps(mlflow_trace_id(span.context.trace_id))
    return Span(
        ReadableSpan(
            name=span.name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=attrs,
            events=span.events,
            links=span.links,
            kind=span.kind,
            status=span.status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )
    )


def _retryable(exc: BaseException) -> bool:
    """Transient: a locked SQLite file, a deadlock, a connection error, 429/5xx, a timeout."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    text = f"{type(exc).__name__} {exc}".lower()
    return any(
        needle in text
        for needle in (
            "database is locked",
            "deadlock",
            "timeout",
            "timed out",
            "temporarily",
            "connection",
        )
    )


class MlflowSpanExporter(SpanExporter):
    """Export OpenTelemetry spans as MLflow traces into a store or tracking server.

    Example:
        >>> from opentelemetry.sdk.trace import TracerProvider
        >>> from opentelemetry.sdk.trace.export import BatchSpanProcessor
        >>> provider = TracerProvider()
        >>> provider.add_span_processor(
        ...     BatchSpanProcessor(MlflowSpanExporter("sqlite:///mlflow.db", "my-app")))
    """

    def __init__(
        self,
        tracking_uri: str,
        experiment: str | None = None,
        *,
        retries: int = 3,
        timeout_s: float = 10.0,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.retries = retries
        self.timeout_s = timeout_s
        self.last_error: str | None = None
        self._experiment_id: str | None = None
        self._store: Any = None
        self._http: Any = None
        self._bulk: bool | None = None  # whether _sql_bulk applies to this store (decided once)
        self._is_http = tracking_uri.lower().startswith(("http://", "https://"))

    # -- setup -----------------------------------------------------------------------------
    def experiment_id(self) -> str:
        """Resolve (creating if needed) the experiment's id; cached."""
        if self._experiment_id is None:
            if self._is_http:  # our own short-timeout calls, not MLflow's minutes of retries
                self._experiment_id = self._with_retries(self._http_experiment_id)
            else:
                self._experiment_id = resolve_experiment_id(self.tracking_uri, self.experiment)
                from . import _runtime  # MLflow registered its exit hooks: run ours first

                _runtime.reregister_exit_hook()
        return self._experiment_id

    def _session(self) -> Any:
        if self._http is None:
            import requests

            self._http = requests.Session()
            self._http.headers.update(_auth_headers())
        return self._http

    def _http_experiment_id(self) -> str:
        base = self.tracking_uri.rstrip("/") + "/api/2.0/mlflow/experiments"
        name = self.experiment or "Default"
        http = self._session()
        got = http.get(
            f"{base}/get-by-name", params={"experiment_name": name}, timeout=self.timeout_s
        )
        if got.status_code == 200:
            return str(got.json()["experiment"]["experiment_id"])
        if got.status_code != 404:
            _raise_for_status(got)
        made = http.post(f"{base}/create", json={"name": name}, timeout=self.timeout_s)
        if made.status_code == 200:
            return str(made.json()["experiment_id"])
        again = http.get(  # created meanwhile by another process
            f"{base}/get-by-name", params={"experiment_name": name}, timeout=self.timeout_s
        )
        _raise_for_status(again)
        return str(again.json()["experiment"]["experiment_id"])

    def _local_store(self) -> Any:
        if self._store is None:
            from mlflow.tracking import MlflowClient

            self._store = MlflowClient(tracking_uri=self.tracking_uri)._tracking_client.store
        return self._store

    # -- SpanExporter contract -------------------------------------------------------------
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        try:
            experiment_id = self.experiment_id()
            mlflow_spans = [to_mlflow_span(span) for span in spans]
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            return SpanExportResult.FAILURE
        write = self._post if self._is_http else self._log_local
        try:
            self._with_retries(write, experiment_id, mlflow_spans)
            return SpanExportResult.SUCCESS
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
        if len({s.trace_id for s in mlflow_spans}) == 1:
            return SpanExportResult.FAILURE
        # One bad trace must not sink the others: retry trace by trace.
        by_trace: dict[str, list[Any]] = defaultdict(list)
        for span in mlflow_spans:
            by_trace[span.trace_id].append(span)
        ok = True
        for group in by_trace.values():
            try:
                self._with_retries(write, experiment_id, group)
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                ok = False
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def _with_retries(self, call: Any, *args: Any) -> Any:
        for attempt in range(self.retries + 1):
            try:
                return call(*args)
            except Exception as exc:
                if attempt >= self.retries or not _retryable(exc):
                    raise
                delay = min(5.0, 0.1 * 2**attempt) * (0.5 + random.random())
                logger.debug("export attempt %d failed (%r); retry in %.2fs", attempt, exc, delay)
                time.sleep(delay)

    def _log_local(self, experiment_id: str, spans: list[Any]) -> None:
        store = self._local_store()
        rest = self._write_bulk(store, experiment_id, spans)
        if rest:
            store.log_spans(experiment_id, rest)
        link_to_runs(spans, store.link_traces_to_run)  # traces begun in an MLflow run
        from .prompts._link import link_stored  # prompt versions used inside these traces

        link_stored(spans, lambda: store)

    def _write_bulk(self, store: Any, experiment_id: str, spans: list[Any]) -> list[Any]:
        """Whole new traces through `_sql_bulk` where it applies; the rest for `log_spans`."""
        if self._bulk is None:
            self._bulk = _sql_bulk.supported(store)
        if not self._bulk:
            return spans
        try:
            return _sql_bulk.write_new_traces(store, experiment_id, spans)
        except Exception as exc:
            if _retryable(exc):
                raise
            self._bulk = False
            logger.warning(
                "llmtrace: bulk SQL write failed (%s: %s); using MLflow's log_spans from now on",
                type(exc).__name__,
                exc,
            )
            return spans

    def _post(self, experiment_id: str, spans: list[Any]) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        request = ExportTraceServiceRequest()
        scope_spans = request.resource_spans.add().scope_spans.add()
        scope_spans.spans.extend(span.to_otel_proto() for span in spans)
        response = self._session().post(
            self.tracking_uri.rstrip("/") + OTLP_PATH,
            data=request.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf", EXPERIMENT_HEADER: experiment_id},
            timeout=self.timeout_s,
        )
        _raise_for_status(response)
        link_to_runs(spans, http_linker(self._session(), self.tracking_uri, self.timeout_s))
        from .prompts._link import link_stored

        link_stored(spans, self._local_store)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True

    def after_fork(self) -> None:
        """Drop connections inherited from the parent process (re-created on next export)."""
        self._store = None
        self._http = None

    def shutdown(self) -> None:
        if self._http is not None:
            self._http.close()


def _raise_for_status(response: Any) -> None:
    if response.status_code < 400:
        return
    kind = "temporarily unavailable" if response.status_code in (429, 502, 503, 504) else ""
    raise RuntimeError(
        f"MLflow server answered HTTP {response.status_code} {kind}: {response.text[:200]}"
    )


def _auth_headers() -> dict[str, str]:
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user, password = (
        os.environ.get("MLFLOW_TRACKING_USERNAME"),
        os.environ.get("MLFLOW_TRACKING_PASSWORD"),
    )
    if user and password:
        import base64

        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {basic}"}
    return {}


def resolve_experiment_id(tracking_uri: str, experiment: str | None) -> str:
    """The id of experiment ``experiment`` (MLflow's ``Default`` when None), created if missing."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    name = experiment or "Default"
    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name))
    except MlflowException:  # created meanwhile by another process
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)
