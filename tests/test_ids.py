"""Trace and span ids never repeat, whatever the program does to `random` (issue 14)."""

from __future__ import annotations

import os
import random

from mlflow import MlflowClient

import llmtrace
from llmtrace._ids import UniqueIdGenerator


@llmtrace.trace
def request(i: int) -> int:
    with llmtrace.span("inner"):
        return i


def test_seeding_random_before_each_request_stores_every_trace(sqlite_uri: str) -> None:
    for i in range(100):
        random.seed(0)  # what ML and evaluation code often does per request
        request(i)
    assert llmtrace.flush(60)
    stats = llmtrace.stats()
    assert (stats.exported, stats.failed, stats.dropped) == (200, 0, 0)
    client = MlflowClient(sqlite_uri)
    experiment = client.get_experiment_by_name("tests")
    traces = client.search_traces(locations=[experiment.experiment_id], max_results=500)
    assert len(traces) == 100
    assert len({t.info.trace_id for t in traces}) == 100
    assert sorted(int(t.data.spans[0].inputs["i"]) for t in traces if t.data.spans) == list(
        range(100)
    )


def test_ids_ignore_the_global_random_state() -> None:
    gen = UniqueIdGenerator()
    random.seed(1)
    first = (gen.generate_trace_id(), gen.generate_span_id())
    random.seed(1)
    second = (gen.generate_trace_id(), gen.generate_span_id())
    assert first != second


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    gen = UniqueIdGenerator()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: send our next id, exit without cleanup
        os.write(write, gen.generate_trace_id().to_bytes(16, "big"))
        os._exit(0)
    os.close(write)
    child = int.from_bytes(os.read(read, 16), "big")
    os.waitpid(pid, 0)
    assert child != gen.generate_trace_id()
