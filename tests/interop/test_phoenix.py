"""Arize Phoenix as a real OTLP receiver: llmtrace's spans must mean something to it.

A `phoenix serve` from its own virtualenv (tests/interop/phoenix_env.py) listens on 127.0.0.1
with a temp SQLite store. llmtrace, configured with ``otlp_endpoint`` (and its usual SQLite
MLflow store), traces a RAG flow — CHAIN > RETRIEVER > EMBEDDING, CHAIN > AGENT > TOOL — and an
OpenAI chat call through ``llmtrace.openai.wrap`` (respx serves the API; the client's base URL
is a closed loopback port, so nothing could leave the machine). The spans are read back from
Phoenix's REST API (``GET /v1/projects/{project}/spans``) and through Phoenix's own Python
client, run in the Phoenix venv. Each check is one test, so a failure names what Phoenix
lacks; the spans Phoenix returned are kept in ``test-artifacts/phoenix-spans.json``.

The checks follow the OpenInference semantic conventions (the key names below are those of
``openinference-semantic-conventions``). A control test sends the same flow with the plain
OpenTelemetry SDK carrying those attributes by hand, and runs the very same checks: it proves
the checks and the harness, so a failure of the llmtrace tests is llmtrace's.

Phoenix's trace view is screenshotted with headless Chromium (which resolves no host but
127.0.0.1) into ``test-artifacts/phoenix-trace.png``, with the retriever and LLM spans opened
beside it, and the control's trace as ``phoenix-control-*.png``: what it should look like.

Without the Phoenix venv (no registry) or Chromium the tests skip, except on CI
(``LLMTRACE_CI=1``), where they fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import respx

import llmtrace
import llmtrace.openai
from tests.conftest import ROOT, free_port
from tests.interop import phoenix_env
from tests.interop.phoenix_server import Phoenix, running_phoenix

#: The first run builds the Phoenix venv (minutes) inside the first test's setup.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

ARTIFACTS = ROOT / "test-artifacts"
READBACK = Path(__file__).with_name("phoenix_readback.py")

# --- the flow and what Phoenix must show of it ------------------------------------------------

QUESTION = "When will order A-1001 arrive?"
DOCS = [
    {
        "page_content": "Order A-1001 shipped on May 2 with DHL.",
        "metadata": {"source": "a.md"},
        "score": 0.9,
        "id": "d1",
    },
    {
        "page_content": "DHL delivers within 3 working days.",
        "metadata": {"source": "b.md"},
        "score": 0.75,
        "id": "d2",
    },
]
VECTOR = [0.25, -0.5, 1.0]
ORDER = {"order_id": "A-1001", "status": "shipped"}
AGENT_ANSWER = "Order A-1001 has shipped."
ANSWER = "Order A-1001 shipped on May 2 and should arrive by May 7."
MODEL = "gpt-4o-mini"
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
PROMPT_TOKENS, COMPLETION_TOKENS, TOTAL_TOKENS = 52, 9, 61
SESSION, USER = "conv-phoenix-1", "alice"
SYSTEM_PROMPT = "Answer from the context.\n" + "\n".join(str(d["page_content"]) for d in DOCS)
MESSAGES = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": QUESTION}]
LLM_SPAN = "chat gpt-4o-mini"  # llmtrace.openai's span name for a chat call


@dataclass(frozen=True)
class Expected:
    kind: str
    parent: str | None
    inputs: Any  # the decoded input.value (a JSON value, or the plain text)
    outputs: Any


#: Span name -> its OpenInference kind, parent, input and output. The LLM span's request and
#: response bodies are not fixed by the conventions: its input must hold the messages' text
#: and its output the answer (see `_holds`).
EXPECTED: dict[str, Expected] = {
    "rag": Expected("CHAIN", None, {"question": QUESTION}, ANSWER),
    "retrieve": Expected("RETRIEVER", "rag", {"query": QUESTION}, DOCS),
    "embed": Expected("EMBEDDING", "retrieve", {"text": QUESTION}, VECTOR),
    "support_agent": Expected("AGENT", "rag", {"question": QUESTION}, AGENT_ANSWER),
    "lookup_order": Expected("TOOL", "support_agent", {"order_id": "A-1001"}, ORDER),
    LLM_SPAN: Expected("LLM", "rag", QUESTION, ANSWER),
}

# OpenInference attribute keys (openinference.semconv.trace.SpanAttributes & co.). Phoenix's
# REST API returns the attributes flattened with these dotted keys, lists as ``.N.``, and moves
# ``openinference.span.kind`` into the span's ``span_kind``.
INPUT_VALUE, INPUT_MIME = "input.value", "input.mime_type"
OUTPUT_VALUE, OUTPUT_MIME = "output.value", "output.mime_type"
DOCUMENT = "retrieval.documents.{i}.document.{field}"
TOKENS = {
    "llm.token_count.prompt": PROMPT_TOKENS,
    "llm.token_count.completion": COMPLETION_TOKENS,
    "llm.token_count.total": TOTAL_TOKENS,
}
MODEL_NAME = "llm.model_name"
INPUT_MESSAGE = "llm.input_messages.{i}.message.{field}"
OUTPUT_MESSAGE = "llm.output_messages.{i}.message.{field}"
SESSION_ID, USER_ID = "session.id", "user.id"
JSON_MIME, TEXT_MIME = "application/json", "text/plain"


# --- Phoenix: its venv and its server -------------------------------------------------------


def _missing(why: str) -> None:
    if phoenix_env.ON_CI:  # read at import: the autouse fixture clears LLMTRACE_* per test
        pytest.fail(f"Phoenix test cannot run on CI: {why}")
    pytest.skip(why)


@pytest.fixture(scope="module")
def phoenix_python() -> Path:
    """The Phoenix venv's interpreter, the venv made first if missing (minutes, once)."""
    python = phoenix_env.ready_python()
    if python is None:
        try:
            python = phoenix_env.ensure()
        except phoenix_env.PhoenixEnvError as exc:
            _missing(f"no Phoenix virtualenv at {phoenix_env.venv_dir()}: {exc}")
    assert python is not None
    return python


