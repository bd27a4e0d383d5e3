"""`phoenix serve` from its own venv on 127.0.0.1: free ports, a temp SQLite store, no outbound.

`running_phoenix` starts it in a new process group, waits until ``/readyz`` answers and stops
the group by its id at the end (SIGTERM, then SIGKILL). Phoenix's own switches keep it off the
internet: ``PHOENIX_ALLOW_EXTERNAL_RESOURCES=false`` (no web fonts, no telemetry pixels, no
WASM sandbox download), ``PHOENIX_TELEMETRY_ENABLED=false`` and the agent assistant off.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.servers import free_port, stop_group, wait_ready


@dataclass(frozen=True)
class Phoenix:
    """A running Phoenix server."""

    url: str  # UI, REST API and OTLP/HTTP receiver (``{url}/v1/traces``)
    grpc_port: int
    log: Path

    @property
    def otlp_endpoint(self) -> str:
        return f"{self.url}/v1/traces"


def phoenix_environment(folder: Path, port: int, grpc_port: int) -> dict[str, str]:
    """The server's environment: the caller's, less any OTel/Phoenix setting, plus ours."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PHOENIX_", "OTEL_", "LLMTRACE_"))
    }
    env.update(
        {
            "PHOENIX_HOST": "127.0.0.1",
            "PHOENIX_PORT": str(port),
            "PHOENIX_GRPC_PORT": str(grpc_port),
            "PHOENIX_WORKING_DIR": str(folder),
            "PHOENIX_SQL_DATABASE_URL": f"sqlite:///{folder / 'phoenix.db'}",
            "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
            "PHOENIX_TELEMETRY_ENABLED": "false",
            "PHOENIX_DISABLE_AGENT_ASSISTANT": "true",
            "PHOENIX_ENABLE_MCP_SERVER": "false",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    return env


@contextmanager
def running_phoenix(python: Path, folder: Path, timeout: float = 300) -> Iterator[Phoenix]:
    """Run ``phoenix serve`` with the venv's interpreter ``python``; yield where it listens."""
    folder.mkdir(parents=True, exist_ok=True)
    port, grpc_port = free_port(), free_port()
    while grpc_port == port:
        grpc_port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = folder / "phoenix.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(python), "-m", "phoenix.server.main", "serve"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=folder,
            env=phoenix_environment(folder, port, grpc_port),
            start_new_session=True,
        )
        try:
            wait_ready(url, proc, timeout, path="/readyz", log=log)
            yield Phoenix(url=url, grpc_port=grpc_port, log=log)
        finally:
            stop_group(proc, wait_s=30)
