"""The HTTP half of `MlflowSpanExporter`: OTLP POSTs to an MLflow server, and its spool.

``export`` sends a batch; while the server is away (or was, moments ago: `_pause`), batches go
to the on-disk `_spool.Spool` instead, and are replayed oldest first once it answers, from
``export`` itself or the processor's idle ``poll``. A batch the server refuses (HTTP 4xx other
than 408/429), live or on replay, is split until each refused trace is alone
(`_isolate.write_isolated`): only those are set aside (``….bad``) and counted failed.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ._http import (
    EXPERIMENT_HEADER,
    OTLP_PATH,
    auth_headers,
    body_of,
    otlp_body,
    raise_for_status,
    spans_from_body,
    traces_of_body,
)
from ._isolate import Group, describe, flatten, retryable, write_isolated
from ._promptlink import link_stored
from ._runlink import http_linker, link_to_runs
from ._spool import Spool

logger = logging.getLogger("llmtrace")

PROBE_MIN_S, PROBE_MAX_S = 0.5, 5.0  # while spooling: wait before asking the server again
REPLAY_BUDGET_S = 2.0  # spooled batches replayed per export or idle tick, at most this long


class HttpSide:
    """What `MlflowSpanExporter` does for an ``http(s)://`` tracking URI (a mixin: the
    exporter holds the state, this class the code)."""

    tracking_uri: str
    experiment: str | None
    timeout_s: float
    last_error: str | None
    spooled: int
    replayed: int
    refused: int
    _spool: Spool | None
    _spool_lock: threading.Lock
    _paused_until: float
    _failures: int
    _experiment_ids: dict[str | None, str]
    _http: Any

    def experiment_id(self) -> str:
        raise NotImplementedError

    def _with_retries(self, call: Any, *args: Any) -> Any:
        raise NotImplementedError

    def _local_store(self) -> Any:
        raise NotImplementedError

    def _session(self) -> Any:
        if self._http is None:
            import requests

            self._http = requests.Session()
            self._http.headers.update(auth_headers())
        return self._http

    def _http_experiment_id(self) -> str:
        return self._http_experiment_id_of(self.experiment)

    def _http_experiment_id_of(self, experiment: str | None) -> str:
        if experiment in self._experiment_ids:
            return self._experiment_ids[experiment]
        found = self._http_lookup(experiment)
        self._experiment_ids[experiment] = found
        return found

    def _http_lookup(self, experiment: str | None) -> str:
        base = self.tracking_uri.rstrip("/") + "/api/2.0/mlflow/experiments"
        name = experiment or "Default"
        http = self._session()
        got = http.get(
            f"{base}/get-by-name", params={"experiment_name": name}, timeout=self.timeout_s
        )
        if got.status_code == 200:
            return str(got.json()["experiment"]["experiment_id"])
        if got.status_code != 404:
            raise_for_status(got)
        made = http.post(f"{base}/create", json={"name": name}, timeout=self.timeout_s)
        if made.status_code == 200:
            return str(made.json()["experiment_id"])
        again = http.get(  # created meanwhile by another process
            f"{base}/get-by-name", params={"experiment_name": name}, timeout=self.timeout_s
        )
        raise_for_status(again)
        return str(again.json()["experiment"]["experiment_id"])

    # -- HTTP with a spool -----------------------------------------------------------------
    def _export_or_spool(self, groups: list[Group]) -> list[tuple[Group, str]]:
        """Send, or spool when the server is (or just was) unreachable; FIFO across both.
        Returns the traces that failed."""
        assert self._spool is not None
        with self._spool_lock:
            self._replay(time.monotonic() + REPLAY_BUDGET_S)
            if not groups:
                return []
            if self._paused() or self._spool.has_pending():
                return self._to_spool(groups)
            try:
                experiment_id = self.experiment_id()
            except Exception as exc:
                self.last_error = describe(exc)
                if not retryable(exc):
                    return [(g, self.last_error) for g in groups]
                self._pause(exc)
                return self._to_spool(groups)
            outcome = write_isolated(
                groups, lambda part: self._with_retries(self._post, experiment_id, part)
            )
            if outcome.error is None or not retryable(outcome.error):
                self._failures = 0
                return outcome.lost()
            self.last_error = describe(outcome.error)
            self._pause(outcome.error)
            return outcome.failed + self._to_spool(outcome.rest)

    def _to_spool(self, groups: list[Group]) -> list[tuple[Group, str]]:
        spool = self._spool
        assert spool is not None

        def put(part: list[Any]) -> None:
            spool.put(otlp_body(part), self.experiment, len(part))

        outcome = write_isolated(groups, put)
        lost = outcome.spans_failed() + outcome.spans_left()
        self.spooled += sum(len(g) for g in groups) - lost
        if outcome.error is not None:
            why = f"could not spool {outcome.spans_left()} spans: {describe(outcome.error)}"
            return outcome.failed + [(g, why) for g in outcome.rest]
        return outcome.failed

    def _paused(self) -> bool:
        return time.monotonic() < self._paused_until

    def _pause(self, exc: BaseException) -> None:
        """Stop asking the server for a while (doubling), or as long as its Retry-After says."""
        self._failures += 1
        wait = min(PROBE_MAX_S, PROBE_MIN_S * 2 ** (self._failures - 1))
        hint = getattr(exc, "retry_after", None)
        if hint is not None:
            wait = max(wait, min(hint, 300.0))
        self._paused_until = time.monotonic() + wait

    def _replay(self, deadline: float) -> None:
        """Send spooled batches, oldest first, until the spool is empty, the server fails
        again or ``deadline`` passes. One attempt each: the spool itself is the retry. A
        batch the server refuses is split: only the traces it refuses alone are set aside
        (counted failed); the others are stored."""
        spool = self._spool
        assert spool is not None
        while not self._paused() and time.monotonic() < deadline:
            batch = spool.claim_oldest()
            if batch is None:
                return
            try:
                experiment_id = self._http_experiment_id_of(batch.experiment)
            except Exception as exc:
                self.last_error = f"replay: {describe(exc)}"
                spool.release(batch)
                self._pause(exc)
                return
            try:
                groups = traces_of_body(batch.body)
            except Exception as exc:  # not OTLP: nothing in it can be sent
                self.last_error = f"replay: {describe(exc)}"
                spool.set_aside(batch, batch.body, batch.spans, self.last_error)
                self.refused += batch.spans
                continue
            outcome = write_isolated(
                groups, lambda part, eid=experiment_id: self._send(eid, body_of(part), None)
            )
            if outcome.failed:
                self.last_error = f"replay: {outcome.failed[-1][1]}"
                refused = flatten(g for g, _ in outcome.failed)
                spool.set_aside(batch, body_of(refused), len(refused), self.last_error)
                self.refused += len(refused)
            self.replayed += len(flatten(groups)) - outcome.spans_failed() - outcome.spans_left()
            if outcome.error is None:
                spool.done(batch)
                self._failures = 0
                continue
            self.last_error = f"replay: {describe(outcome.error)}"
            if len(outcome.rest) == len(groups):
                spool.release(batch)  # untouched: put back as it was
            else:
                rest = flatten(outcome.rest)
                spool.release(batch, body_of(rest), len(rest))
            self._pause(outcome.error)
            return

    def poll(self) -> None:
        """Called by the processor on the export thread when idle: replay spooled batches."""
        if self._spool is None or not self._spool_lock.acquire(blocking=False):
            return
        try:
            if self._spool.has_pending():
                self._replay(time.monotonic() + REPLAY_BUDGET_S)
        finally:
            self._spool_lock.release()

    # -- HTTP ------------------------------------------------------------------------------
    def _post(self, experiment_id: str, spans: list[Any]) -> None:
        self._send(experiment_id, otlp_body(spans), spans)

    def _send(self, experiment_id: str, body: bytes, spans: list[Any] | None) -> None:
        """POST ``body``; then link its traces to runs and prompts (``spans``: the MLflow
        spans of the body, read back from it when None)."""
        response = self._session().post(
            self.tracking_uri.rstrip("/") + OTLP_PATH,
            data=body,
            headers={"Content-Type": "application/x-protobuf", EXPERIMENT_HEADER: experiment_id},
            timeout=self.timeout_s,
        )
        raise_for_status(response)
        try:
            if spans is None:
                spans = spans_from_body(body, experiment_id)
        except Exception as exc:  # stored already: only the links are lost
            logger.debug("llmtrace: no run or prompt links for a replayed batch: %r", exc)
            return
        link_to_runs(spans, http_linker(self._session(), self.tracking_uri, self.timeout_s))
        link_stored(spans, self._local_store)
