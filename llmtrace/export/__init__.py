"""How a span travels to a store; knows nothing of the layers above it.

Reading order: `_processor` (bounded queue, two background threads, exact counters) hands
batches to the exporters; `_exporter_mlflow` stores them in MLflow — locally through
`_sql_bulk` (bulk rows through MLflow's own SQLAlchemy models) or MLflow's ``log_spans``, in a
separate process (`_export_process` → `_export_worker` over `_wire`) — or over HTTP
(`_http`) to a tracking server, with an on-disk `_spool` while it is away. `_store_setup`
opens a store once per file, `_runlink` and `_promptlink` link stored traces to MLflow runs and
prompt versions. What a span carries is prepared by the tracing layer; the runtime wires the
two together.
"""
