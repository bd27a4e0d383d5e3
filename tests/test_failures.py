"""Failure injection: whatever breaks, the traced program runs on and nothing is lost silently.

Stored data is read back with MLflow's own client. Most tests share one SQLite store (a fresh
store costs ~1 s to create), each in its own experiment.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import re
import select
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow.entities import SpanStatusCode
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmtrace
from llmtrace import _runtime

# --- helpers --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite store for the module; tests keep apart by experiment."""
    return f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"


def use_store(uri: str, **options: Any) -> str:
    """Configure llmtrace on ``uri`` with a new experiment; returns the experiment's name."""
    name = f"failures-{uuid.uuid4().hex[:8]}"
    llmtrace.configure(tracking_uri=uri, experiment=name, schedule_delay_ms=20, **options)
    return name


def stored_traces(uri: str, experiment: str, max_results: int = 500) -> list[Any]:
    """Every trace of ``experiment`` as MLflow reads it back (with spans)."""
    found = mlflow.MlflowClient(tracking_uri=uri).get_experiment_by_name(experiment)
    assert found is not None, f"experiment {experiment!r} not in {uri}"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        return list(
            mlflow.search_traces(
                locations=[found.experiment_id], max_results=max_results, return_type="list"
            )
        )
    finally:
        mlflow.set_tracking_uri(previous)


def stored_spans(uri: str, experiment: str) -> dict[str, Any]:
    """Spans of the experiment by name (names must be unique), read through MlflowClient."""
    assert llmtrace.flush(timeout=60)
    client = mlflow.MlflowClient(tracking_uri=uri)
    spans: dict[str, Any] = {}
    for info in stored_traces(uri, experiment):
        for span in client.get_trace(info.info.trace_id).data.spans:
            assert span.name not in spans, span.name
            spans[span.name] = span
    return spans


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def llmtrace_warnings(caplog: pytest.LogCaptureFixture, needle: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "llmtrace" and r.levelno >= logging.WARNING and needle in r.getMessage()
    ]


class RaisingExporter(SpanExporter):
    def __init__(self) -> None:
        self.calls = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        raise RuntimeError("collector on fire")

    def shutdown(self) -> None:
        pass


class RefusingExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        pass


