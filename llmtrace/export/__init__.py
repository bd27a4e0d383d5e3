"""How a span travels to a store; knows nothing of the layers above it.

Reading order: `_processor` (bounded queue, two background threads, exact counters) hands
batches to the exporters; `_exporter_mlflow` stores them in MLflow — locally through
`_sql_bulk` (bulk rows through MLflow's own SQLAlchemy models) or MLflow's ``log_spans``, in a
separate process (`_export_process` → `_export_worker` over `_wire`) — or over HTTP
(`_exporter_http`, `_http`) to a tracking server, with an on-disk `_spool` while it is away.
`_isolate` splits a batch the store refuses until the bad trace is alone (the rest is stored),
`_dupes` refuses a trace id the store already holds with another root, and `_quiet` keeps a
failing store's logging to a rate-limited summary in the export process. `_store_setup`
opens a store once per file, `_runlink` and `_promptlink` link stored traces to MLflow runs and
prompt versions. What a span carries is prepared by the tracing layer; the runtime wires the
two together.
"""
