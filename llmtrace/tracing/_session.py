"""`session()`: group the traces of one conversation (MLflow trace session and user)."""

from __future__ import annotations

import contextvars
from typing import Any

from .. import _semconv as sc
from .._errors import LLMTraceError


class SessionInfo:
    """The session in force: its id, user and extra tags, as root-span attributes."""

    __slots__ = ("attributes", "session_id", "tags", "user")

    def __init__(self, session_id: str, user: str | None, tags: dict[str, str]) -> None:
        self.session_id = session_id
        self.user = user
        self.tags = tags
        attrs: dict[str, str] = {sc.SESSION_ID: session_id}
        if user is not None:
            attrs[sc.USER_ID] = user
        for key, value in tags.items():
            attrs[sc.MLFLOW_TRACE_TAG_PREFIX + key] = value
        self.attributes = attrs


_current: contextvars.ContextVar[SessionInfo | None] = contextvars.ContextVar(
    "llmtrace_session", default=None
)


def current_session() -> SessionInfo | None:
    """The session of the current thread/task, or None."""
    return _current.get()


def set_current_session(info: SessionInfo | None) -> contextvars.Token[SessionInfo | None]:
    """Put ``info`` in force for this thread/task (None: no session); undo with the token."""
    return _current.set(info)


def reset_current_session(token: contextvars.Token[SessionInfo | None]) -> None:
    """Undo `set_current_session` (the session in force before it comes back)."""
    _current.reset(token)


class session:
    """Stamp every trace begun inside the block with a session id (and user, and tags).

    MLflow shows them as the trace's session (``mlflow.trace.session``) and user
    (``mlflow.trace.user``); extra keyword arguments become trace tags. Nested sessions
    override the outer one; the context follows asyncio tasks and threads started with
    `ContextThreadPoolExecutor`. Usable as ``with`` and ``async with``.

    Example:
        >>> with llmtrace.session("conv-42", user="alice", channel="web"):
        ...     answer("hello")
    """

    def __init__(self, session_id: str, user: str | None = None, **tags: Any) -> None:
        if not isinstance(session_id, str) or not session_id.strip():
            raise LLMTraceError(f"session_id must be a non-empty string, got {session_id!r}")
        if len(session_id) > 250:
            raise LLMTraceError("session_id must be at most 250 characters")
        if user is not None and not isinstance(user, str):
            raise LLMTraceError(f"user must be a string or None, got {type(user).__name__}")
        self.info = SessionInfo(session_id, user, {str(k): str(v) for k, v in tags.items()})
        self._tokens: list[contextvars.Token[SessionInfo | None]] = []

    def __enter__(self) -> SessionInfo:
        self._tokens.append(_current.set(self.info))
        return self.info

    def __exit__(self, *exc: object) -> None:
        _current.reset(self._tokens.pop())

    async def __aenter__(self) -> SessionInfo:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)
