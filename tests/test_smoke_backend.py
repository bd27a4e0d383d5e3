import llmtrace


def test_round_trip(backend: str) -> None:
    @llmtrace.trace(kind="CHAIN")
    def f(x: int) -> int:
        return x + 1

    with llmtrace.span("outer") as s:
        f(1)
    trace = llmtrace.get_trace(s.trace_id)
    names = sorted(sp.name for sp in trace.data.spans)
    assert names == ["outer", "test_round_trip.<locals>.f"]
