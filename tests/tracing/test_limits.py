"""`max_attribute_chars` holds for every string llmtrace stores; invalid text never poisons a
batch; inputs keep their keys when one value is bad. Issue 14, "Size limits leak"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmtrace
from llmtrace.tracing import _serialize
from tests.helpers import finished, inputs

LIMIT = 1000
MARKER_ROOM = 40  # "...[truncated N chars]"


@pytest.fixture
def small(request: pytest.FixtureRequest) -> InMemorySpanExporter:
    """llmtrace exporting to memory, with a 1,000-character limit."""
    exporter = InMemorySpanExporter()
    llmtrace.configure(
        export_to_mlflow=False,
        exporters=[exporter],
        schedule_delay_ms=10,
        max_attribute_chars=LIMIT,
    )
    return exporter


def _bounded(text: Any, limit: int = LIMIT) -> None:
    assert isinstance(text, str)
    assert len(text) <= limit + MARKER_ROOM, len(text)
    assert text.endswith("chars]"), text[-60:]


def test_exception_message_stacktrace_and_status_are_cut(small: InMemorySpanExporter) -> None:
    @llmtrace.trace(name="fails")
    def fails() -> None:
        raise ValueError("boom " * 50_000)

    with pytest.raises(ValueError) as info:
        fails()
    assert len(str(info.value)) == 250_000  # the user's exception is untouched
    span = finished(small)["fails"]
    (event,) = span.events
    assert event.name == "exception"
    _bounded(event.attributes["exception.message"])
    _bounded(event.attributes["exception.stacktrace"])
    _bounded(span.status.description)
    assert span.attributes["llmtrace.truncated"]  # the span says it was cut


def test_plain_string_attributes_are_cut(small: InMemorySpanExporter) -> None:
    big = "y" * 2_000_000

    @llmtrace.trace(name="decorated", attributes={"static": big})
    def decorated() -> int:
        llmtrace.current_span().set_attribute("dynamic", big)
        return 1

    with llmtrace.span("block", attributes={"given": big}) as s:
        s.set_attribute("set", big)
        s.set_attributes({"several": big, "short": "ok"})
        s.set_attribute("listed", [big, "b"])
        s.set_error(big)
    decorated()
    spans = finished(small)
    block, deco = spans["block"], spans["decorated"]
    for key in ("given", "set", "several"):
        _bounded(block.attributes[key])
    assert block.attributes["short"] == "ok"
    listed = json.loads(block.attributes["listed"])  # a list: stored as JSON, cut as a whole
    assert listed.startswith('["yyy') and len(listed) <= LIMIT + MARKER_ROOM
    _bounded(block.status.description)
    _bounded(deco.attributes["static"])
    _bounded(deco.attributes["dynamic"])
    assert "set" in block.attributes["llmtrace.truncated"].split(",")


def test_events_and_names_are_cut(small: InMemorySpanExporter) -> None:
    with llmtrace.span("n" * 10_000) as s:
        s.add_event("e" * 10_000, {"text": "z" * 50_000, "nested": {"deep": ["z" * 50_000]}})
    (span,) = finished(small).values()
    _bounded(span.name)
    assert span.attributes["mlflow.traceTag.mlflow.traceName"] == span.name
    (event,) = span.events
    _bounded(event.name)
    _bounded(event.attributes["text"])
    assert len(event.attributes["nested"]) <= LIMIT + MARKER_ROOM + 10


def test_a_span_name_over_4096_chars_is_stored_cut(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    llmtrace.configure(tracking_uri=uri, experiment="limits", schedule_delay_ms=20)
    with llmtrace.span("x" * 5000):
        pass
    with llmtrace.span("neighbour"):
        pass
    assert llmtrace.flush(60)
    stats = llmtrace.stats()
    assert (stats.exported, stats.failed) == (2, 0), stats  # MLflow refuses names > 4,096
    names = sorted(span.name for trace in _stored(uri, "limits") for span in trace.data.spans)
    assert names[0] == "neighbour" and names[1].startswith("xxx") and len(names[1]) < 4096


def test_masking_only_ever_reads_the_cut_text(
    small: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Truncate, then mask: the regex work per value is bounded by the limit."""
    seen: list[int] = []
    spans = _serialize._secret_spans

    def spy(text: str, literals: Any = ()) -> list[tuple[int, int]]:
        seen.append(len(text))
        return spans(text, literals)

    monkeypatch.setattr(_serialize, "_secret_spans", spy)
    big = "token words " * 20_000  # 240 KB

    @llmtrace.trace(name="big")
    def big_call(doc: str, api_key: str) -> str:
        llmtrace.current_span().set_attribute("doc", doc)
        llmtrace.current_span().add_event("seen", {"doc": doc})
        raise RuntimeError(doc)

    with pytest.raises(RuntimeError):
        big_call(big, api_key="abcdef123456")
    finished(small)
    assert seen and max(seen) <= LIMIT + _serialize._LOOKAHEAD


