"""What `llmtrace report` shows besides the monitor figures: users, evaluation runs, watch scores.

- sessions per user: distinct ``session_id`` and traces per ``mlflow.trace.user``;
- evaluation runs: the newest runs tagged ``llmtrace.evaluation`` and their ``<metric>/mean``;
- continuously scored traces: feedback written by `evals.watch` (metadata key
  `llmtrace.semconv.LLMTRACE_WATCH`), the mean of each score per time bucket of the traces'
  start, numbers as they are and booleans/yes/no as 1 and 0 (MLflow's ``aggregate_value``).

On a checked SQLite store all three are SQL on the read-only connection of `_monitor_sql`;
elsewhere MLflow's client reads them (`tests/views/test_report.py` compares both).
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from .. import _semconv as sc
from ._store import Store

MAX_RUNS = 10


@dataclass(frozen=True)
class UserSessions:
    """One user's sessions and traces in the window."""

    user: str
    sessions: int
    traces: int


@dataclass(frozen=True)
class EvalRun:
    """An evaluation run and the mean of each of its metrics."""

    run_id: str
    name: str
    start_ms: int
    means: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ScorePoint:
    """The mean of one watched score over the traces of one time bucket."""

    bucket_ms: int
    name: str
    n: int
    mean: float


@dataclass(frozen=True)
class Extras:
    """Users, evaluation runs and watched scores of a report's window."""

    users: list[UserSessions]
    runs: list[EvalRun]
    scores: list[ScorePoint]


_RUNS_NEEDED = {
    "runs": {"run_uuid", "name", "experiment_id", "start_time", "lifecycle_stage"},
    "tags": {"key", "value", "run_uuid"},
    "latest_metrics": {"key", "value", "run_uuid"},
    "assessments": {
        "trace_id", "name", "assessment_type", "experiment_id", "trace_timestamp_ms",
        "aggregate_value", "valid", "assessment_metadata",
    },
}  # fmt: skip

_USERS = """
SELECT m.value, COUNT(DISTINCT t.session_id), COUNT(*)
FROM trace_info t
JOIN trace_request_metadata m ON m.request_id = t.request_id AND m.key = 'mlflow.trace.user'
WHERE t.experiment_id = :exp AND t.timestamp_ms >= :since AND t.timestamp_ms < :until
GROUP BY m.value
"""

_RUNS = """
WITH recent AS (
  SELECT r.run_uuid, r.name, r.start_time FROM runs r
  JOIN tags g ON g.run_uuid = r.run_uuid AND g.key = :tag AND g.value = 'true'
  WHERE r.experiment_id = :exp AND r.lifecycle_stage = 'active'
  ORDER BY r.start_time DESC, r.run_uuid LIMIT :limit
)
SELECT recent.run_uuid, recent.name, recent.start_time, lm.key, lm.value
FROM recent LEFT JOIN latest_metrics lm
  ON lm.run_uuid = recent.run_uuid AND lm.key LIKE '%/mean'
"""

_SCORES = """
SELECT a.trace_timestamp_ms - a.trace_timestamp_ms % :every, a.name, COUNT(*),
       AVG(a.aggregate_value)
FROM assessments a
WHERE a.experiment_id = :exp AND a.trace_timestamp_ms >= :since AND a.trace_timestamp_ms < :until
  AND a.assessment_type = 'feedback' AND a.valid AND a.aggregate_value IS NOT NULL
  AND json_extract(a.assessment_metadata, :watch) IS NOT NULL
GROUP BY 1, 2
"""


def _sorted(users: list[UserSessions], runs: list[EvalRun], scores: list[ScorePoint]) -> Extras:
    return Extras(
        sorted(users, key=lambda u: (-u.sessions, -u.traces, u.user)),
        sorted(runs, key=lambda r: (-r.start_ms, r.run_id)),
        sorted(scores, key=lambda s: (s.bucket_ms, s.name)),
    )


