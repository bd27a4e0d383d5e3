"""`Pacer`: background work in the traced program that gives the GIL back every slice.

CPython takes the GIL from a busy thread only after the switch interval (5 ms): a traced
program's thread that comes back from I/O while llmtrace's export thread enriches or encodes a
batch waits that long, several times per trace. Background loops call their `Pacer` once per
item; every `SLICE_S` of work it releases the GIL (``time.sleep(0)``), so a waiting thread takes
it after one slice. The program's own settings (switch interval, GC) are never touched.
"""

from __future__ import annotations

from time import perf_counter, sleep

SLICE_S = 0.0002
"""Longest stretch of background work between two releases of the GIL (about four spans'
worth of per-span cost of an OpenTelemetry SDK span)."""


class Pacer:
    """Call once per item of a background loop; releases the GIL once per `SLICE_S` of work.

    Example:
        >>> pace = Pacer()
        >>> for span in batch:
        ...     pace()
        ...     prepare(span)
    """

    __slots__ = ("_since", "_slice")

    def __init__(self, slice_s: float = SLICE_S) -> None:
        self._slice = slice_s
        self._since = perf_counter()

    def __call__(self) -> None:
        if perf_counter() - self._since >= self._slice:
            sleep(0)  # releases the GIL: a waiting thread of the program runs now
            self._since = perf_counter()