def test_a_secret_straddling_the_cut_leaves_nothing_recognizable(
    small: InMemorySpanExporter,
) -> None:
    key = "sk-proj-" + "Zq8Xv3Lm9Tn2Rb7Wc4Hy6Kd1Pf5Gs0Jt"
    with llmtrace.span("cut") as s:
        for inside in (3, 8, 12, 20, len(key) - 1):  # the cut falls this far into the key
            s.set_attribute(f"attr{inside}", "." * (LIMIT - inside) + key + " tail")
    span = finished(small)["cut"]
    for inside in (3, 8, 12, 20, len(key) - 1):
        stored = span.attributes[f"attr{inside}"]
        assert key[:inside] not in stored and "[REDACTED]" in stored, stored[-60:]


def test_inputs_keep_their_keys_when_one_value_is_bad(small: InMemorySpanExporter) -> None:
    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    @llmtrace.trace(name="call")
    def call(query: str, n: int, doc: str, obj: object, k: int = 3) -> str:
        return "ok"

    assert call("hi", 10**5000, "d" * 200_000, Hostile(), k=3) == "ok"
    span = finished(small)["call"]
    stored = inputs(span)
    assert list(stored) == ["query", "n", "doc", "obj", "k"]
    assert stored["query"] == "hi" and stored["k"] == 3
    assert stored["n"].startswith("<int of") and stored["obj"] == "<unrepresentable Hostile>"
    assert stored["doc"].startswith("ddd") and stored["doc"].endswith("chars]")
    assert len(span.attributes["mlflow.spanInputs"]) <= LIMIT + 2 * MARKER_ROOM
    assert span.attributes["llmtrace.truncated"] == "mlflow.spanInputs"


LONE = "\ud800"


def test_lone_surrogates_anywhere_are_repaired_and_the_batch_is_stored(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    llmtrace.configure(tracking_uri=uri, experiment="surrogates", schedule_delay_ms=20)

    @llmtrace.trace(name="echo")
    def echo(value: str) -> str:
        return value + LONE

    @llmtrace.trace(name="fails")
    def fails() -> None:
        raise ValueError(f"bad {LONE} text")

    echo(f"input {LONE}")
    with pytest.raises(ValueError):
        fails()
    with llmtrace.span(f"name {LONE}") as s:
        s.set_attribute("attr", f"value {LONE}")
        s.set_attribute(f"key {LONE}", 1)
        s.add_event(f"event {LONE}", {"e": f"x {LONE}"})
    with llmtrace.session(f"session-{LONE}", user=f"user-{LONE}"), llmtrace.span("in-session"):
        pass
    for i in range(20):  # good traces in the same batch
        with llmtrace.span(f"good-{i}"):
            pass
    assert llmtrace.flush(60)
    stats = llmtrace.stats()
    assert (stats.exported, stats.failed) == (24, 0), stats
    traces = _stored(uri, "surrogates")
    assert len(traces) == 24
    dumped = "\n".join(trace.to_json() for trace in traces)
    assert "\\ufffd" in dumped and "\\ud800" not in dumped
    bad = [t for t in traces if not t.data.spans[0].name.startswith("good-")]
    for trace in bad:
        assert trace.data.spans[0].attributes.get("llmtrace.repaired_text"), trace.to_json()
    session = next(t for t in traces if t.data.spans[0].name == "in-session")
    assert session.info.trace_metadata["mlflow.trace.session"] == "session-\ufffd"
    assert session.info.trace_metadata["mlflow.trace.user"] == "user-\ufffd"


def test_an_over_long_user_id_is_cut_to_mlflows_250_chars_and_stays_distinct(
    small: InMemorySpanExporter,
) -> None:
    for i in range(2):
        with llmtrace.session("conv", user="u" * 400 + str(i)), llmtrace.span(f"s{i}"):
            pass
    spans = finished(small)
    users = [spans[f"s{i}"].attributes["user.id"] for i in range(2)]
    assert all(len(u) <= 250 for u in users) and users[0] != users[1]


def _stored(uri: str, experiment: str) -> list[Any]:
    client = mlflow.MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    return list(client.search_traces(locations=[found.experiment_id], max_results=500))
