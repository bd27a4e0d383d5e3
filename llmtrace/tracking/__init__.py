"""The classic MLflow verbs: runs, params, metrics, tags, artifacts, models, trace read-back.

`_tracking` (runs, params, metrics, tags, the MLflow client), `_artifacts`, `_models`
(log/load/register models, autolog) and `_read` (`get_trace`, `search_traces`). The public names
are re-exported by `llmtrace`.
"""
