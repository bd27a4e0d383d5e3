"""Batches cross the pipe in chunks (the GIL is given back between them) and arrive whole.

The traced program's side pickles a batch `CHUNK_ROWS` rows at a time and enriches and encodes
span by span with a `Pacer`; the export process sees the same plain rows as before. These tests
check what arrives, not how fast.
"""

from __future__ import annotations

import io
import pickle
import sqlite3
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmtrace
from llmtrace import _runtime
from llmtrace.export import _pacer
from llmtrace.export._wire import (
    CHUNK_ROWS,
    Rows,
    decode_spans,
    encode_spans,
    read_frame,
    write_frame,
)


def _spans(memory: InMemorySpanExporter, traces: int) -> list:
    for i in range(traces):
        with llmtrace.span(f"root-{i}", attributes={"i": i, "tags": ["a", "b"]}) as root:
            root.add_event("e", {"n": i})
            for j in range(4):
                with llmtrace.span(f"child-{i}-{j}") as child:
                    child.set_outputs({"j": j, "text": "x" * (j * 100)})
    assert llmtrace.flush(20)
    return list(memory.get_finished_spans())


def test_a_batch_of_many_chunks_round_trips_through_the_frame_exactly(
    memory: InMemorySpanExporter,
) -> None:
    spans = _spans(memory, 60)  # 300 spans: 5 chunks
    assert len(spans) > 4 * CHUNK_ROWS
    batch = encode_spans(spans)
    assert isinstance(batch[1], Rows)
    _, (chunks,) = batch[1].__reduce__()
    assert len(chunks) == -(-len(spans) // CHUNK_ROWS)

    pipe = io.BytesIO()
    write_frame(pipe, ("export", batch))
    pipe.seek(0)
    kind, (resource, rows) = read_frame(pipe)
    assert kind == "export" and resource == batch[0]
    assert type(rows) is list and rows == list(batch[1])  # the receiver's rows, as before
    for a, b in zip(spans, decode_spans((resource, rows)), strict=True):
        assert a.to_json() == b.to_json()


@pytest.mark.parametrize("n", [0, 1, CHUNK_ROWS, CHUNK_ROWS + 1])
def test_rows_at_chunk_edges_unpickle_to_the_same_list(n: int) -> None:
    rows = Rows((i, f"span-{i}", {"k": i}) for i in range(n))
    back = pickle.loads(pickle.dumps(rows, pickle.HIGHEST_PROTOCOL))
    assert type(back) is list and back == list(rows)


def test_a_big_batch_reaches_the_store_through_the_export_process(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    llmtrace.configure(tracking_uri=uri, experiment="chunks", max_export_batch_size=1024)
    with llmtrace.span("warm"):  # starts the pipeline and the export process
        pass
    assert llmtrace.flush(120)
    pipeline = _runtime.pipeline()
    assert pipeline is not None
    gate = pipeline.processor._ready_cond
    with gate:  # hold the send thread: the spans below leave in few, large batches
        for i in range(100):
            with llmtrace.span(f"t-{i}"):
                for j in range(4):
                    with llmtrace.span("child") as child:
                        child.set_outputs({"i": i, "j": j})
    assert llmtrace.flush(120)
    stats = llmtrace.stats()
    assert (stats.enqueued, stats.exported, stats.failed, stats.queued) == (501, 501, 0, 0)
    with sqlite3.connect(tmp_path / "mlflow.db") as con:
        traces = con.execute("select count(*) from trace_info where status = 'OK'").fetchone()
        spans = con.execute("select count(*) from spans").fetchone()
    assert (traces[0], spans[0]) == (101, 501)


def test_the_byte_count_of_the_queue_returns_to_zero_after_many_batches(
    memory: InMemorySpanExporter,
) -> None:
    spans = _spans(memory, 400)
    pipeline = _runtime.pipeline()
    assert pipeline is not None
    stats = llmtrace.stats()
    assert (stats.enqueued, stats.exported, stats.queued) == (len(spans), 2000, 0)
    assert pipeline.processor._bytes == 0 and not pipeline.processor._sizes


def test_pacer_gives_the_gil_back_once_per_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    sleeps: list[float] = []
    monkeypatch.setattr(_pacer, "perf_counter", lambda: now[0])
    monkeypatch.setattr(_pacer, "sleep", sleeps.append)
    pace = _pacer.Pacer(slice_s=1 / 1024)
    for _ in range(10):  # a quarter slice of work per item: a release every 4 items
        now[0] += 1 / 4096
        pace()
    assert sleeps == [0, 0]
