"""A virtualenv of its own for Arize Phoenix (its pins clash with llmtrace's), made once, reused.

The venv lives at ``$LLMTRACE_PHOENIX_VENV`` or ``<repo>/.phoenix-venv``. It counts as ready
once its marker file names exactly the requirements below; otherwise it is made anew (with
``pip`` from the package registry, a few minutes). ``.ci/run`` makes it before pytest with::

    python -m tests.interop.phoenix_env

and the test makes it itself when missing. A lock file in the temp folder keeps two processes
(pytest-xdist workers, or the setup step and a test) from building it at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: What the venv holds: the server (``phoenix serve``) and the client the test reads back with.
REQUIREMENTS = ("arize-phoenix==20.26.1", "arize-phoenix-client==3.5.0")

#: Read once at import: the tests' autouse fixture removes every ``LLMTRACE_*`` variable.
ON_CI = os.environ.get("LLMTRACE_CI") == "1"
_VENV_OVERRIDE = os.environ.get("LLMTRACE_PHOENIX_VENV")

_MARKER = ".llmtrace-phoenix-ready"
_BUILD_TIMEOUT_S = 1500


class PhoenixEnvError(RuntimeError):
    """The Phoenix virtualenv could not be made."""


def venv_dir() -> Path:
    """Where the Phoenix virtualenv is (or will be)."""
    return Path(_VENV_OVERRIDE).expanduser().resolve() if _VENV_OVERRIDE else ROOT / ".phoenix-venv"


def _expected_marker() -> str:
    version = ".".join(map(str, sys.version_info[:3]))
    return "\n".join((f"python {version}", *REQUIREMENTS)) + "\n"


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ready_python() -> Path | None:
    """The venv's interpreter if the venv is complete and current, else None (never builds)."""
    venv = venv_dir()
    marker = venv / _MARKER
    try:
        current = marker.read_text() == _expected_marker()
    except OSError:
        return None
    return _python(venv) if current and _python(venv).exists() else None


@contextmanager
def _locked(venv: Path) -> Iterator[None]:
    """An exclusive lock for building ``venv``, kept in the temp folder (not in the repo)."""
    venv.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(str(venv).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"llmtrace-phoenix-venv-{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _run(command: list[str], timeout: float) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PhoenixEnvError(f"{command[:4]} failed: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-4000:]
        raise PhoenixEnvError(f"{command[:4]} exited with {done.returncode}:\n{tail}")


def ensure(log: bool = False) -> Path:
    """The Phoenix venv's interpreter, building the venv first if it is missing or stale.

    Raises:
        PhoenixEnvError: venv or pip failed (no registry, no wheel for this Python, a folder
            that cannot be written, ...).
    """
    venv = venv_dir()
    try:
        with _locked(venv):
            return ready_python() or _build(venv, log)
    except OSError as exc:
        raise PhoenixEnvError(f"cannot build {venv}: {exc}") from exc


def _build(venv: Path, log: bool) -> Path:
    if venv.exists():
        shutil.rmtree(venv)
    started = time.monotonic()
    if log:
        print(f"creating the Phoenix virtualenv at {venv} ...", flush=True)
    # The base interpreter, not this venv's: the Phoenix venv must not see llmtrace's pins.
    base = getattr(sys, "_base_executable", None) or sys.executable
    _run([base, "-m", "venv", str(venv)], timeout=300)
    python = str(_python(venv))
    _run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], timeout=600)
    _run([python, "-m", "pip", "install", "--quiet", *REQUIREMENTS], timeout=_BUILD_TIMEOUT_S)
    (venv / _MARKER).write_text(_expected_marker())  # last: a half-built venv is never "ready"
    if log:
        print(f"Phoenix virtualenv ready in {time.monotonic() - started:.0f}s", flush=True)
    return _python(venv)


def main() -> int:
    """``python -m tests.interop.phoenix_env``: make the venv (no-op when ready)."""
    try:
        python = ensure(log=True)
    except PhoenixEnvError as exc:
        print(f"Phoenix virtualenv: {exc}", file=sys.stderr)
        return 1
    print(python)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