@pytest.fixture(scope="module")
def phoenix(phoenix_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phoenix]:
    with running_phoenix(phoenix_python, tmp_path_factory.mktemp("phoenix")) as server:
        yield server


def _clean_environment(patch: pytest.MonkeyPatch) -> None:
    """Module fixtures run before the autouse per-test cleanup: drop the shell's settings."""
    for name in list(os.environ):
        if name.startswith(("LLMTRACE_", "OTEL_", "MLFLOW_")):
            patch.delenv(name, raising=False)


def _project_spans(phoenix: Phoenix, trace_id: str) -> tuple[str, list[dict[str, Any]]]:
    """(project name, spans) of the trace, from whichever project Phoenix filed it under."""
    projects = requests.get(f"{phoenix.url}/v1/projects", timeout=10).json()["data"]
    for project in projects:
        spans = requests.get(
            f"{phoenix.url}/v1/projects/{project['name']}/spans",
            params={"trace_id": trace_id, "limit": 1000},
            timeout=10,
        ).json()["data"]
        if spans:
            return project["name"], spans
    return "", []


@dataclass(frozen=True)
class Received:
    """One trace as Phoenix returned it."""

    url: str  # Phoenix's
    trace_id: str
    project: str
    spans: dict[str, dict[str, Any]]  # by span name

    def attrs(self, name: str) -> dict[str, Any]:
        return self.spans[name]["attributes"]


def _read_back(phoenix: Phoenix, trace_id: str, expected: int, dump: str) -> Received:
    """Poll Phoenix (it inserts spans in batches) until the trace's spans are all there."""
    deadline = time.monotonic() + 60
    project, spans = "", []
    while time.monotonic() < deadline:
        project, spans = _project_spans(phoenix, trace_id)
        if len(spans) >= expected:
            break
        time.sleep(0.5)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / dump).write_text(json.dumps(spans, indent=2, sort_keys=True, default=str))
    return Received(phoenix.url, trace_id, project, {s["name"]: s for s in spans})


def _chat_completion() -> dict[str, Any]:
    return {
        "id": "chatcmpl-phoenix",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": RESPONSE_MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": ANSWER},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": COMPLETION_TOKENS,
            "total_tokens": TOTAL_TOKENS,
        },
    }


