"""`configure()` settings: from arguments, then ``LLMTRACE_*``/``MLFLOW_*``/``OTEL_*`` variables."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import ConfigurationError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

DEFAULT_DB_NAME = "mlflow.db"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Config:
    """The resolved settings in force (see `configure` for what each one means)."""

    tracking_uri: str
    experiment: str | None = None
    enabled: bool = True
    capture_content: bool = True
    max_attribute_chars: int = 100_000
    redact: Callable[[Any], Any] | None = None
    sample_rate: float = 1.0
    export_to_mlflow: bool = True
    exporters: tuple[SpanExporter, ...] = ()
    tracer_provider: TracerProvider | None = None
    set_global: bool = False
    max_queue_size: int = 100_000
    max_queue_bytes: int = 256 * 1024 * 1024
    max_export_batch_size: int = 1024
    schedule_delay_ms: int = 200
    exit_flush_timeout_s: float = 60.0
    export_retries: int = 3
    service_name: str = field(default="llmtrace-app")
    otlp_endpoint: str | None = None
    export_process: bool = True
    spool_dir: str | None = None
    spool_max_mb: int = 1024


def default_tracking_uri(cwd: str | os.PathLike[str] | None = None) -> str:
    """The embedded store: ``sqlite:///<working folder>/mlflow.db`` (what `mlflow ui` opens)."""
    folder = Path(cwd) if cwd is not None else Path.cwd()
    return f"sqlite:///{(folder / DEFAULT_DB_NAME).resolve()}"


def _env(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name)
        if value not in (None, ""):
            return value
    return None


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be true or false, got {value!r}")


def _as_int(name: str, value: Any, minimum: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name} must be an integer >= {minimum}, got {value!r}") from None
    if isinstance(value, bool) or number < minimum:
        raise ConfigurationError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return number


def _as_rate(name: str, value: Any) -> float:
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name} must be a number in [0, 1], got {value!r}") from None
    if isinstance(value, bool) or not 0.0 <= rate <= 1.0:
        raise ConfigurationError(f"{name} must be a number in [0, 1], got {value!r}")
    return rate


SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_KNOWN_SCHEMES = {"sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks"}


def _check_uri(uri: Any, source: str = "tracking_uri") -> str:
    """The tracking URI to use, or a `ConfigurationError` naming ``source`` and the fix.

    A bare path to a SQLite file (``app.db``, ``/data/traces.sqlite``) is read as that SQLite
    file. Folders and ``file:`` URIs are refused: MLflow 3 keeps no traces in a folder store.
    """
    if not isinstance(uri, str) or not uri.strip():
        raise ConfigurationError(
            f"{source} must be a non-empty string such as 'sqlite:///mlflow.db' or "
            f"'http://127.0.0.1:5000', got {uri!r}"
        )
    uri = uri.strip()
    scheme = uri.split(":", 1)[0].lower() if ":" in uri else ""
    if len(scheme) <= 1 or "/" in scheme or "\\" in scheme:  # a path (or a Windows drive)
        path = Path(uri).expanduser()
        if path.suffix.lower() in SQLITE_SUFFIXES and not path.is_dir():
            return f"sqlite:///{path.resolve()}"
        raise ConfigurationError(
            f"{source} {uri!r} is a folder: MLflow 3 cannot store traces in a folder; "
            f"use a SQLite file instead, e.g. 'sqlite:///{(path / DEFAULT_DB_NAME).resolve()}'"
        )
    if scheme == "file":
        raise ConfigurationError(
            f"{source} {uri!r} is a folder store, which MLflow 3 cannot keep traces in; "
            "use 'sqlite:///PATH/mlflow.db' (or a tracking server, 'http://HOST:PORT')"
        )
    if scheme.split("+", 1)[0] not in _KNOWN_SCHEMES:
        raise ConfigurationError(
            f"{source} {uri!r} has an unsupported scheme {scheme!r}; use sqlite:///PATH.db, "
            "postgresql://..., or http(s)://HOST:PORT"
        )
    if scheme == "sqlite" and uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        # Pin a relative SQLite path to the folder configure() ran in.
        rel = uri[len("sqlite:///") :]
        if rel and rel != ":memory:":
            uri = f"sqlite:///{Path(rel).resolve()}"
    return uri


