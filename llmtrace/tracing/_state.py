"""What the tracing layer needs from the pipeline, without importing it.

The runtime (`llmtrace._runtime`, which sits above this layer) installs its tracer source here
when it is imported. `import llmtrace` imports it lazily, so the first span asks for it by name
(this layer never imports the runtime itself). Generators and streams whose
spans are still open register here, so the runtime can end them at exit.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from opentelemetry import trace as otel_trace

_source: Callable[[], otel_trace.Tracer | None] | None = None
_open_generators: weakref.WeakSet[Any] = weakref.WeakSet()


def set_tracer_source(source: Callable[[], otel_trace.Tracer | None]) -> None:
    """Called once by the runtime: where `tracer()` gets the pipeline's tracer."""
    global _source
    _source = source


def tracer() -> otel_trace.Tracer | None:
    """The pipeline's tracer (starting the pipeline on first use); None when tracing is off."""
    source = _source
    if source is None:  # the runtime is not imported yet: importing it installs the source
        import importlib

        importlib.import_module("llmtrace._runtime")
        source = _source
    return source() if source is not None else None


def register_open_generator(handle: Any) -> None:
    """Remember a generator/stream span that is still open (ended at exit if need be)."""
    _open_generators.add(handle)


def unregister_open_generator(handle: Any) -> None:
    _open_generators.discard(handle)


def open_generators() -> list[Any]:
    """The generator/stream spans still open, for the runtime's exit hook."""
    return list(_open_generators)
