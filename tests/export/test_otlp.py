"""Spans also reach an OpenTelemetry collector over OTLP/HTTP (a real receiver on loopback)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import llmtrace


class _Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[ExportTraceServiceRequest]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        type(self).received.append(request)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(b"")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[str]:
    _Collector.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _span_names() -> dict[str, dict[str, str]]:
    found = {}
    for request in _Collector.received:
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    attrs = {kv.key: kv.value.string_value for kv in span.attributes}
                    found[span.name] = attrs
    return found


def test_otlp_endpoint_from_environment(
    collector: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector)
    llmtrace.configure(export_to_mlflow=False)

    @llmtrace.trace(kind="TOOL")
    def lookup(city: str, api_key: str) -> str:
        return "sunny"

    assert lookup("Paris", api_key="sk-test-1234567890abcdef") == "sunny"
    assert llmtrace.flush(10)
    spans = _span_names()
    attrs = spans["test_otlp_endpoint_from_environment.<locals>.lookup"]
    assert attrs["mlflow.spanType"] == "TOOL"
    assert '"city": "Paris"' in attrs["mlflow.spanInputs"]
    assert "sk-test" not in str(_Collector.received)
    assert llmtrace.stats().exported == 1


def test_bad_otlp_endpoint() -> None:
    with pytest.raises(llmtrace.ConfigurationError, match="otlp_endpoint must be an http"):
        llmtrace.configure(otlp_endpoint="localhost:4318")
