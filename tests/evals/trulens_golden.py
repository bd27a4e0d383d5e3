"""The human-scored golden sets TruLens ships, read from the ``trulens-benchmark`` wheel.

``trulens/benchmark/test_cases.py`` holds ``answer_relevance_golden_set`` and
``context_relevance_golden_set``: lists of ``{"query", "expected_response", "expected_score"}``
where ``expected_score`` is a person's relevance score in [0, 1]. The module only imports
``json``, but installing the distribution pulls trulens-core, whose pins clash with ours (rich<14
breaks import-linter). So the wheel is fetched alone — ``pip download --no-deps`` into a cache
folder (``$LLMTRACE_TRULENS_CACHE`` or ``<repo>/.trulens-benchmark``), once — and the file is
read from it with `zipfile` and run as a fresh module: nothing is installed.

``.ci/run`` (or anyone) can fetch it ahead with ``python -m tests.evals.trulens_golden``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
import tempfile
import types
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTION = "trulens-benchmark"
VERSION = "2.16.0"
WHEEL = f"trulens_benchmark-{VERSION}-py3-none-any.whl"
MEMBER = "trulens/benchmark/test_cases.py"
#: Read once at import: the tests' autouse fixture removes every ``LLMTRACE_*`` variable.
ON_CI = os.environ.get("LLMTRACE_CI") == "1"
_CACHE_OVERRIDE = os.environ.get("LLMTRACE_TRULENS_CACHE")


class GoldenSetError(RuntimeError):
    """The trulens-benchmark wheel could not be fetched or read."""


def cache_dir() -> Path:
    """Where the wheel is kept."""
    if _CACHE_OVERRIDE:
        return Path(_CACHE_OVERRIDE).expanduser().resolve()
    return ROOT / ".trulens-benchmark"


def wheel_path() -> Path:
    """The cached wheel, downloaded first when missing (a lock keeps xdist workers apart)."""
    folder = cache_dir()
    wheel = folder / WHEEL
    if wheel.exists():
        return wheel
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"llmtrace-trulens-{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not wheel.exists():
                _download(folder)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    if not wheel.exists():
        raise GoldenSetError(f"pip download did not leave {WHEEL} in {folder}")
    return wheel


def _download(folder: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--quiet",
        "--dest",
        str(folder),
        f"{DISTRIBUTION}=={VERSION}",
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GoldenSetError(f"pip download {DISTRIBUTION}=={VERSION} failed: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-2000:]
        raise GoldenSetError(
            f"pip download {DISTRIBUTION}=={VERSION} exited with {done.returncode}:\n{tail}"
        )


def load() -> types.ModuleType:
    """``trulens.benchmark.test_cases`` from the cached wheel, as a module of its own."""
    wheel = wheel_path()
    try:
        with zipfile.ZipFile(wheel) as archive:
            source = archive.read(MEMBER).decode("utf-8")
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise GoldenSetError(f"cannot read {MEMBER} from {wheel}: {exc}") from exc
    module = types.ModuleType("trulens_benchmark_test_cases")
    module.__file__ = f"{wheel}/{MEMBER}"
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


if __name__ == "__main__":
    cases = load()
    print(
        f"{wheel_path()}: {len(cases.answer_relevance_golden_set)} answer relevance and "
        f"{len(cases.context_relevance_golden_set)} context relevance cases"
    )
