"""`configure()`: arguments, environment variables, defaults and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmtrace
from llmtrace._config import resolve
from tests.helpers import finished, inputs


def test_defaults_use_sqlite_in_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = resolve(env={})
    assert config.tracking_uri == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert config.experiment is None and config.sample_rate == 1.0 and config.capture_content


def test_environment_variables() -> None:
    env = {
        "LLMTRACE_TRACKING_URI": "http://127.0.0.1:5999",
        "LLMTRACE_EXPERIMENT": "rag",
        "LLMTRACE_CAPTURE_CONTENT": "false",
        "LLMTRACE_MAX_ATTRIBUTE_CHARS": "500",
        "LLMTRACE_SAMPLE_RATE": "0.25",
        "OTEL_SERVICE_NAME": "chatbot",
    }
    config = resolve(env=env)
    assert config.tracking_uri == "http://127.0.0.1:5999"
    assert config.experiment == "rag" and not config.capture_content
    assert config.max_attribute_chars == 500 and config.sample_rate == 0.25
    assert config.service_name == "chatbot"


def test_fallbacks_to_mlflow_and_otel_variables() -> None:
    config = resolve(
        env={
            "MLFLOW_TRACKING_URI": "http://127.0.0.1:5111",
            "MLFLOW_EXPERIMENT_NAME": "exp",
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.1",
            "OTEL_SDK_DISABLED": "true",
        }
    )
    assert config.tracking_uri == "http://127.0.0.1:5111" and config.experiment == "exp"
    assert config.sample_rate == 0.1 and config.enabled is False


def test_arguments_beat_environment() -> None:
    config = resolve(env={"LLMTRACE_EXPERIMENT": "env"}, experiment="arg")
    assert config.experiment == "arg"


def test_relative_sqlite_path_is_pinned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = resolve(env={}, tracking_uri="sqlite:///sub/traces.db")
    assert config.tracking_uri == f"sqlite:///{tmp_path.resolve() / 'sub' / 'traces.db'}"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sample_rate": 2}, "sample_rate must be a number in \\[0, 1\\]"),
        ({"sample_rate": "half"}, "sample_rate must be a number"),
        ({"tracking_uri": 123}, "tracking_uri must be a non-empty string"),
        ({"tracking_uri": "ftp://x"}, "unsupported scheme 'ftp'"),
        ({"tracking_uri": "bogus://x"}, "unsupported scheme 'bogus'"),
        ({"tracking_uri": "/some/folder"}, "is a folder: MLflow 3 cannot store traces"),
        ({"tracking_uri": "file:///some/folder"}, "folder store"),
        ({"experiment": " "}, "experiment must be a non-empty name"),
        ({"redact": "mask"}, "redact must be a function"),
        ({"exporters": [object()]}, "SpanExporter"),
        ({"tracer_provider": object()}, "tracer_provider must be"),
        ({"max_attribute_chars": 3}, "max_attribute_chars must be an integer >= 64"),
        ({"capture_content": "maybe"}, "capture_content must be true or false"),
    ],
)
def test_bad_arguments_raise_at_once_and_change_nothing(
    memory: InMemorySpanExporter, kwargs: dict[str, object], message: str
) -> None:
    before = llmtrace.current_config()
    with pytest.raises(llmtrace.ConfigurationError, match=message) as info:
        llmtrace.configure(**kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
    assert llmtrace.current_config() == before
    with llmtrace.span("still-works"):
        pass
    assert "still-works" in finished(memory)


def test_bad_environment_disables_tracing_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("LLMTRACE_SAMPLE_RATE", "lots")

    @llmtrace.trace
    def f() -> int:
        return 1

    assert f() == 1
    assert "LLMTRACE_SAMPLE_RATE" in caplog.text or "sample_rate" in caplog.text


def test_redact_hook_and_truncation() -> None:
    exporter = InMemorySpanExporter()

    def redact(value: object) -> object:
        if isinstance(value, dict) and "email" in value:
            return {**value, "email": "<email>"}
        return value

    llmtrace.configure(
        export_to_mlflow=False, exporters=[exporter], redact=redact, max_attribute_chars=100
    )

    @llmtrace.trace(name="signup")
    def signup(email: str, bio: str) -> str:
        return "x" * 500

    signup("a@b.c", "short")
    span = finished(exporter)["signup"]
    assert inputs(span) == {"email": "<email>", "bio": "short"}
    out = span.attributes["mlflow.spanOutputs"]
    assert out.endswith('...[truncated 402 chars]"')
    assert span.attributes["llmtrace.truncated"] == "mlflow.spanOutputs"


def test_join_existing_tracer_provider() -> None:
    mine = InMemorySpanExporter()
    theirs = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(theirs))
    llmtrace.configure(export_to_mlflow=False, exporters=[mine], tracer_provider=provider)
    with llmtrace.span("joined"):
        other = provider.get_tracer("app").start_span("app-span")
        other.end()
    llmtrace.flush()
    assert {s.name for s in theirs.get_finished_spans()} == {"joined", "app-span"}
    assert {s.name for s in mine.get_finished_spans()} == {"joined", "app-span"}
    llmtrace.shutdown()
    provider.shutdown()


def test_reconfigure_flushes_the_old_pipeline() -> None:
    first, second = InMemorySpanExporter(), InMemorySpanExporter()
    llmtrace.configure(export_to_mlflow=False, exporters=[first], schedule_delay_ms=10_000)
    with llmtrace.span("before"):
        pass
    llmtrace.configure(export_to_mlflow=False, exporters=[second])
    with llmtrace.span("after"):
        pass
    llmtrace.flush()
    assert [s.name for s in first.get_finished_spans()] == ["before"]
    assert [s.name for s in second.get_finished_spans()] == ["after"]


def test_a_bare_path_to_a_db_file_is_read_as_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve(env={}, tracking_uri="traces.db").tracking_uri == (
        f"sqlite:///{tmp_path.resolve() / 'traces.db'}"
    )
    assert resolve(env={}, tracking_uri=str(tmp_path / "a.sqlite")).tracking_uri == (
        f"sqlite:///{tmp_path.resolve() / 'a.sqlite'}"
    )


def test_an_existing_folder_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(llmtrace.ConfigurationError, match="sqlite:///") as info:
        resolve(env={}, tracking_uri=str(tmp_path))
    assert str(tmp_path / "mlflow.db") in str(info.value)


def test_a_bad_environment_uri_names_the_variable() -> None:
    with pytest.raises(llmtrace.ConfigurationError, match="LLMTRACE_TRACKING_URI"):
        resolve(env={"LLMTRACE_TRACKING_URI": "bogus://x"})


PROGRAM = """
import llmtrace

@llmtrace.trace
def answer(q):
    return q.upper()

for q in ("a", "b", "c"):
    assert answer(q) == q.upper()
print("program ran")
"""


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"LLMTRACE_TRACKING_URI": "bogus://x"}, "LLMTRACE_TRACKING_URI 'bogus://x'"),
        ({"LLMTRACE_TRACKING_URI": "/no/such/folder"}, "is a folder"),
        ({"LLMTRACE_SAMPLE_RATE": "lots"}, "sample_rate must be a number"),
    ],
)
def test_a_program_without_logging_sees_one_stderr_line_and_runs_on(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    """No logging.basicConfig() in the program: the problem is still printed, once."""
    import os
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LLMTRACE_", "MLFLOW_"))}
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        cwd=tmp_path,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "program ran"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("llmtrace") and expected in lines[0]
