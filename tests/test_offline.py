"""The embedded default never touches the network: tracing, storing and reading stay local."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Loaded by every Python process started with this PYTHONPATH (the traced program and its
# export process): records, and refuses, any connection to a host that is not this machine.
GUARD = textwrap.dedent(
    """
    import os, socket
    _log = os.environ["LLMTRACE_TEST_CONNECT_LOG"]
    _real = socket.getaddrinfo
    _local = ("localhost", "127.0.0.1", "::1", None, "")

    def getaddrinfo(host, *args, **kwargs):
        if host not in _local and not str(host).startswith("127."):
            with open(_log, "a") as f:
                f.write(f"{os.getpid()} {host}\\n")
            raise OSError(f"test guard: no network ({host})")
        return _real(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    """
)

PROGRAM = textwrap.dedent(
    """
    import json
    import llmtrace

    with llmtrace.span("ask", kind="CHAIN") as root:
        with llmtrace.span("local model", kind="LLM") as llm:
            llm.set_inputs({"messages": [{"role": "user", "content": "hi"}]})
            llm.set_attributes({
                "mlflow.chat.tokenUsage": json.dumps(
                    {"input_tokens": 40, "output_tokens": 8, "total_tokens": 48}),
                "mlflow.llm.model": json.dumps("acme-local-7b"),
                "mlflow.llm.provider": json.dumps("openai"),
            })
            llm.set_outputs("hello")
    trace = llmtrace.get_trace(root.trace_id)
    assert trace.info.token_usage["total_tokens"] == 48, trace.info.token_usage
    stats = llmtrace.stats()
    assert stats.failed == 0 and stats.dropped == 0, stats
    print("stored", trace.info.trace_id)
    """
)


@pytest.mark.slow
def test_storing_an_unpriced_llm_span_makes_no_outbound_connection(tmp_path: Path) -> None:
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(GUARD)
    log = tmp_path / "connections.log"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LLMTRACE_", "MLFLOW_", "OTEL_"))
    }
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(guard), env.get("PYTHONPATH")) if p)
    env["LLMTRACE_TEST_CONNECT_LOG"] = str(log)
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "stored tr-" in done.stdout
    attempts = log.read_text().splitlines() if log.exists() else []
    assert attempts == [], f"outbound connections attempted: {attempts}"
