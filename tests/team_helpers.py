"""Real loopback servers for the resilience tests: a scripted OTLP endpoint (optionally a proxy
in front of a real `mlflow server`), and an `mlflow server` we can stop and start again on the
same port. (The PostgreSQL stack of test_postgres.py is started with the deploy/ scripts.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.servers import stop_group, wait_ready


@dataclass
class Attempt:
    """One request the stub received on ``/v1/traces``."""

    at: float  # time.monotonic()
    status: int
    span_names: list[str]
    trace_ids: list[str]
    experiment_id: str | None


@dataclass
class OtlpStub:
    """An HTTP server on 127.0.0.1 that answers OTLP POSTs from a script.

    ``script`` holds ``(status, headers)`` answers used in order for ``/v1/traces``; once it is
    empty, requests are accepted (200) or, with ``upstream``, forwarded to a real server (every
    other path is always forwarded then). ``hold`` (an Event) blocks OTLP requests until set.
    """

    port: int
    upstream: str | None = None
    script: deque[tuple[int, dict[str, str]]] = field(default_factory=deque)
    hold: threading.Event | None = None
    attempts: list[Attempt] = field(default_factory=list)
    holding: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> OtlpStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _forward(self, body: bytes | None) -> None:
                assert stub.upstream is not None
                skip = ("host", "content-length")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                got = requests.request(
                    self.command, stub.upstream + self.path, data=body, headers=headers, timeout=30
                )
                keep = {"Content-Type": got.headers.get("Content-Type", "application/json")}
                self._answer(got.status_code, got.content, keep)

            def do_GET(self) -> None:
                if stub.upstream is not None:
                    self._forward(None)
                elif self.path.startswith("/api/2.0/mlflow/experiments/get-by-name"):
                    body = json.dumps({"experiment": {"experiment_id": "7"}}).encode()
                    self._answer(200, body, {"Content-Type": "application/json"})
                else:
                    self._answer(404, b"{}", {"Content-Type": "application/json"})

            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size)
                if self.path != "/v1/traces":
                    if stub.upstream is not None:
                        self._forward(body)
                    else:
                        self._answer(200, b"{}", {"Content-Type": "application/json"})
                    return
                if stub.hold is not None and not stub.hold.is_set():
                    stub.holding.set()
                    stub.hold.wait(60)
                status, headers = stub.script.popleft() if stub.script else (200, {})
                request = ExportTraceServiceRequest.FromString(body)
                spans = [
                    s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans
                ]
                stub.attempts.append(
                    Attempt(
                        time.monotonic(),
                        status,
                        [s.name for s in spans],
                        [s.trace_id.hex() for s in spans],
                        self.headers.get("x-mlflow-experiment-id"),
                    )
                )
                if status == 200 and stub.upstream is not None:
                    self._forward(body)
                else:
                    self._answer(status, b"{}", {"Content-Type": "application/json", **headers})

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def accepted_spans(self) -> list[str]:
        """Names of spans in requests answered 200, in arrival order."""
        return [name for a in self.attempts if a.status == 200 for name in a.span_names]

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class MlflowServer:
    """An `mlflow server` subprocess on 127.0.0.1 that can be stopped and started again on
    the same port and backends."""

    def __init__(
        self, port: int, backend_uri: str, artifacts: Path, log: Path, workers: int = 1
    ) -> None:
        self.port = port
        self.backend_uri = backend_uri
        self.artifacts = artifacts
        self.log = log
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180) -> MlflowServer:
        mlflow_bin = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
        env = {
            **os.environ,
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "NO_PROXY": "127.0.0.1,localhost",
        }
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    mlflow_bin,
                    "server",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                    "--backend-store-uri",
                    self.backend_uri,
                    "--artifacts-destination",
                    str(self.artifacts),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        wait_ready(self.url, self.proc, timeout)
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        stop_group(proc)
