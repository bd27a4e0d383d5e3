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
from llmtrace.export import _pacer, _wire
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


class _Program:
    """Fake clocks around a `Pacer`: each release lets "the program" hold the GIL for `held`
    seconds of wall time, of which it spends `cpu` computing (`process_time` minus
    `thread_time`); one item of background work costs `STEP` of both."""

    STEP = 2.0**-14  # ~61 us; binary fractions keep the sums exact

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, held: float, cpu: float) -> None:
        self.held, self.cpu = held, cpu
        self.wall = self.process = self.thread = 0.0
        self.items = self.since = 0
        self.work_done: list[int] = []  # items of work between two releases
        monkeypatch.setattr(_pacer, "perf_counter", lambda: self.wall)
        monkeypatch.setattr(_pacer, "process_time", lambda: self.process)
        monkeypatch.setattr(_pacer, "thread_time", lambda: self.thread)
        monkeypatch.setattr(_pacer, "sleep", self._release)
        monkeypatch.setattr(_pacer.sys, "getswitchinterval", lambda: 2.0**-8)  # 64 items
        self.pace = _pacer.Pacer(slice_s=2.0**-12, alone_s=2.0**-10)  # 4 items; alone 16

    def _release(self, _: float) -> None:
        self.work_done.append(self.items - self.since)
        self.since = self.items
        self.wall += self.held
        self.process += self.cpu

    def work(self, n: int) -> list[int]:
        """`n` items of background work; the slices (in items) of the releases it made."""
        before = len(self.work_done)
        for _ in range(n):
            self.wall += self.STEP
            self.process += self.STEP
            self.thread += self.STEP
            self.items += 1
            self.pace()
        return self.work_done[before:]


def test_pacer_gives_the_gil_back_once_per_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    # a program thread runs briefly at each release (it serves requests): the slice stays short
    program = _Program(monkeypatch, held=0.0, cpu=_Program.STEP)
    assert program.work(10) == [4, 4]  # a quarter slice of work per item: every 4 items


def test_pacer_shares_the_gil_with_a_program_that_computes_and_not_with_one_that_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    busy = 2.0**-7  # the program's thread keeps the GIL ~7.8 ms once it has it
    program = _Program(monkeypatch, held=busy, cpu=busy)
    # every release waited: the slice doubles up to the switch interval
    assert program.work(4 + 8 + 16 + 32 + 64 + 64) == [4, 8, 16, 32, 64, 64]
    program.held = program.cpu = _Program.STEP  # it serves a request and waits on I/O again
    assert program.work(64 + 4 + 4) == [64, 4, 4]  # back to short slices at once


def test_pacer_takes_longer_slices_while_nobody_else_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a release costs wall time (timer slack) but nobody took the GIL: the program sleeps
    program = _Program(monkeypatch, held=2.0**-16, cpu=0.0)
    assert program.work(4 + 8 + 16 + 16 + 16) == [4, 8, 16, 16, 16]  # up to the alone cap
    program.cpu = 2.0**-14  # a program thread woke up and ran ~61 us: short slices again
    assert program.work(16 + 4) == [16, 4]


def test_pacer_leaves_the_long_slices_of_a_busy_program_once_it_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    busy = 2.0**-7
    program = _Program(monkeypatch, held=busy, cpu=busy)
    assert program.work(4 + 8 + 16 + 32 + 64) == [4, 8, 16, 32, 64]
    program.held, program.cpu = 2.0**-16, 0.0  # its loop ended; it waits for the flush
    assert program.work(64 + 16 + 16) == [64, 16, 16]  # the alone cap, not the switch interval


def _public_row(s: object) -> tuple:
    """A row as encode_spans built it before, over the span's public properties."""
    return _wire._row(s.name, s.context, s.parent, s.start_time, s.end_time, s.status,
                      s.attributes, s.events, s.links, s.kind)  # fmt: skip


def test_rows_from_the_span_fields_equal_rows_from_its_properties(
    memory: InMemorySpanExporter,
) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Link, Status, StatusCode

    enriched = _spans(memory, 3)  # llmtrace's copies: plain dict attributes, event lists
    tracer = TracerProvider().get_tracer("raw")  # the SDK's own spans: bounded containers
    with tracer.start_as_current_span("linked", links=[Link(enriched[0].context, {"w": 1})]) as s:
        s.set_attribute("k", "v")
        s.add_event("ev", {"a": [1, 2]})
        s.set_status(Status(StatusCode.ERROR, "bad"))
    raw = s._readable_span()
    spans = [*enriched, raw]
    rows = encode_spans(spans)[1]
    assert [tuple(r) for r in rows] == [_public_row(x) for x in spans]
    assert rows[-1][8] == {"k": "v"} and rows[-1][9][0][1] == {"a": (1, 2)}
    assert rows[-1][10][0][2] == {"w": 1} and rows[-1][6:8] == (StatusCode.ERROR.value, "bad")
    assert pickle.loads(pickle.dumps(rows)) == list(rows)  # no lock or proxy left in a row