def _run_llmtrace_flow(api_base: str) -> str:
    """The traced RAG flow; returns its OTel trace id (32 hex digits)."""
    from openai import OpenAI

    client = llmtrace.openai.wrap(
        OpenAI(base_url=api_base, api_key="sk-test", http_client=httpx.Client(), max_retries=0)
    )

    @llmtrace.trace(name="embed", kind="EMBEDDING")
    def embed(text: str) -> list[float]:
        return VECTOR

    @llmtrace.trace(name="retrieve", kind="RETRIEVER")
    def retrieve(query: str) -> list[dict[str, Any]]:
        embed(query)
        return DOCS

    @llmtrace.trace(name="lookup_order", kind="TOOL")
    def lookup_order(order_id: str) -> dict[str, str]:
        return ORDER

    @llmtrace.trace(name="support_agent", kind="AGENT")
    def support_agent(question: str) -> str:
        lookup_order("A-1001")
        return AGENT_ANSWER

    trace_ids: list[str] = []

    @llmtrace.trace(name="rag", kind="CHAIN")
    def rag(question: str) -> str:
        trace_ids.append(f"{llmtrace.current_span().otel_span.get_span_context().trace_id:032x}")
        retrieve(question)
        support_agent(question)
        reply = client.chat.completions.create(model=MODEL, messages=MESSAGES)
        return str(reply.choices[0].message.content)

    with llmtrace.session(SESSION, user=USER):
        assert rag(QUESTION) == ANSWER
    return trace_ids[0]


@pytest.fixture(scope="module")
def received(phoenix: Phoenix, tmp_path_factory: pytest.TempPathFactory) -> Received:
    """llmtrace's flow, sent to Phoenix over OTLP/HTTP and read back from it."""
    folder = tmp_path_factory.mktemp("llmtrace-phoenix")
    api_base = f"http://127.0.0.1:{free_port()}/v1"  # closed: only respx answers
    with pytest.MonkeyPatch.context() as patch, respx.mock(assert_all_called=True) as api:
        _clean_environment(patch)
        api.post(f"{api_base}/chat/completions").mock(
            return_value=httpx.Response(200, json=_chat_completion())
        )
        llmtrace.shutdown()
        llmtrace.configure(
            tracking_uri=f"sqlite:///{folder / 'mlflow.db'}",
            experiment="phoenix",
            otlp_endpoint=phoenix.otlp_endpoint,
            service_name="llmtrace-phoenix-test",
            schedule_delay_ms=20,
        )
        try:
            trace_id = _run_llmtrace_flow(api_base)
            assert llmtrace.flush(120)  # the export process starts slowly on a busy machine
            stats = llmtrace.stats()
        finally:
            llmtrace.shutdown()
    got = _read_back(phoenix, trace_id, len(EXPECTED), "phoenix-spans.json")
    assert got.spans, f"Phoenix received no span of trace {trace_id}; llmtrace stats: {stats}"
    return got


# --- the checks (shared with the control test) ----------------------------------------------


def _show(got: Received, name: str) -> str:
    span = got.spans.get(name)
    if span is None:
        return f"no span {name!r}; Phoenix has {sorted(got.spans)}"
    shown = {"span_kind": span["span_kind"], "attributes": span["attributes"]}
    return f"Phoenix's span {name!r}: {json.dumps(shown, indent=1, sort_keys=True, default=str)}"


def _decoded(attrs: dict[str, Any], value_key: str, mime_key: str) -> Any:
    """An input/output value as its mime type says: JSON decoded, plain text as it is."""
    assert value_key in attrs, f"{value_key} missing"
    mime = attrs.get(mime_key)
    assert mime in (JSON_MIME, TEXT_MIME), f"{mime_key} is {mime!r}"
    value = attrs[value_key]
    return json.loads(value) if mime == JSON_MIME else value


def _holds(value: Any, text: str) -> bool:
    """True if ``text`` is in ``value`` or in any string nested in it."""
    if isinstance(value, str):
        return text in value
    if isinstance(value, dict):
        return any(_holds(v, text) for v in value.values())
    if isinstance(value, list):
        return any(_holds(v, text) for v in value)
    return False


def check_kind(got: Received, name: str) -> None:
    assert name in got.spans, _show(got, name)
    assert got.spans[name]["span_kind"] == EXPECTED[name].kind, _show(got, name)


def check_parent(got: Received, name: str) -> None:
    assert name in got.spans, _show(got, name)
    parent = EXPECTED[name].parent
    parent_id = got.spans[parent]["context"]["span_id"] if parent else None
    assert got.spans[name]["parent_id"] == parent_id, _show(got, name)