class BlockedExporter(SpanExporter):
    """Hangs in export() until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.count = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        self.release.wait(60)
        self.count += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


class Answer:
    """A result object: the caller must get this very object back."""


# --- broken exporters -----------------------------------------------------------------------


def test_raising_exporter_leaves_result_and_store_intact(
    shared_store: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="llmtrace")
    raising = RaisingExporter()
    experiment = use_store(shared_store, exporters=[raising])
    answer = Answer()

    @llmtrace.trace
    def respond(i: int) -> Answer:
        return answer

    assert respond(1) is answer
    assert llmtrace.flush(timeout=60)
    assert respond(2) is answer
    assert llmtrace.flush(timeout=60)

    stats = llmtrace.stats()
    assert raising.calls == 2
    assert stats.failed == 2 and stats.dropped == 0
    assert "collector on fire" in (stats.last_error or "")
    assert len(llmtrace_warnings(caplog, "collector on fire")) == 1  # logged once, then counted
    # The MLflow exporter next to it still stored both traces.
    spans = [t.data.spans for t in stored_traces(shared_store, experiment)]
    assert sorted(s[0].inputs["i"] for s in spans) == [1, 2]


def test_refusing_exporter_is_counted(memory: InMemorySpanExporter) -> None:
    llmtrace.configure(
        export_to_mlflow=False, exporters=[RefusingExporter(), memory], schedule_delay_ms=10
    )

    @llmtrace.trace
    def double(x: int) -> int:
        return 2 * x

    assert [double(i) for i in range(3)] == [0, 2, 4]
    assert llmtrace.flush(timeout=10)
    assert llmtrace.stats().failed == 3
    assert len(memory.get_finished_spans()) == 3


def test_hanging_exporter_does_not_block_the_caller(memory: InMemorySpanExporter) -> None:
    blocked = BlockedExporter()
    llmtrace.configure(export_to_mlflow=False, exporters=[blocked], schedule_delay_ms=1)

    @llmtrace.trace
    def step(i: int) -> int:
        return i

    step(-1)
    assert blocked.entered.wait(10), "exporter never called"
    # The export thread is stuck; the program keeps running and its spans keep queueing.
    assert [step(i) for i in range(200)] == list(range(200))
    assert not blocked.release.is_set()
    assert llmtrace.flush(timeout=0.2) is False  # honest about not being done
    blocked.release.set()
    assert llmtrace.flush(timeout=10)
    assert blocked.count == 201
    assert llmtrace.stats().failed == 0


def test_server_down(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="llmtrace")
    port = closed_port()
    llmtrace.configure(
        tracking_uri=f"http://127.0.0.1:{port}", experiment="down", schedule_delay_ms=10
    )

    @llmtrace.trace
    def respond(q: str) -> str:
        return q[::-1]

    started = time.monotonic()
    assert [respond(q) for q in ("abc", "de", "f")] == ["cba", "ed", "f"]
    assert time.monotonic() - started < 2.0  # no network on the caller's thread

    deadline = time.monotonic() + 60
    while llmtrace.stats().failed < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    stats = llmtrace.stats()
    assert stats.failed == 3, stats
    assert stats.exported == 0
    assert "ConnectionError" in (stats.last_error or "") and str(port) in stats.last_error
    assert llmtrace.flush(timeout=10)
    assert len(llmtrace_warnings(caplog, "could not export")) == 1
    started = time.monotonic()
    llmtrace.shutdown(timeout=30)
    assert time.monotonic() - started < 10


# --- values that cannot be stored as they are -----------------------------------------------


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")


class BadModel:
    """Looks like a pydantic model whose model_dump is broken."""

    def model_dump(self) -> dict[str, Any]:
        raise ValueError("model_dump exploded")

    def __repr__(self) -> str:
        return "BadModel(broken)"


class BadEverything:
    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"no {name}")

    def __repr__(self) -> str:
        raise RuntimeError("no repr either")


def test_unserializable_values_are_stored_as_placeholders(shared_store: str) -> None:
    experiment = use_store(shared_store)
    loop: list[Any] = [1]
    loop.append(loop)
    node: dict[str, Any] = {"name": "root"}
    node["self"] = node

    @llmtrace.trace(kind="TOOL")
    def handle(a: Any, b: Any, c: Any, d: Any, e: Any, n: int) -> Any:
        return a

    bad = BadRepr()
    assert handle(bad, loop, node, BadModel(), BadEverything(), n=5) is bad

    @llmtrace.trace
    def returns_cycle() -> dict[str, Any]:
        return node

    assert returns_cycle() is node

    spans = stored_spans(shared_store, experiment)
    inputs = spans["test_unserializable_values_are_stored_as_placeholders.<locals>.handle"].inputs
    assert inputs["a"] == "<unrepresentable BadRepr>"
    assert inputs["b"][0] == 1 and "<circular list>" in json.dumps(inputs["b"])
    assert inputs["c"]["name"] == "root" and "<circular dict>" in json.dumps(inputs["c"])
    assert inputs["d"] == "BadModel(broken)"
    assert inputs["e"] == "<unrepresentable BadEverything>"
    assert inputs["n"] == 5
    for span in spans.values():
        assert span.status.status_code == SpanStatusCode.OK
    out = spans["test_unserializable_values_are_stored_as_placeholders.<locals>.returns_cycle"]
    assert out.outputs["name"] == "root"
    assert llmtrace.stats().failed == 0


def test_huge_input_is_truncated_with_marker(shared_store: str) -> None:
    experiment = use_store(shared_store, max_attribute_chars=10_000)
    big = "x" * 1_000_000

    @llmtrace.trace(name="summarize")
    def summarize(text: str) -> int:
        return len(text)

    assert summarize(big) == 1_000_000
    span = stored_spans(shared_store, experiment)["summarize"]
    assert span.outputs == 1_000_000  # small values stay whole
    assert span.get_attribute("llmtrace.truncated") == "mlflow.spanInputs"
    stored = span.inputs
    assert isinstance(stored, dict) and list(stored) == ["text"]  # the inputs keep their keys
    assert len(json.dumps(stored)) < 10_100
    match = re.search(r"\.\.\.\[truncated (\d+) chars\]$", stored["text"])
    assert match, stored["text"][-80:]
    kept = stored["text"][: match.start()]
    assert set(kept) == {"x"} and len(kept) + int(match.group(1)) == len(big)


# --- the user's own exception ---------------------------------------------------------------


class UserError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ exploded")


class Abort(BaseException):
    """Not an Exception: must pass through too."""


def _raise_user_error(x: int) -> None:
    try:
        {}["missing"]
    except KeyError as cause:
        raise UserError(f"bad input {x}", code=x) from cause


@llmtrace.trace
def traced_sync(x: int) -> None:
    _raise_user_error(x)


@llmtrace.trace
async def traced_async(x: int) -> None:
    await asyncio.sleep(0)
    _raise_user_error(x)


@llmtrace.trace
def traced_gen(x: int) -> Iterator[int]:
    yield 1
    _raise_user_error(x)


@llmtrace.trace
async def traced_agen(x: int) -> AsyncIterator[int]:
    yield 1
    _raise_user_error(x)


def _run_sync() -> None:
    traced_sync(1)


def _run_async() -> None:
    asyncio.run(traced_async(2))


def _run_gen() -> None:
    assert list(traced_gen(3)) == "unreachable"


def _run_agen() -> None:
    async def drain() -> list[int]:
        return [i async for i in traced_agen(4)]

    asyncio.run(drain())


@pytest.mark.parametrize(
    ("run", "span_name", "code"),
    [
        (_run_sync, "traced_sync", 1),
        (_run_async, "traced_async", 2),
        (_run_gen, "traced_gen", 3),
        (_run_agen, "traced_agen", 4),
    ],
    ids=["sync", "async", "generator", "async-generator"],
)
def test_user_exception_passes_through_unchanged(
    shared_store: str, run: Any, span_name: str, code: int
) -> None:
    experiment = use_store(shared_store)
    with pytest.raises(UserError) as info:
        run()
    exc = info.value
    assert type(exc) is UserError and exc.code == code and str(exc) == f"bad input {code}"
    assert isinstance(exc.__cause__, KeyError) and exc.__suppress_context__
    assert not getattr(exc, "__notes__", None)
    frames = [f.name for f in traceback.extract_tb(exc.__traceback__)]
    assert frames[-1] == "_raise_user_error" and span_name in frames  # raise site kept
    assert not any("llmtrace" in f.filename for f in traceback.extract_tb(exc.__traceback__)[-2:])

    span = stored_spans(shared_store, experiment)[span_name]
    assert span.status.status_code == SpanStatusCode.ERROR
    (event,) = [e for e in span.events if e.name == "exception"]
    assert event.attributes["exception.type"].endswith("UserError")
    assert event.attributes["exception.message"] == f"bad input {code}"
    assert "_raise_user_error" in event.attributes["exception.stacktrace"]


def test_same_exception_object_and_odd_exceptions(memory: InMemorySpanExporter) -> None:
    error = UserError("boom", code=7)

    @llmtrace.trace
    def fails(e: BaseException) -> None:
        raise e

    with pytest.raises(UserError) as info:
        fails(error)
    assert info.value is error

    # An exception whose __str__ raises: still passes through, still marks the span failed.
    odd = UnprintableError()
    with pytest.raises(UnprintableError) as info2:
        fails(odd)
    assert info2.value is odd

    abort = Abort()
    with pytest.raises(Abort) as info3:
        fails(abort)
    assert info3.value is abort

    assert llmtrace.flush(timeout=10)
    spans = memory.get_finished_spans()
    assert len(spans) == 3
    for span in spans:
        assert span.status.status_code.name == "ERROR", span.status
        assert [e.name for e in span.events] == ["exception"]
    types = [s.events[0].attributes["exception.type"] for s in spans]
    assert [t.rsplit(".", 1)[-1] for t in types] == ["UserError", "UnprintableError", "Abort"]


# --- generators stopped early ---------------------------------------------------------------


@llmtrace.trace(name="numbers")
def numbers(n: int) -> Iterator[int]:
    yield from range(n)


def _gen_spans(memory: InMemorySpanExporter) -> list[ReadableSpan]:
    assert llmtrace.flush(timeout=10)
    return [s for s in memory.get_finished_spans() if s.name == "numbers"]


def test_generator_broken_early_ends_once(
    memory: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    got = []
    for i in numbers(10):
        got.append(i)
        if i == 2:
            break
    assert got == [0, 1, 2]
    (span,) = _gen_spans(memory)
    assert json.loads(span.attributes["mlflow.spanOutputs"]) == [0, 1, 2]
    assert span.attributes["llmtrace.generator.stopped"] == "closed"
    assert span.status.status_code.name == "OK"
    gc.collect()
    assert len(_gen_spans(memory)) == 1  # not ended again on collection
    assert not [r for r in caplog.records if "ended span" in r.getMessage()]


def test_generator_garbage_collected_half_read_ends_once(
    memory: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    gen = numbers(10)
    assert [next(gen), next(gen)] == [0, 1]
    assert _gen_spans(memory) == []  # still open while the caller holds it

    class Holder:
        pass

    holder = Holder()  # a reference cycle: only the cyclic GC can finalize it
    holder.gen = gen  # type: ignore[attr-defined]
    holder.me = holder  # type: ignore[attr-defined]
    assert next(gen) == 2
    del gen, holder
    gc.collect()
    (span,) = _gen_spans(memory)
    assert json.loads(span.attributes["mlflow.spanOutputs"]) == [0, 1, 2]
    assert span.attributes["llmtrace.generator.items"] == 3
    gc.collect()
    assert len(_gen_spans(memory)) == 1
    assert not [r for r in caplog.records if "ended span" in r.getMessage()]


def test_generator_error_and_throw_end_once(memory: InMemorySpanExporter) -> None:
    @llmtrace.trace(name="numbers")
    def fragile(n: int) -> Iterator[int]:
        for i in range(n):
            if i == 2:
                raise ValueError("stream broke")
            yield i

    got = []
    with pytest.raises(ValueError, match="stream broke"):
        for i in fragile(5):
            got.append(i)
    assert got == [0, 1]
    (span,) = _gen_spans(memory)
    assert span.status.status_code.name == "ERROR"
    assert json.loads(span.attributes["mlflow.spanOutputs"]) == [0, 1]

    memory.clear()
    gen = numbers(5)
    next(gen)
    with pytest.raises(KeyError):
        gen.throw(KeyError("caller gave up"))
    gen.close()
    del gen
    gc.collect()
    (span,) = _gen_spans(memory)
    assert span.status.status_code.name == "ERROR"
    assert span.events[0].attributes["exception.type"] == "KeyError"


# --- configuration mistakes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "mentions"),
    [
        ({"sample_rate": 2}, "sample_rate"),
        ({"tracking_uri": 123}, "tracking_uri"),
        ({"experiment": ""}, "experiment"),
        ({"redact": "x"}, "redact"),
        ({"exporters": [object()]}, "exporters"),
    ],
    ids=["sample_rate", "tracking_uri", "experiment", "redact", "exporters"],
)
def test_bad_configure_raises_and_changes_nothing(
    memory: InMemorySpanExporter, options: dict[str, Any], mentions: str
) -> None:
    @llmtrace.trace
    def ping() -> str:
        return "pong"

    ping()
    assert llmtrace.flush(timeout=10)
    config, pipeline = _runtime.current_config(), _runtime.pipeline()
    assert pipeline is not None

    with pytest.raises(llmtrace.ConfigurationError) as info:
        llmtrace.configure(**options)
    assert isinstance(info.value, llmtrace.LLMTraceError)
    message = str(info.value)
    assert message and "\n" not in message and mentions in message

    assert _runtime.pipeline() is pipeline
    assert _runtime.current_config() == config
    assert config.exporters == (memory,) and not config.export_to_mlflow
    assert ping() == "pong"
    assert llmtrace.flush(timeout=10)
    assert len(memory.get_finished_spans()) == 2


# --- secrets never stored -------------------------------------------------------------------

API_KEY = "sk-proj-Zq8Xv3Lm9Tn2Rb7Wc4Hy6Kd1"
BEARER = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.Qw7Er9Ty"
PASSWORD = "correct-horse-battery-staple-42"
SECRETS = (API_KEY, BEARER, PASSWORD, "Zq8Xv3Lm9Tn2Rb7Wc4Hy6Kd1")


@llmtrace.trace(kind="LLM")
def call_model(
    prompt: str, api_key: str, headers: dict[str, str], **options: Any
) -> dict[str, Any]:
    span = llmtrace.current_span()
    span.set_attribute("http.request.header.authorization", headers["Authorization"])
    span.set_attribute("request.headers", headers)
    span.add_event("request", {"auth": headers["Authorization"], "key": api_key})
    return {"text": "ok", "echo_key": api_key, "sent_headers": headers}


@llmtrace.trace(kind="CHAIN")
def call_with_bad_key(api_key: str) -> None:
    raise PermissionError(f"Incorrect API key provided: {api_key}. Check Authorization: {api_key}")


def test_secrets_are_never_stored(backend: str) -> None:
    memory = InMemorySpanExporter()
    config = _runtime.current_config()
    llmtrace.configure(
        tracking_uri=config.tracking_uri,
        experiment=config.experiment,
        schedule_delay_ms=20,
        exporters=[memory],
    )
    headers = {"Authorization": f"Bearer {BEARER}", "Content-Type": "application/json"}
    out = call_model("hi", api_key=API_KEY, headers=headers, password=PASSWORD)
    assert out["echo_key"] == API_KEY  # the program itself sees its data untouched
    with pytest.raises(PermissionError) as info:
        call_with_bad_key(API_KEY)
    assert API_KEY in str(info.value)  # ...and its own exception too

    assert llmtrace.flush(timeout=60)
    assert llmtrace.stats().failed == 0
    client = mlflow.MlflowClient(tracking_uri=backend)
    traces = stored_traces(backend, config.experiment or "")
    assert len(traces) == 2
    dumps = []
    for found in traces:
        trace = client.get_trace(found.info.trace_id)
        assert trace.data.spans
        dumps.append(json.dumps(trace.info.to_dict()))
        dumps.extend(json.dumps(span.to_dict()) for span in trace.data.spans)
    stored = "\n".join(dumps)
    for secret in SECRETS:
        assert secret not in stored, f"secret {secret[:8]}... stored in MLflow"
    assert "[REDACTED]" in stored
    assert "Incorrect API key provided" in stored  # the message is kept, the key is not
    assert "application/json" in stored  # non-secret headers are kept

    exported = "\n".join(span.to_json() for span in memory.get_finished_spans())
    assert len(memory.get_finished_spans()) == 2
    for secret in SECRETS:
        assert secret not in exported, f"secret {secret[:8]}... sent to another exporter"


# --- the process ends: SIGTERM and normal exit ----------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys, time
    import llmtrace

    llmtrace.configure(tracking_uri=sys.argv[1], experiment="child")

    @llmtrace.trace
    def step(i):
        return i * i

    @llmtrace.trace(name="open-stream")
    def stream():
        yield from range(100)

    for i in range(1000):
        step(i)
    held = stream()  # left half-read: ended at exit
    next(held), next(held)
    print("ready", flush=True)
    if sys.argv[2] == "sleep":
        time.sleep(120)
    """
)


