"""`llmtrace ui`: the MLflow UI on llmtrace's store, and the URL of the experiment's traces.

A local store gets its own ``mlflow server`` child process (one worker, background jobs off
unless ``MLFLOW_SERVER_ENABLE_JOB_EXECUTION`` says otherwise, so it starts in seconds); an
``http(s)://`` tracking URI already is a server, so only its URL is printed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .._errors import LLMTraceError

if TYPE_CHECKING:
    from ._store import Store


def server_command(tracking_uri: str, host: str, port: int, workers: int) -> list[str]:
    """The ``mlflow server`` command line serving ``tracking_uri``.

    Example:
        >>> server_command("sqlite:////tmp/mlflow.db", "127.0.0.1", 5000, 1)[:4]
        ['/usr/bin/python3', '-m', 'mlflow', 'server']
    """
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        tracking_uri,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise LLMTraceError(
                f"mlflow server exited with code {proc.returncode}: {tail[0]} (log: {log})"
            )
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise LLMTraceError(f"mlflow server did not answer at {url} within {timeout:.0f}s (log: {log})")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (ProcessLookupError, PermissionError):
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def serve(
    store: Store,
    *,
    host: str = "127.0.0.1",
    port: int = 5000,
    workers: int = 1,
    timeout: float = 180.0,
    echo: Callable[[str], object] = print,
) -> None:
    """Serve the MLflow UI on ``store`` until interrupted (Ctrl-C or SIGTERM).

    Prints the URL of the experiment's Traces page once the server answers.

    Example:
        >>> serve(Store("sqlite:///mlflow.db", "chatbot"), port=5001)
        MLflow UI for experiment 'chatbot': http://127.0.0.1:5001/#/experiments/1/traces
    """
    name = store.experiment or "Default"
    if store.is_http:
        echo(f"MLflow UI for experiment {name!r}: {store.traces_url(store.tracking_uri)}")
        return
    experiment_id = store.experiment_id()  # also checks the store exists
    if not _port_free(host, port):
        raise LLMTraceError(f"port {port} on {host} is in use; pass --port")
    url = f"http://{host}:{port}"
    log = Path(tempfile.mkdtemp(prefix="llmtrace-ui-")) / "mlflow-server.log"
    env = dict(os.environ)
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            server_command(store.tracking_uri, host, port, workers),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its workers form one group, stopped together
        )
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, on_term)
        echo(f"starting mlflow server on {store.tracking_uri} (log: {log})")
        _wait_healthy(url, proc, log, timeout)
        echo(
            f"MLflow UI for experiment {name!r}: {url}/#/experiments/{experiment_id}/traces"
            "  (Ctrl-C to stop)"
        )
        while proc.poll() is None:
            time.sleep(0.5)
        raise LLMTraceError(f"mlflow server stopped with code {proc.returncode} (log: {log})")
    except KeyboardInterrupt:
        echo("stopping the MLflow server")
    finally:
        _stop(proc)
        signal.signal(signal.SIGTERM, previous)
