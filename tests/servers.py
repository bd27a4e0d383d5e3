"""Starting and stopping the real loopback servers the tests use (`mlflow server`, Phoenix):
a free port, a wait until the server answers, and a stop of its whole process group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(
    url: str,
    proc: subprocess.Popen[bytes] | None,
    timeout: float,
    *,
    path: str = "/health",
    log: Path | None = None,
) -> None:
    """Wait until ``GET {url}{path}`` answers 200; raise if ``proc`` exits or time runs out
    (with the tail of ``log`` in the message, when given)."""
    tail = (lambda: "\n" + log.read_text(errors="replace")[-4000:]) if log else (lambda: "")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {proc.returncode}{tail()}")
        try:
            if requests.get(f"{url}{path}", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server at {url} not ready after {timeout:.0f}s{tail()}")


def stop_group(proc: subprocess.Popen[bytes], wait_s: float = 20.0) -> None:
    """SIGTERM the process group ``proc`` leads (started with ``start_new_session=True``),
    then SIGKILL it if it has not exited after ``wait_s``."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=wait_s)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