def _start_child(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[str], str]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = subprocess.Popen(
        [sys.executable, str(script), uri, mode],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, uri


def _wait_ready(proc: subprocess.Popen[str], timeout: float = 120) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            if line.strip() == "ready":
                return
            if not line:
                break
    proc.kill()
    raise AssertionError(f"child never got ready: {proc.communicate()[1][-2000:]}")


def _check_child_store(uri: str) -> None:
    traces = stored_traces(uri, "child", max_results=2000)
    roots = [t.data.spans[0] for t in traces if len(t.data.spans) == 1]
    assert len(roots) == len(traces)
    steps = sorted(s.inputs["i"] for s in roots if s.name == "step")
    assert steps == list(range(1000)), f"{len(steps)} of 1000 traces stored"
    (stream,) = [s for s in roots if s.name == "open-stream"]
    assert stream.outputs == [0, 1]
    assert stream.get_attribute("llmtrace.generator.stopped") == "interpreter exit"


@pytest.mark.slow
def test_sigterm_flushes_every_trace(tmp_path: Path) -> None:
    proc, uri = _start_child(tmp_path, "sleep")
    try:
        _wait_ready(proc)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    _, err = proc.communicate()
    assert proc.returncode == -signal.SIGTERM, err[-2000:]  # still dies of SIGTERM
    _check_child_store(uri)


@pytest.mark.slow
def test_normal_exit_flushes_every_trace(tmp_path: Path) -> None:
    proc, uri = _start_child(tmp_path, "exit")
    try:
        _wait_ready(proc)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    _, err = proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    _check_child_store(uri)


def test_secret_argument_echoed_in_an_exception_is_masked_by_value() -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    llmtrace.configure(export_to_mlflow=False, exporters=[exporter])
    key = "abcd1234efgh5678ijkl"  # matches no known key pattern

    @llmtrace.trace(name="login")
    def login(user: str, api_key: str) -> None:
        raise RuntimeError(f"key {key} rejected for {user}")

    with pytest.raises(RuntimeError):
        login("bob", key)
    assert llmtrace.flush(10)
    (span,) = exporter.get_finished_spans()
    dumped = span.to_json()
    assert key not in dumped
    assert "rejected for bob" in dumped and "[REDACTED]" in dumped
