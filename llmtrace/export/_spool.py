"""The on-disk spool: OTLP batches a tracking server could not take, kept until it answers.

One file per batch, named ``<time_ns>-<pid>-<seq>.otlp`` so names sort oldest first. A file is
``MAGIC``, a 4-byte header length, a JSON header (tracking URI, experiment name, span count)
and the exact OTLP/protobuf body (an ``ExportTraceServiceRequest``) that would have been POSTed
to ``/v1/traces``. Files are written to a ``.tmp`` name, fsynced and renamed, so a crash never
leaves a half-written batch under a name that is replayed. A process sending a batch first
renames it to ``….<pid>.sending``: two processes sharing a spool never send the same file
twice, and a batch claimed by a process that died is put back at the next startup scan.
When the server refuses some traces of a batch, only those are kept aside, in a ``….bad``
file of the same format (`Spool.set_aside`); what was not sent yet goes back (`Spool.release`).

The spool is touched only from the export thread (and `flush`); it never blocks the caller.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

logger = logging.getLogger("llmtrace")

MAGIC = b"LLMTSPOOL1\n"
SUFFIX = ".otlp"
_SENDING = ".sending"
_LEN = struct.Struct("!I")


class SpoolFullError(OSError):
    """The spool holds ``max_bytes`` already; the batch is not written (like a full disk)."""


@dataclass(frozen=True)
class SpooledBatch:
    """One spooled batch, claimed for sending (see `Spool.claim_oldest`)."""

    path: Path
    """The claimed file (``….sending``)."""
    original: Path
    """Its name in the spool, to put it back if sending fails."""
    experiment: str | None
    """The experiment name the batch was meant for (None: MLflow's ``Default``)."""
    spans: int
    """How many spans the batch holds."""
    body: bytes
    """The OTLP/protobuf request body."""


class Spool:
    """A folder of OTLP batches for one tracking URI, replayed oldest first.

    Example:
        >>> spool = Spool("/var/spool/llmtrace", "http://mlflow:5000", max_bytes=2**30)
        >>> spool.put(body, experiment="rag-app", spans=12)
        >>> batch = spool.claim_oldest()       # then send batch.body, and
        >>> spool.done(batch)                  # or spool.release(batch) if sending failed
    """

    def __init__(self, folder: str | os.PathLike[str], tracking_uri: str, max_bytes: int) -> None:
        self.folder = Path(folder)
        self.tracking_uri = tracking_uri
        self.max_bytes = max_bytes
        self._seq = count()
        self._lock = threading.Lock()
        self._files: deque[tuple[Path, int, int]] = deque()  # (path, spans, bytes), oldest first
        self._bytes = 0
        self._scanned = False

    # -- writing ---------------------------------------------------------------------------
    def put(self, body: bytes, experiment: str | None, spans: int) -> Path:
        """Write one batch atomically (tmp file, fsync, rename); returns its path."""
        self._scan()
        header = {
            "tracking_uri": self.tracking_uri,
            "experiment": experiment,
            "spans": spans,
            "pid": os.getpid(),
            "created": time.time(),
        }
        data = _encode(header, body)
        with self._lock:
            if self._bytes + len(data) > self.max_bytes:
                raise SpoolFullError(
                    f"spool {self.folder} is full ({self._bytes} of {self.max_bytes} bytes)"
                )
            self.folder.mkdir(parents=True, exist_ok=True)
            name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._seq):06d}"
            final = self.folder / f"{name}{SUFFIX}"
            _write_atomically(final, data)
            self._files.append((final, spans, len(data)))
            self._bytes += len(data)
        return final

    # -- reading ---------------------------------------------------------------------------
    def pending_spans(self) -> int:
        """Spans in the batches this process knows are waiting (its own and those found at
        startup)."""
        with self._lock:
            return sum(spans for _, spans, _ in self._files)

    def has_pending(self) -> bool:
        """Whether a batch is waiting (scans the folder on first use)."""
        self._scan()
        return bool(self._files)

    def claim_oldest(self) -> SpooledBatch | None:
        """Take the oldest waiting batch for sending; None when there is none.

        A file that cannot be read as a batch is renamed ``….bad`` and skipped (logged).
        """
        self._scan()
        while True:
            with self._lock:
                if not self._files:
                    return None
                path, spans, size = self._files.popleft()
                self._bytes -= size
            claimed = path.with_name(f"{path.name}.{os.getpid()}{_SENDING}")
            try:
                os.rename(path, claimed)  # atomic: another process may have taken it
            except FileNotFoundError:
                continue
            try:
                header, body = _read(claimed)
            except (OSError, ValueError) as exc:
                _quarantine(claimed, path, exc)
                continue
            return SpooledBatch(
                claimed, path, header.get("experiment"), int(header.get("spans", spans)), body
            )

    def done(self, batch: SpooledBatch) -> None:
        """The batch was sent: delete it."""
        try:
            batch.path.unlink()
        except FileNotFoundError:
            pass

    def release(
        self, batch: SpooledBatch, body: bytes | None = None, spans: int | None = None
    ) -> None:
        """Sending failed: put the batch back first in line. With ``body``, only that is put
        back (the ``spans`` of the batch not sent yet), written as atomically as `put`."""
        if body is not None:
            header = _read(batch.path, header_only=True)[0]
            header["spans"] = spans
            _write_atomically(batch.path, _encode(header, body))
        os.rename(batch.path, batch.original)
        size = batch.original.stat().st_size
        count = batch.spans if spans is None else spans
        with self._lock:
            self._files.appendleft((batch.original, count, size))
            self._bytes += size

    def set_aside(self, batch: SpooledBatch, body: bytes, spans: int, why: str) -> None:
        """Keep ``body`` (the ``spans`` of the batch the server refused) aside as ``….bad``;
        the claimed batch itself stays claimed, for `done` or `release`."""
        bad = batch.original.with_name(batch.original.name + ".bad")
        try:
            header = _read(batch.path, header_only=True)[0]
            header.update(spans=spans, why=why[:1000])
            _write_atomically(bad, _encode(header, body))
        except (OSError, ValueError) as exc:
            logger.warning("llmtrace: could not set aside %d refused spans: %s", spans, exc)
            return
        logger.warning(
            "llmtrace: %d spans of spooled batch %s refused by the server, set aside as %s: %s",
            spans,
            batch.original.name,
            bad.name,
            why,
        )

    def forget(self) -> None:
        """In a forked child: the parent's batches are the parent's to send."""
        self._lock = threading.Lock()
        with self._lock:
            self._files.clear()
            self._bytes = 0
            self._scanned = True

    # -- startup scan ----------------------------------------------------------------------
    def _scan(self) -> None:
        """Once: find batches for our tracking URI left by earlier (or dead) processes."""
        if self._scanned:
            return
        with self._lock:
            if self._scanned:
                return
            self._scanned = True
            if not self.folder.is_dir():
                return
            for claimed in self.folder.glob(f"*{SUFFIX}.*{_SENDING}"):
                pid = claimed.name[: -len(_SENDING)].rsplit(".", 1)[-1]
                if pid.isdigit() and not _alive(int(pid)):  # its sender died mid-send
                    try:
                        os.rename(claimed, claimed.with_name(claimed.name.split(".")[0] + SUFFIX))
                    except OSError:
                        pass
            found: list[tuple[Path, int, int]] = []
            for path in sorted(self.folder.glob(f"*{SUFFIX}")):
                try:
                    header, _ = _read(path, header_only=True)
                except (OSError, ValueError):
                    found.append((path, 0, 0))  # claim_oldest quarantines it
                    continue
                if header.get("tracking_uri") != self.tracking_uri:
                    continue  # another server's batch: not ours to send
                found.append((path, int(header.get("spans", 0)), path.stat().st_size))
            known = {p for p, _, _ in self._files}
            merged = sorted([f for f in found if f[0] not in known] + list(self._files))
            self._files = deque(merged)
            self._bytes = sum(size for _, _, size in merged)
            if found:
                logger.info(
                    "llmtrace: %d spooled batches found in %s; replaying them",
                    len(found),
                    self.folder,
                )