def check_input(got: Received, name: str) -> None:
    assert name in got.spans, _show(got, name)
    attrs, want = got.attrs(name), EXPECTED[name].inputs
    try:
        value = _decoded(attrs, INPUT_VALUE, INPUT_MIME)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{_show(got, name)}") from None
    if name == LLM_SPAN:  # the request as the conventions leave it: it holds the messages
        assert all(_holds(value, m["content"]) for m in MESSAGES), _show(got, name)
    elif isinstance(value, str) and isinstance(want, dict) and len(want) == 1:
        assert value == next(iter(want.values())), _show(got, name)  # a lone argument as text
    else:
        assert value == want, _show(got, name)


def check_output(got: Received, name: str) -> None:
    assert name in got.spans, _show(got, name)
    attrs, want = got.attrs(name), EXPECTED[name].outputs
    try:
        value = _decoded(attrs, OUTPUT_VALUE, OUTPUT_MIME)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{_show(got, name)}") from None
    if name == LLM_SPAN:  # the response, in whatever shape: it holds the answer
        assert _holds(value, ANSWER), _show(got, name)
    elif EXPECTED[name].kind == "RETRIEVER":  # as MLflow documents: the score in the metadata
        as_documents = [
            {
                "page_content": d["page_content"],
                "metadata": {**d.get("metadata", {}), "score": d["score"]},
                "id": d["id"],
            }
            for d in want
        ]
        assert value in (want, as_documents), _show(got, name)  # ours, or a program's own
    else:
        assert value == want, _show(got, name)


def _metadata(attrs: dict[str, Any], key: str) -> Any:
    """A document's metadata: sent as a JSON string (the conventions), Phoenix stores it parsed
    and returns it flattened (``...document.metadata.source``); either form is read back."""
    if key in attrs:
        return json.loads(attrs[key]) if isinstance(attrs[key], str) else attrs[key]
    prefix = key + "."
    found = {k[len(prefix) :]: v for k, v in attrs.items() if k.startswith(prefix)}
    return found or None


def check_documents(got: Received) -> None:
    assert "retrieve" in got.spans, _show(got, "retrieve")
    attrs = got.attrs("retrieve")
    for i, doc in enumerate(DOCS):
        key = DOCUMENT.format(i=i, field="{}")
        assert attrs.get(key.format("content")) == doc["page_content"], _show(got, "retrieve")
        assert attrs.get(key.format("id")) == doc["id"], _show(got, "retrieve")
        assert attrs.get(key.format("score")) == pytest.approx(doc["score"]), _show(got, "retrieve")
        metadata = _metadata(attrs, key.format("metadata")) or {}
        assert doc["metadata"].items() <= metadata.items(), _show(got, "retrieve")  # may add
    assert DOCUMENT.format(i=len(DOCS), field="content") not in attrs, _show(got, "retrieve")


def check_tokens(got: Received) -> None:
    assert LLM_SPAN in got.spans, _show(got, LLM_SPAN)
    attrs = got.attrs(LLM_SPAN)
    assert {key: attrs.get(key) for key in TOKENS} == TOKENS, _show(got, LLM_SPAN)


def check_model(got: Received) -> None:
    assert LLM_SPAN in got.spans, _show(got, LLM_SPAN)
    assert got.attrs(LLM_SPAN).get(MODEL_NAME) in (MODEL, RESPONSE_MODEL), _show(got, LLM_SPAN)


def check_messages(got: Received) -> None:
    """Phoenix's LLM view shows the conversation from ``llm.input/output_messages``."""
    assert LLM_SPAN in got.spans, _show(got, LLM_SPAN)
    attrs = got.attrs(LLM_SPAN)
    for i, message in enumerate(MESSAGES):
        key = INPUT_MESSAGE.format(i=i, field="{}")
        got_message = (attrs.get(key.format("role")), attrs.get(key.format("content")))
        assert got_message == (message["role"], message["content"]), _show(got, LLM_SPAN)
    key = OUTPUT_MESSAGE.format(i=0, field="{}")
    got_reply = (attrs.get(key.format("role")), attrs.get(key.format("content")))
    assert got_reply == ("assistant", ANSWER), _show(got, LLM_SPAN)


