"""`Pacer`: background work in the traced program that gives the GIL back every slice.

CPython takes the GIL from a busy thread only after the switch interval (5 ms): a traced
program's thread that comes back from I/O while llmtrace's export thread enriches or encodes a
batch waits that long, several times per trace. Background loops call their `Pacer` once per
item; every `SLICE_S` of work it releases the GIL (``time.sleep(0)``), so a waiting thread takes
it after one slice. The program's own settings (switch interval, GC) are never touched.

Each release also tells what the program did meanwhile (the CPU time its other threads used,
``process_time() - thread_time()``), and the next slice follows:

- a release that waited `BUSY_WAIT_S` or more: the program computes without pause (a tight loop
  of traced calls) and keeps the GIL a whole switch interval each time it gets it. Short slices
  would leave the export thread ~4 % of the GIL, spans would pile up in the queue and the export
  process idle until the loop ends: the slice doubles, up to the switch interval (CPython's own
  share between two busy threads);
- nobody else ran (less than `ALONE_CPU_S`): the program sleeps, waits on a lock or has ended
  its loop and waits for the flush. A release costs ~0.1 ms of wall time here (the kernel's
  timer slack), a third of each short slice: the slice doubles up to `ALONE_SLICE_S`;
- a program thread ran briefly and gave the GIL back (it serves requests and waits on I/O):
  back to `SLICE_S` at once, so its next return waits one short slice at most.
"""

from __future__ import annotations

import sys
from time import perf_counter, process_time, sleep, thread_time

SLICE_S = 0.0002
"""Longest stretch of background work between two releases of the GIL (about four spans'
worth of per-span cost of an OpenTelemetry SDK span)."""

BUSY_WAIT_S = 0.002
"""A release that waited this long for the GIL back: the program's thread was computing (it held
the GIL for most of a switch interval), not waiting on I/O."""

ALONE_CPU_S = 0.00002
"""Less CPU time than this used by the program's other threads during a release: nobody ran."""

ALONE_SLICE_S = 0.001
"""Longest slice while nobody else runs: what a program thread that wakes up then waits at most."""


class Pacer:
    """Call once per item of a background loop; releases the GIL once per slice of work.

    Example:
        >>> pace = Pacer()
        >>> for span in batch:
        ...     pace()
        ...     prepare(span)
    """

    __slots__ = ("_alone", "_base", "_longest", "_since", "_slice")

    def __init__(self, slice_s: float = SLICE_S, alone_s: float = ALONE_SLICE_S) -> None:
        self._base = self._slice = slice_s
        self._alone = max(slice_s, alone_s)
        self._longest = max(slice_s, sys.getswitchinterval())
        self._since = perf_counter()

    def __call__(self) -> None:
        now = perf_counter()
        if now - self._since < self._slice:
            return
        others = process_time() - thread_time()
        sleep(0)  # releases the GIL: a waiting thread of the program runs now
        others = process_time() - thread_time() - others
        self._since = perf_counter()
        if self._since - now >= BUSY_WAIT_S:  # it computed all along: share the GIL
            self._slice = min(self._slice * 2, self._longest)
        elif others < ALONE_CPU_S:  # nobody waited for the GIL: fewer, costly releases
            self._slice = min(self._slice * 2, self._alone)
        else:  # a thread ran briefly and went back to I/O: it may come back any moment
            self._slice = self._base
