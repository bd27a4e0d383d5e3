"""The judge's persistent cache: one SQLite file, safe across threads and processes.

A judge reply is stored under the SHA-256 of everything that decides it (model, messages,
parameters, prompt id and version, schema), so a rerun of an unchanged row makes no API call.
The file uses WAL journaling and a busy timeout, so several threads and several processes (for
example two ``evaluate`` runs side by side) can read and write it at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["JudgeCache", "cache_key", "default_cache_path"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS judge_cache ("
    " key TEXT PRIMARY KEY,"
    " value TEXT NOT NULL,"
    " created REAL NOT NULL)"
)
#: Bumped when the meaning of a cached value changes, so old entries are never misread.
_KEY_VERSION = 1


def default_cache_path() -> Path:
    """``$LLMTRACE_JUDGE_CACHE`` if set, else ``.llmtrace/judge_cache.sqlite`` in the cwd.

    Example:
        >>> default_cache_path()
        PosixPath('/my/project/.llmtrace/judge_cache.sqlite')
    """
    env = os.environ.get("LLMTRACE_JUDGE_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.cwd() / ".llmtrace" / "judge_cache.sqlite"


def cache_key(parts: dict[str, Any]) -> str:
    """SHA-256 (hex) of ``parts`` as canonical JSON (sorted keys, no spaces).

    Example:
        >>> cache_key({"model": "gpt-4o-mini", "messages": [...]})
        '5f2c…'
    """
    text = json.dumps(
        {"_v": _KEY_VERSION, **parts},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class JudgeCache:
    """A key → JSON value store in one SQLite file, opened on first use.

    One connection per process, guarded by a lock (a process forked after use opens its own);
    other processes are kept consistent by SQLite itself (WAL, busy timeout).

    Example:
        >>> cache = JudgeCache("/tmp/judge.sqlite")
        >>> cache.put("k", {"data": {"score": 1}})
        >>> cache.get("k")
        {'data': {'score': 1}}
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self._busy_timeout_s = busy_timeout_s
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0

    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path,
            timeout=self._busy_timeout_s,
            isolation_level=None,  # autocommit: each put is its own short transaction
            check_same_thread=False,
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(_SCHEMA)
        self._conn, self._pid = conn, os.getpid()
        return conn

    def get(self, key: str) -> Any | None:
        """The value stored under ``key``, or None."""
        with self._lock:
            row = (
                self._connection()
                .execute("SELECT value FROM judge_cache WHERE key = ?", (key,))
                .fetchone()
            )
        return None if row is None else json.loads(row[0])

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON-able) under ``key``, replacing any older value."""
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            self._connection().execute(
                "INSERT OR REPLACE INTO judge_cache (key, value, created) VALUES (?, ?, ?)",
                (key, text, time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._connection().execute("SELECT COUNT(*) FROM judge_cache").fetchone()
        return int(count)

    def close(self) -> None:
        """Close the connection (it reopens on next use)."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None