def check_session(got: Received) -> None:
    assert "rag" in got.spans, _show(got, "rag")
    attrs = got.attrs("rag")
    assert (attrs.get(SESSION_ID), attrs.get(USER_ID)) == (SESSION, USER), _show(got, "rag")


PER_SPAN: dict[str, Callable[[Received, str], None]] = {
    "kind": check_kind,
    "parent": check_parent,
    "input": check_input,
    "output": check_output,
}
PER_TRACE: dict[str, Callable[[Received], None]] = {
    "documents": check_documents,
    "tokens": check_tokens,
    "model": check_model,
    "messages": check_messages,
    "session": check_session,
}


# --- llmtrace's spans, as Phoenix has them --------------------------------------------------


def test_phoenix_received_every_span(received: Received) -> None:
    assert sorted(received.spans) == sorted(EXPECTED)


@pytest.mark.parametrize("name", list(EXPECTED))
@pytest.mark.parametrize("check", list(PER_SPAN))
def test_phoenix_span(received: Received, check: str, name: str) -> None:
    PER_SPAN[check](received, name)


@pytest.mark.parametrize("check", list(PER_TRACE))
def test_phoenix_trace(received: Received, check: str) -> None:
    PER_TRACE[check](received)


def test_phoenix_client_reads_the_same_spans(received: Received, phoenix_python: Path) -> None:
    """Phoenix's own Python client (in its venv) returns these spans, of these kinds."""
    done = subprocess.run(
        [str(phoenix_python), str(READBACK), received.url, received.project, received.trace_id],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout)
    (ARTIFACTS / "phoenix-client-spans.json").write_text(
        json.dumps(result, indent=2, sort_keys=True, default=str)
    )
    by_client = {s["name"]: s for s in result["spans"]}
    assert sorted(by_client) == sorted(received.spans)
    for name, span in by_client.items():
        assert span["context"]["span_id"] == received.spans[name]["context"]["span_id"]
        assert span["span_kind"] == received.spans[name]["span_kind"]
        assert span["attributes"] == received.spans[name]["attributes"]
    frame = {row["name"]: row for row in result["dataframe"]}
    assert sorted(frame) == sorted(received.spans)
    kinds = {name: row.get("span_kind") for name, row in frame.items()}
    assert kinds == {name: want.kind for name, want in EXPECTED.items()}  # Phoenix's query engine


# --- the control: the same flow with the OpenInference attributes set by hand ---------------


