"""Trace and span ids that never repeat, and the MLflow spelling of a trace id.

OpenTelemetry's default id generator draws from the process-wide `random` module, so a program
that calls ``random.seed(k)`` before each request (common in ML and evaluation code) gets the
same ids again and its traces overwrite each other in the store. llmtrace's generator draws
from a private `random.Random` seeded from ``os.urandom`` and reseeded in every forked child,
so nothing the program does to `random` changes its ids.
"""

from __future__ import annotations

import os
import random

from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import INVALID_SPAN_ID, INVALID_TRACE_ID

_rng = random.Random(os.urandom(32))


def _reseed() -> None:
    _rng.seed(os.urandom(32))


if hasattr(os, "register_at_fork"):  # a forked child must not repeat its parent's ids
    os.register_at_fork(after_in_child=_reseed)


class UniqueIdGenerator(IdGenerator):
    """OTel id generator independent of the global `random` state (and of fork).

    Example:
        >>> from opentelemetry.sdk.trace import TracerProvider
        >>> provider = TracerProvider(id_generator=UniqueIdGenerator())
    """

    def generate_span_id(self) -> int:
        span_id = _rng.getrandbits(64)
        while span_id == INVALID_SPAN_ID:
            span_id = _rng.getrandbits(64)
        return span_id

    def generate_trace_id(self) -> int:
        trace_id = _rng.getrandbits(128)
        while trace_id == INVALID_TRACE_ID:
            trace_id = _rng.getrandbits(128)
        return trace_id


def mlflow_trace_id(otel_trace_id: int) -> str:
    """The MLflow trace id (``tr-<32 hex>``) of an OpenTelemetry trace id.

    Example:
        >>> mlflow_trace_id(255)
        'tr-000000000000000000000000000000ff'
    """
    return f"tr-{otel_trace_id:032x}"