def _encode(header: dict[str, Any], body: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return MAGIC + _LEN.pack(len(raw)) + raw + body


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a hidden ``.tmp`` name, fsync, rename onto ``path``, fsync the folder."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _read(path: Path, header_only: bool = False) -> tuple[dict[str, Any], bytes]:
    with open(path, "rb") as handle:
        if handle.read(len(MAGIC)) != MAGIC:
            raise ValueError(f"{path.name} is not an llmtrace spool file")
        raw_len = handle.read(_LEN.size)
        if len(raw_len) != _LEN.size:
            raise ValueError(f"{path.name} is truncated")
        (size,) = _LEN.unpack(raw_len)
        raw = handle.read(size)
        if len(raw) != size:
            raise ValueError(f"{path.name} is truncated")
        header = json.loads(raw)
        if not isinstance(header, dict):
            raise ValueError(f"{path.name} has no header")
        return header, (b"" if header_only else handle.read())


def _quarantine(current: Path, original: Path, why: object) -> None:
    bad = original.with_name(original.name + ".bad")
    try:
        os.rename(current, bad)
    except OSError:
        pass
    logger.warning("llmtrace: spooled batch %s set aside as %s: %s", original.name, bad.name, why)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # a claim under our own pid at startup is a leftover of a previous life
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