def _send_control(phoenix: Phoenix) -> str:
    """The flow as a plain OTel SDK program carrying OpenInference attributes; its trace id."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "control"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(phoenix.otlp_endpoint)))
    tracer = provider.get_tracer("control")

    def io(value: Any, prefix: str) -> dict[str, str]:
        if isinstance(value, str):
            return {f"{prefix}.value": value, f"{prefix}.mime_type": TEXT_MIME}
        return {f"{prefix}.value": json.dumps(value), f"{prefix}.mime_type": JSON_MIME}

    def attributes(name: str) -> dict[str, Any]:
        want = EXPECTED[name]
        attrs: dict[str, Any] = {"openinference.span.kind": want.kind}
        attrs |= io(want.inputs, "input") | io(want.outputs, "output")
        return attrs

    docs: dict[str, Any] = {}
    for i, doc in enumerate(DOCS):
        key = DOCUMENT.format(i=i, field="{}")
        docs |= {
            key.format("id"): doc["id"],
            key.format("content"): doc["page_content"],
            key.format("score"): doc["score"],
            key.format("metadata"): json.dumps(doc["metadata"]),
        }
    llm: dict[str, Any] = {
        **io({"model": MODEL, "messages": MESSAGES}, "input"),
        **io(_chat_completion(), "output"),
        "openinference.span.kind": "LLM",
        MODEL_NAME: RESPONSE_MODEL,
        **TOKENS,
    }
    for i, message in enumerate(MESSAGES):
        key = INPUT_MESSAGE.format(i=i, field="{}")
        llm |= {key.format("role"): message["role"], key.format("content"): message["content"]}
    key = OUTPUT_MESSAGE.format(i=0, field="{}")
    llm |= {key.format("role"): "assistant", key.format("content"): ANSWER}

    with tracer.start_as_current_span(
        "rag", attributes=attributes("rag") | {SESSION_ID: SESSION, USER_ID: USER}
    ) as root:
        with tracer.start_as_current_span("retrieve", attributes=attributes("retrieve") | docs):
            with tracer.start_as_current_span("embed", attributes=attributes("embed")):
                pass
        with tracer.start_as_current_span("support_agent", attributes=attributes("support_agent")):
            with tracer.start_as_current_span(
                "lookup_order", attributes=attributes("lookup_order")
            ):
                pass
        with tracer.start_as_current_span(LLM_SPAN, attributes=llm):
            pass
        trace_id = f"{root.get_span_context().trace_id:032x}"
    provider.shutdown()
    return trace_id


@pytest.fixture(scope="module")
def control(phoenix: Phoenix) -> Received:
    trace_id = _send_control(phoenix)
    return _read_back(phoenix, trace_id, len(EXPECTED), "phoenix-control-spans.json")


def test_control_otel_program_passes_every_check(control: Received) -> None:
    """Hand-set OpenInference attributes pass all the checks above: they test llmtrace only."""
    failures = []
    for check_name, per_span in PER_SPAN.items():
        for name in EXPECTED:
            try:
                per_span(control, name)
            except AssertionError as exc:
                failures.append(f"{check_name}[{name}]: {exc}")
    for check_name, per_trace in PER_TRACE.items():
        try:
            per_trace(control)
        except AssertionError as exc:
            failures.append(f"{check_name}: {exc}")
    assert not failures, "\n".join(failures)


# --- Phoenix's trace view, in headless Chromium -----------------------------------------------


@pytest.mark.parametrize("sender", ["llmtrace", "control"])
def test_phoenix_trace_view_screenshot(
    chrome: Any, sender: str, request: pytest.FixtureRequest
) -> None:
    """Phoenix's UI opens the trace: its span tree lists every span; screenshots are kept.

    ``phoenix-trace.png`` (the root span), ``phoenix-retriever.png``, ``phoenix-llm.png`` show
    llmtrace's trace; ``phoenix-control-*.png`` the control's, i.e. what they should look like.
    """
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    received: Received = request.getfixturevalue("received" if sender == "llmtrace" else "control")
    prefix = "phoenix" if sender == "llmtrace" else "phoenix-control"

    def wait(condition: Callable[[Any], Any], timeout: float = 90) -> Any:
        # React re-renders: an element just found may be gone when asked about
        ignored = [StaleElementReferenceException]
        waiter = WebDriverWait(chrome, timeout, poll_frequency=0.25, ignored_exceptions=ignored)
        return waiter.until(condition)

    def shown(name: str) -> list[Any]:
        found = chrome.find_elements(By.XPATH, f"//*[normalize-space(text())='{name}']")
        return [e for e in found if e.is_displayed()]

    def tree_node(name: str) -> Any:
        """The span tree's entry for ``name`` (not the traces table behind the trace pane)."""
        heading = "contains(@class,'span-node__heading')"
        xpath = f"//*[{heading}][.//*[normalize-space(text())='{name}']]"
        found = [e for e in chrome.find_elements(By.XPATH, xpath) if e.is_displayed()]
        return found[-1] if found else None

    def select(name: str) -> bool:
        tree_node(name).click()
        return len(shown(name)) >= 2  # the tree's entry and the detail pane's title

    chrome.get(f"{received.url}/redirects/traces/{received.trace_id}")
    wait(lambda d: f"/traces/{received.trace_id}" in d.current_url)
    for name in EXPECTED:
        assert wait(lambda d, name=name: tree_node(name)), f"{name} not in Phoenix's span tree"
    assert received.trace_id in chrome.find_element(By.TAG_NAME, "body").text
    ARTIFACTS.mkdir(exist_ok=True)
    shots = {f"{prefix}-trace.png": "rag", f"{prefix}-retriever.png": "retrieve"}
    shots[f"{prefix}-llm.png"] = LLM_SPAN
    for shot, name in shots.items():
        wait(lambda d, name=name: select(name))
        time.sleep(1)  # let the detail pane finish rendering
        chrome.save_screenshot(str(ARTIFACTS / shot))
        assert (ARTIFACTS / shot).stat().st_size > 0
    loaded = chrome.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    outside = [u for u in loaded if not u.startswith((received.url, "data:", "blob:"))]
    assert not outside, f"the page asked for resources off 127.0.0.1: {outside}"