def resolve(
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Config:
    """Build a `Config` from explicit ``overrides`` (not None) over environment variables."""
    env = os.environ if env is None else env

    def pick(key: str, *env_names: str) -> Any:
        if overrides.get(key) is not None:
            return overrides[key]
        return _env(env, *env_names)

    def source(key: str, *env_names: str) -> str:
        if overrides.get(key) is not None:
            return key
        return next((f"${n}" for n in env_names if env.get(n) not in (None, "")), key)

    uri_names = ("LLMTRACE_TRACKING_URI", "MLFLOW_TRACKING_URI")
    uri = pick("tracking_uri", *uri_names)
    tracking_uri = (
        _check_uri(uri, source("tracking_uri", *uri_names))
        if uri is not None
        else default_tracking_uri()
    )

    experiment = pick("experiment", "LLMTRACE_EXPERIMENT", "MLFLOW_EXPERIMENT_NAME")
    if experiment is not None and (not isinstance(experiment, str) or not experiment.strip()):
        raise ConfigurationError(f"experiment must be a non-empty name, got {experiment!r}")

    enabled_raw = pick("enabled", "LLMTRACE_ENABLED")
    enabled = True if enabled_raw is None else _as_bool("enabled", enabled_raw)
    if overrides.get("enabled") is None and _env(env, "OTEL_SDK_DISABLED") is not None:
        enabled = enabled and not _as_bool("OTEL_SDK_DISABLED", env["OTEL_SDK_DISABLED"])

    capture = pick("capture_content", "LLMTRACE_CAPTURE_CONTENT")
    max_chars = pick("max_attribute_chars", "LLMTRACE_MAX_ATTRIBUTE_CHARS")

    rate = pick("sample_rate", "LLMTRACE_SAMPLE_RATE")
    if rate is None and (_env(env, "OTEL_TRACES_SAMPLER") or "").endswith("traceidratio"):
        rate = _env(env, "OTEL_TRACES_SAMPLER_ARG")

    redact = overrides.get("redact")
    if redact is not None and not callable(redact):
        raise ConfigurationError(
            f"redact must be a function taking a value and returning the value to store, "
            f"got {type(redact).__name__}"
        )

    exporters = overrides.get("exporters") or ()
    if not isinstance(exporters, Sequence) or isinstance(exporters, str):
        raise ConfigurationError("exporters must be a list of OpenTelemetry SpanExporter objects")
    for exporter in exporters:
        if not callable(getattr(exporter, "export", None)):
            raise ConfigurationError(
                f"exporters[...] must be OpenTelemetry SpanExporter objects with an export() "
                f"method, got {type(exporter).__name__}"
            )

    provider = overrides.get("tracer_provider")
    if provider is not None and not callable(getattr(provider, "add_span_processor", None)):
        raise ConfigurationError(
            "tracer_provider must be an opentelemetry.sdk.trace.TracerProvider "
            f"(it needs add_span_processor), got {type(provider).__name__}"
        )

    export_to_mlflow = pick("export_to_mlflow", "LLMTRACE_EXPORT_TO_MLFLOW")
    set_global = pick("set_global", "LLMTRACE_SET_GLOBAL_PROVIDER")

    export_process = pick("export_process", "LLMTRACE_EXPORT_PROCESS")
    otlp_endpoint = pick("otlp_endpoint", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if otlp_endpoint is None and (base := _env(env, "OTEL_EXPORTER_OTLP_ENDPOINT")):
        otlp_endpoint = base.rstrip("/") + "/v1/traces"  # as the OTLP spec derives it
    if otlp_endpoint is not None and not str(otlp_endpoint).startswith(("http://", "https://")):
        raise ConfigurationError(
            f"otlp_endpoint must be an http(s):// URL of an OTLP/HTTP receiver, "
            f"got {otlp_endpoint!r}"
        )

    spool_dir = pick("spool_dir", "LLMTRACE_SPOOL_DIR")
    if spool_dir is not None:
        if not isinstance(spool_dir, (str, os.PathLike)) or not str(spool_dir).strip():
            raise ConfigurationError(f"spool_dir must be a folder path, got {spool_dir!r}")
        spool_dir = str(Path(spool_dir).expanduser().resolve())

    return Config(
        tracking_uri=tracking_uri,
        experiment=experiment.strip() if isinstance(experiment, str) else None,
        enabled=enabled,
        capture_content=True if capture is None else _as_bool("capture_content", capture),
        max_attribute_chars=(
            100_000 if max_chars is None else _as_int("max_attribute_chars", max_chars, 64)
        ),
        redact=redact,
        sample_rate=1.0 if rate is None else _as_rate("sample_rate", rate),
        export_to_mlflow=(
            True if export_to_mlflow is None else _as_bool("export_to_mlflow", export_to_mlflow)
        ),
        exporters=tuple(exporters),
        tracer_provider=provider,
        set_global=False if set_global is None else _as_bool("set_global", set_global),
        max_queue_size=_as_int(
            "max_queue_size",
            pick("max_queue_size", "LLMTRACE_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_QUEUE_SIZE")
            or 100_000,
            1,
        ),
        max_queue_bytes=_as_int(
            "max_queue_bytes",
            pick("max_queue_bytes", "LLMTRACE_MAX_QUEUE_BYTES") or 256 * 1024 * 1024,
            1024 * 1024,
        ),
        max_export_batch_size=_as_int(
            "max_export_batch_size",
            pick(
                "max_export_batch_size",
                "LLMTRACE_MAX_EXPORT_BATCH_SIZE",
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
            )
            or 1024,
            1,
        ),
        schedule_delay_ms=_as_int(
            "schedule_delay_ms",
            pick("schedule_delay_ms", "LLMTRACE_SCHEDULE_DELAY_MS", "OTEL_BSP_SCHEDULE_DELAY")
            or 200,
            1,
        ),
        exit_flush_timeout_s=float(
            _as_int(
                "exit_flush_timeout_s",
                pick("exit_flush_timeout_s", "LLMTRACE_EXIT_FLUSH_TIMEOUT_S") or 60,
                0,
            )
        ),
        export_retries=_as_int(
            "export_retries", pick("export_retries", "LLMTRACE_EXPORT_RETRIES") or 3, 0
        ),
        service_name=str(pick("service_name", "OTEL_SERVICE_NAME") or "llmtrace-app"),
        otlp_endpoint=otlp_endpoint,
        export_process=(
            True if export_process is None else _as_bool("export_process", export_process)
        ),
        spool_dir=spool_dir,
        spool_max_mb=_as_int(
            "spool_max_mb", pick("spool_max_mb", "LLMTRACE_SPOOL_MAX_MB") or 1024, 1
        ),
    )
