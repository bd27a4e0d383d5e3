"""`Pacer`: background work in the traced program that gives the GIL back every slice.

CPython takes the GIL from a busy thread only after the switch interval (5 ms): a traced
program's thread that comes back from I/O while llmtrace's export thread enriches or encodes a
batch waits that long, several times per trace. Background loops call their `Pacer` once per
item; every `SLICE_S` of work it releases the GIL (``time.sleep(0)``), so a waiting thread takes
it after one slice. The program's own settings (switch interval, GC) are never touched.

A program thread that computes without pause (a tight loop of traced calls) keeps the GIL a
whole switch interval each time it gets it: short slices then leave the export thread ~4 % of
the GIL, spans pile up in the queue and the export process idles until the loop ends. When a
release waited that long, the slice doubles, up to the switch interval (CPython's own share
between two busy threads); the first release that comes back sooner (the program waits on I/O
again) brings it back to `SLICE_S`.
"""

from __future__ import annotations

import sys
from time import perf_counter, sleep

SLICE_S = 0.0002
"""Longest stretch of background work between two releases of the GIL (about four spans'
worth of per-span cost of an OpenTelemetry SDK span)."""


BUSY_WAIT_S = 0.002
"""A release that waited this long for the GIL back: the program's thread was computing (it held
the GIL for most of a switch interval), not waiting on I/O."""


class Pacer:
    """Call once per item of a background loop; releases the GIL once per `SLICE_S` of work.

    Example:
        >>> pace = Pacer()
        >>> for span in batch:
        ...     pace()
        ...     prepare(span)
    """

    __slots__ = ("_base", "_longest", "_since", "_slice")

    def __init__(self, slice_s: float = SLICE_S) -> None:
        self._base = self._slice = slice_s
        self._longest = max(slice_s, sys.getswitchinterval())
        self._since = perf_counter()

    def __call__(self) -> None:
        now = perf_counter()
        if now - self._since >= self._slice:
            sleep(0)  # releases the GIL: a waiting thread of the program runs now
            self._since = perf_counter()
            if self._since - now >= BUSY_WAIT_S:  # it computed all along: share the GIL
                self._slice = min(self._slice * 2, self._longest)
            else:
                self._slice = self._base
