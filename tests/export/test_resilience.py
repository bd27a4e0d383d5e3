"""The HTTP exporter under faults: retries with backoff on 503/429 (honouring Retry-After), no
retry where it cannot help, a full buffer that drops the newest spans and counts them, and a
traced program that never waits for the server.

The fault path runs against a scripted OTLP endpoint on 127.0.0.1 (`team_helpers.OtlpStub`);
one test puts that stub as a proxy in front of the real `mlflow server` and reads the trace
back with MLflow's client.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator

import mlflow
import pytest

import llmtrace
from llmtrace.export._exporter_mlflow import BACKOFF_BASE_S
from llmtrace.export._http import retry_after as _retry_after
from tests.conftest import free_port
from tests.team_helpers import OtlpStub


@pytest.fixture
def stub() -> Iterator[OtlpStub]:
    server = OtlpStub(free_port()).start()
    yield server
    if server.hold is not None:
        server.hold.set()
    server.stop()


@llmtrace.trace
def leaf(x: int) -> int:
    return x + 1


@llmtrace.trace
def root(x: int) -> int:
    with llmtrace.span("middle"):
        return leaf(x)


def test_503_is_retried_with_exponential_backoff_then_accepted(stub: OtlpStub) -> None:
    stub.script.extend([(503, {}), (503, {}), (503, {})])
    llmtrace.configure(tracking_uri=stub.url, schedule_delay_ms=10, export_retries=3)
    assert root(1) == 2
    assert llmtrace.flush(30)
    statuses = [a.status for a in stub.attempts]
    assert statuses == [503, 503, 503, 200]
    assert sorted(stub.accepted_spans()) == ["leaf", "middle", "root"]
    gaps = [b.at - a.at for a, b in zip(stub.attempts, stub.attempts[1:], strict=False)]
    for n, gap in enumerate(gaps):  # attempt n waits base * 2**n times a jitter in [0.5, 1.5)
        assert gap >= 0.5 * BACKOFF_BASE_S * 2**n * 0.95, gaps
    s = llmtrace.stats()
    assert (s.retries, s.exported, s.failed, s.dropped) == (3, 3, 0, 0)


def test_429_retry_after_is_honoured(stub: OtlpStub) -> None:
    stub.script.append((429, {"Retry-After": "1"}))
    llmtrace.configure(tracking_uri=stub.url, schedule_delay_ms=10)
    root(1)
    assert llmtrace.flush(30)
    assert [a.status for a in stub.attempts] == [429, 200]
    assert stub.attempts[1].at - stub.attempts[0].at >= 0.95  # not the 0.1 s backoff
    s = llmtrace.stats()
    assert (s.retries, s.exported, s.failed) == (1, 3, 0)


def test_retry_after_longer_than_an_export_may_block_fails_at_once(stub: OtlpStub) -> None:
    """Without a spool, a server asking for minutes of pause gets a counted failure, not a
    stuck export thread."""
    stub.script.append((503, {"Retry-After": "120"}))
    llmtrace.configure(tracking_uri=stub.url, schedule_delay_ms=10)
    root(1)
    assert llmtrace.flush(30)
    assert [a.status for a in stub.attempts] == [503]
    s = llmtrace.stats()
    assert (s.retries, s.exported, s.failed) == (0, 0, 3)
    assert "HTTP 503" in (s.last_error or "")


def test_client_errors_are_not_retried(stub: OtlpStub) -> None:
    stub.script.append((400, {}))
    llmtrace.configure(tracking_uri=stub.url, schedule_delay_ms=10)
    root(1)
    assert llmtrace.flush(30)
    assert [a.status for a in stub.attempts] == [400]
    s = llmtrace.stats()
    assert (s.retries, s.failed) == (0, 3)


def test_connection_refused_is_retried_then_counted_as_failed() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    llmtrace.configure(tracking_uri=url, schedule_delay_ms=10, export_retries=2)
    root(1)
    assert llmtrace.flush(30)
    s = llmtrace.stats()
    assert (s.retries, s.exported, s.failed, s.spooled) == (2, 0, 3, 0)
    assert "onnection" in (s.last_error or "")


def test_retry_after_header_forms() -> None:
    assert _retry_after("3") == 3.0
    assert _retry_after(None) is None
    assert _retry_after("soon") is None
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    got = _retry_after(future)
    assert got is not None and 25 <= got <= 31


def test_a_stalled_server_never_blocks_the_traced_program(stub: OtlpStub) -> None:
    stub.hold = threading.Event()
    llmtrace.configure(tracking_uri=stub.url, schedule_delay_ms=10)
    root(0)
    assert stub.holding.wait(30), "the export thread never reached the server"
    for i in range(200):  # all of these run while the export thread waits on the server
        assert root(i) == i + 1
    assert not stub.hold.is_set() and stub.attempts == []
    stub.hold.set()
    assert llmtrace.flush(30)
    assert len(stub.accepted_spans()) == 3 * 201
    assert llmtrace.stats().dropped == 0


def test_full_buffer_drops_the_newest_spans_counts_and_warns_once(
    stub: OtlpStub, caplog: pytest.LogCaptureFixture
) -> None:
    stub.hold = threading.Event()
    llmtrace.configure(
        tracking_uri=stub.url, schedule_delay_ms=10, max_queue_size=20, max_export_batch_size=5
    )
    with llmtrace.span("first"):
        pass
    assert stub.holding.wait(30), "the export thread never reached the server"
    # Held: "first" at the server; up to one batch (5) enriched for the next export; then the
    # queue (20). Of 30 more spans, 5 to 10 find no room, whenever the export thread wakes.
    with caplog.at_level(logging.WARNING, logger="llmtrace"):
        for i in range(30):
            with llmtrace.span(f"s{i:02d}"):
                pass
    s = llmtrace.stats()
    assert s.enqueued == 31 and 5 <= s.dropped <= 10
    assert s.queued == 31 - s.dropped  # queued, enriched or at the server: none finished yet
    warnings = [r for r in caplog.records if "queue full" in r.getMessage()]
    assert len(warnings) == 1
    stub.hold.set()
    assert llmtrace.flush(30)
    stored = stub.accepted_spans()
    assert len(stored) == len(set(stored)) == 31 - s.dropped
    # the newest spans are the ones dropped: the 20 that filled the queue are all there
    assert {"first", *(f"s{i:02d}" for i in range(20))} <= set(stored)
    after = llmtrace.stats()
    assert (after.exported, after.dropped, after.failed) == (31 - s.dropped, s.dropped, 0)


@pytest.mark.slow
def test_faults_in_front_of_a_real_mlflow_server(mlflow_server: str) -> None:
    """503, then 429 with Retry-After, then through to the real server: stored once."""
    proxy = OtlpStub(free_port(), upstream=mlflow_server)
    proxy.script = deque([(503, {}), (429, {"Retry-After": "1"})])
    proxy.start()
    try:
        experiment = f"resilience-{uuid.uuid4().hex[:8]}"
        llmtrace.configure(tracking_uri=proxy.url, experiment=experiment, schedule_delay_ms=10)
        assert root(41) == 42
        assert llmtrace.flush(60)
        assert [a.status for a in proxy.attempts] == [503, 429, 200]
        assert proxy.attempts[2].at - proxy.attempts[1].at >= 0.95
        client = mlflow.MlflowClient(tracking_uri=mlflow_server)
        found = client.get_experiment_by_name(experiment)
        assert found is not None
        traces = client.search_traces(locations=[found.experiment_id])
        assert len(traces) == 1
        spans = client.get_trace(traces[0].info.trace_id).data.spans
        assert sorted(s.name for s in spans) == ["leaf", "middle", "root"]
        assert llmtrace.stats().retries == 2
    finally:
        proxy.stop()