def sql_available(conn: sqlite3.Connection) -> bool:
    """True when the file has the run and assessment columns read here."""
    for table, columns in _RUNS_NEEDED.items():
        found = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if not columns <= found:
            return False
    return True


def sql_extras(
    conn: sqlite3.Connection, exp_id: int, *, since_ms: int, until_ms: int, every_ms: int
) -> Extras:
    """`Extras` computed by SQLite."""
    window = {"exp": exp_id, "since": since_ms, "until": until_ms}
    users = [UserSessions(str(u), int(s), int(t)) for u, s, t in conn.execute(_USERS, window)]
    runs: dict[str, EvalRun] = {}
    params = {"exp": exp_id, "tag": sc.LLMTRACE_EVALUATION, "limit": MAX_RUNS}
    for run_id, name, start, key, value in conn.execute(_RUNS, params):
        run = runs.setdefault(run_id, EvalRun(run_id, name or run_id, int(start or 0)))
        if key is not None:
            run.means[key.removesuffix("/mean")] = float(value)
    score_params = {**window, "every": every_ms, "watch": f'$."{sc.LLMTRACE_WATCH}"'}
    scores = [
        ScorePoint(int(b), str(n), int(c), float(m))
        for b, n, c, m in conn.execute(_SCORES, score_params)
    ]
    return _sorted(users, list(runs.values()), scores)


def _aggregate_value(value: Any) -> float | None:
    """MLflow's ``assessment_aggregate``: booleans and yes/no as 1/0, finite numbers as such."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str) and value.strip().lower() in ("yes", "no"):
        return 1.0 if value.strip().lower() == "yes" else 0.0
    return None


def client_extras(
    store: Store, traces: list[Any], *, since_ms: int, until_ms: int, every_ms: int
) -> Extras:
    """`Extras` through MLflow's client (``traces``: the window's traces, spans not needed)."""
    sessions: dict[str, set[str]] = defaultdict(set)
    counts: dict[str, int] = defaultdict(int)
    scored: dict[tuple[int, str], list[float]] = defaultdict(list)
    for trace in traces:
        info = trace.info
        user = info.trace_metadata.get(sc.MLFLOW_TRACE_USER)
        if user is not None:
            counts[user] += 1
            if (session := info.trace_metadata.get(sc.MLFLOW_TRACE_SESSION)) is not None:
                sessions[user].add(session)
        bucket = info.timestamp_ms - info.timestamp_ms % every_ms
        for assessment in info.assessments or []:
            feedback = getattr(assessment, "feedback", None)
            metadata = assessment.metadata or {}
            if feedback is None or not assessment.valid or sc.LLMTRACE_WATCH not in metadata:
                continue
            value = _aggregate_value(feedback.value)
            if value is not None:
                scored[(bucket, assessment.name)].append(value)
    users = [UserSessions(u, len(sessions[u]), n) for u, n in counts.items()]
    scores = [ScorePoint(b, name, len(v), sum(v) / len(v)) for (b, name), v in scored.items()]
    client = store.client()
    found = client.search_runs(
        [store.experiment_id()],
        filter_string=f"tags.`{sc.LLMTRACE_EVALUATION}` = 'true'",
        order_by=["start_time DESC"],
        max_results=MAX_RUNS,
    )
    runs = [
        EvalRun(
            r.info.run_id,
            r.info.run_name or r.info.run_id,
            int(r.info.start_time or 0),
            {
                k.removesuffix("/mean"): float(v)
                for k, v in r.data.metrics.items()
                if k.endswith("/mean")
            },
        )
        for r in found
    ]
    return _sorted(users, runs, scores)


def to_json(extras: Extras) -> dict[str, Any]:
    """Plain data for the report's embedded JSON."""
    return json.loads(
        json.dumps(
            {
                "users": [u.__dict__ for u in extras.users],
                "runs": [r.__dict__ for r in extras.runs],
                "scores": [{**s.__dict__, "mean": round(s.mean, 12)} for s in extras.scores],
            }
        )
    )
