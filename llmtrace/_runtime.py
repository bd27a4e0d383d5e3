"""The one llmtrace pipeline of the process: provider, tracer, processor, exit hooks.

The runtime ties the layers: it builds the export layer's processor and exporters and hands
them what they need from the tracing layer (span enrichment, session stamping) and from itself
(its exit hook), so the export layer imports neither. Nothing happens at import beyond telling
the tracing layer where its tracer comes from. The pipeline starts on the first traced call
(or `configure`); `configure` again replaces it after flushing the old one.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from opentelemetry import trace as otel_trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased

from . import (
    _config,
    _log,  # noqa: F401 - installs the logger's stderr fallback
)
from . import _semconv as sc
from ._config import Config
from ._ids import UniqueIdGenerator
from ._mlflow_logs import quiet_store_setup
from .export._processor import BatchingProcessor, Stats
from .export._runlink import active_run_id
from .tracing import _state
from .tracing._payload import discard, enrich
from .tracing._session import current_session
from .tracing._size import approx_bytes

logger = logging.getLogger("llmtrace")  # with its stderr fallback (_log.StderrFallback)

TRACER_NAME = "llmtrace"


class _Pipeline:
    def __init__(self, config: Config) -> None:
        from .export._export_process import ProcessExporter
        from .export._exporter_mlflow import MlflowSpanExporter

        self.config = config
        exporters: list[Any] = []
        self.mlflow_exporter: MlflowSpanExporter | ProcessExporter | None = None
        if config.export_to_mlflow:
            is_http = config.tracking_uri.lower().startswith(("http://", "https://"))
            if config.export_process and not is_http:  # SQL store work off our GIL
                self.mlflow_exporter = ProcessExporter(
                    config.tracking_uri,
                    config.experiment,
                    retries=config.export_retries,
                    on_store_opened=reregister_exit_hook,
                )
            else:
                self.mlflow_exporter = MlflowSpanExporter(
                    config.tracking_uri,
                    config.experiment,
                    retries=config.export_retries,
                    spool=_spool(config) if is_http else None,
                    on_store_opened=reregister_exit_hook,
                )
            if config.spool_dir and not is_http:
                logger.info("llmtrace: spool_dir is for http(s) tracking servers; not used here")
            exporters.append(self.mlflow_exporter)
        exporters.extend(config.exporters)
        if config.otlp_endpoint:
            exporters.append(_otlp_exporter(config.otlp_endpoint))
        joined = _provider_to_join(config)
        self.processor = BatchingProcessor(
            exporters,
            config,
            prepare=enrich,
            discard=discard,
            on_start=_stamp_root,
            size_of=approx_bytes,
            sample_rate=config.sample_rate if joined is not None else 1.0,
        )
        if joined is not None:
            self.provider = joined
            self.owns_provider = False
        else:
            sampler = (
                ParentBased(TraceIdRatioBased(config.sample_rate))
                if config.sample_rate < 1.0
                else ParentBased(ALWAYS_ON)
            )
            self.provider = TracerProvider(
                sampler=sampler,
                resource=Resource.create({"service.name": config.service_name}),
                id_generator=UniqueIdGenerator(),  # ids that ignore random.seed()
                shutdown_on_exit=False,  # our _at_exit ends open generators, then flushes
            )
            self.owns_provider = True
            if config.set_global:
                _set_global(self.provider)
        self.provider.add_span_processor(self.processor)
        self.tracer: otel_trace.Tracer | None = self.provider.get_tracer(TRACER_NAME)

    def shutdown(self, timeout_s: float) -> None:
        self.tracer = None
        self.processor.shutdown(int(timeout_s * 1000))
        if not self.owns_provider:
            _remove_processor(self.provider, self.processor)
        else:
            try:
                self.provider.shutdown()
            except Exception as exc:
                logger.debug("provider shutdown failed: %r", exc)


def _provider_to_join(config: Config) -> Any:
    """The provider llmtrace adds its processor to instead of owning one, if any."""
    if config.tracer_provider is not None:
        return config.tracer_provider
    if config.set_global:
        current = otel_trace.get_tracer_provider()
        if isinstance(current, TracerProvider):  # the program set an SDK provider already
            return current
    return None


def _set_global(provider: TracerProvider) -> None:
    otel_trace.set_tracer_provider(provider)
    if otel_trace.get_tracer_provider() is not provider:
        logger.warning(
            "llmtrace: could not make its provider OpenTelemetry's global one (another was set "
            "first); pass it with configure(tracer_provider=...) instead"
        )


def _remove_processor(provider: Any, processor: Any) -> None:
    """Take our processor off a provider we joined (the SDK has no public way to)."""
    try:
        multi = provider._active_span_processor
        with multi._lock:
            multi._span_processors = tuple(p for p in multi._span_processors if p is not processor)
    except Exception as exc:  # another SDK: the shut-down processor drops what it gets
        logger.debug("could not remove llmtrace's processor from the provider: %r", exc)


def _stamp_root(span: Any) -> None:
    """On a root span's start (caller's thread): the session in force and the active MLflow run."""
    session = current_session()
    if session is not None:
        span.set_attributes(session.attributes)
    run_id = active_run_id()  # linked to that MLflow run once exported
    if run_id is not None:
        span.set_attribute(sc.LLMTRACE_RUN_ID, run_id)


def _spool(config: Config) -> Any:
    if config.spool_dir is None:
        return None
    from .export._spool import Spool

    return Spool(config.spool_dir, config.tracking_uri, config.spool_max_mb * 1024 * 1024)


def _otlp_exporter(endpoint: str) -> Any:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise ImportError(
            "sending spans to an OTLP endpoint needs the OTLP exporter: "
            "pip install 'llmtrace[otlp]'"
        ) from exc
    return OTLPSpanExporter(endpoint=endpoint)


_lock = threading.RLock()
_pipeline: _Pipeline | None = None
_pending: dict[str, Any] | None = None  # configure() arguments not yet started
_disabled = False
_hooks_installed = False
_sigterm_installed = False
_tracer: otel_trace.Tracer | None = None  # fast-path cache of the pipeline's tracer


def configure(**options: Any) -> Config:
    """Validate and apply settings now (the pipeline itself starts on first use)."""
    global _pipeline, _pending, _disabled, _tracer
    config = _config.resolve(**options)  # raises ConfigurationError before touching anything
    quiet_store_setup()  # MLflow's "Creating initial MLflow database tables" is not news
    with _lock:
        old, _pipeline = _pipeline, None
        _tracer = None
        _pending = dict(options)
        _disabled = not config.enabled
        if config.enabled:
            _install_hooks()
    if old is not None:
        old.shutdown(timeout_s=30.0)
    if config.enabled and (config.tracer_provider is not None or config.set_global):
        _start()  # join now: spans the provider records before any llmtrace span are kept
    return config


def tracer_provider() -> TracerProvider | None:
    """The OpenTelemetry provider llmtrace records with (starting the pipeline if needed).

    Hand it to an instrumentor that takes one, or use `configure(set_global=True)` for those
    that use the global provider. None when tracing is disabled.

    Example:
        >>> from openinference.instrumentation.openai import OpenAIInstrumentor
        >>> OpenAIInstrumentor().instrument(tracer_provider=llmtrace.tracer_provider())
    """
    tracer()
    pipeline = _pipeline
    return pipeline.provider if pipeline is not None else None


def current_config() -> Config:
    """The settings in force (resolved from `configure` arguments and the environment)."""
    pipeline = _pipeline
    if pipeline is not None:
        return pipeline.config
    quiet_store_setup()  # before anything opens the store this config names
    return _config.resolve(**(_pending or {}))


def tracer() -> otel_trace.Tracer | None:
    """The tracer to use, starting the pipeline on first call; None when tracing is off."""
    t = _tracer
    if t is not None:
        return t
    if _disabled:
        return None
    return _start()


def _start() -> otel_trace.Tracer | None:
    global _pipeline, _tracer, _disabled
    with _lock:
        if _pipeline is not None:
            return _pipeline.tracer
        try:
            config = _config.resolve(**(_pending or {}))
        except Exception as exc:  # bad environment variable: tell once, trace nothing
            logger.warning("llmtrace disabled: %s", exc)
            _disabled = True
            return None
        if not config.enabled:
            _disabled = True
            return None
        try:
            _pipeline = _Pipeline(config)
        except Exception as exc:
            logger.warning("llmtrace disabled: could not start the export pipeline: %r", exc)
            _disabled = True
            return None
        _install_hooks()
        _tracer = _pipeline.tracer
        return _tracer


def pipeline() -> _Pipeline | None:
    """The running pipeline, if any."""
    return _pipeline


def flush(timeout: float = 30.0) -> bool:
    """Block until every span ended so far is exported (or ``timeout`` seconds pass).

    Returns True when everything was handed to the exporters in time.

    Example:
        >>> answer("hi"); llmtrace.flush()
        True
    """
    pipeline = _pipeline
    if pipeline is None:
        return True
    return pipeline.processor.force_flush(int(timeout * 1000))


def stats() -> Stats:
    """Counters of the export pipeline: enqueued, exported, dropped, failed...

    Example:
        >>> llmtrace.stats().dropped
        0
    """
    pipeline = _pipeline
    if pipeline is None:
        return Stats(0, 0, 0, 0, 0, 0, None)
    return pipeline.processor.stats()


def shutdown(timeout: float = 30.0) -> None:
    """Flush and stop the pipeline; the next traced call starts a new one."""
    global _pipeline, _tracer
    with _lock:
        old, _pipeline = _pipeline, None
        _tracer = None
    if old is not None:
        old.shutdown(timeout)


_state.set_tracer_source(tracer)


def _end_open_generators() -> None:
    for handle in _state.open_generators():
        try:
            handle.end_at_exit()
        except Exception as exc:
            logger.debug("could not end a generator span at exit: %r", exc)


def _at_exit() -> None:
    pipeline = _pipeline
    if pipeline is None:
        return
    _end_open_generators()
    done = pipeline.processor.force_flush(int(pipeline.config.exit_flush_timeout_s * 1000))
    s = pipeline.processor.stats()
    if not done:
        logger.warning(
            "llmtrace: %d spans were still being exported at exit (timeout %.0fs)",
            s.queued,
            pipeline.config.exit_flush_timeout_s,
        )
    if s.spool_pending:
        logger.warning(
            "llmtrace: %d spans wait in the spool %s for the server; the next process started "
            "with the same spool_dir sends them",
            s.spool_pending,
            pipeline.config.spool_dir,
        )
    if s.dropped or s.failed:
        logger.warning(
            "llmtrace: %d spans dropped and %d failed to export in this process (last error: %s)",
            s.dropped,
            s.failed,
            s.last_error,
        )


def _install_hooks() -> None:
    """atexit flush, and a SIGTERM handler that flushes then chains the previous one.

    Signal handlers can only be set from the main thread: when the pipeline starts elsewhere,
    the SIGTERM hook waits for the next `configure()` or start on the main thread.
    """
    global _hooks_installed, _sigterm_installed
    if not _hooks_installed:
        _hooks_installed = True
        atexit.register(_at_exit)
    if _sigterm_installed:
        return
    if threading.current_thread() is not threading.main_thread():
        logger.debug("not on the main thread: SIGTERM flush not installed yet")
        return
    _sigterm_installed = True
    try:
        previous = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _make_sigterm_handler(previous))
    except (ValueError, OSError) as exc:  # embedded interpreters
        logger.debug("could not install the SIGTERM handler: %r", exc)


def _make_sigterm_handler(previous: Any) -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        try:
            _at_exit()
        except Exception as exc:
            logger.debug("flush on SIGTERM failed: %r", exc)
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_IGN:
            return
        else:  # default action: terminate, as the process would have without us
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    return handler


def reregister_exit_hook() -> None:
    """Move llmtrace's atexit flush last-registered (so it runs before MLflow's own hooks)."""
    if _hooks_installed:
        atexit.unregister(_at_exit)
        atexit.register(_at_exit)
