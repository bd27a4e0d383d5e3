"""What the user calls: `@trace`, `span()`, `session()`, context propagation, span kinds.

Reading order: `_decorator` (every kind of callable) and `_span` (the context manager and the
handle) start spans; `_payload` keeps what the hot path recorded (references only) and turns
it into attributes on the export thread (`enrich`); `_serialize` does the JSON, masking and
truncation; `_session` and `_context` carry the conversation and the trace across threads,
tasks and processes; `_state` is where this layer gets its tracer from the runtime above it.
The public names are re-exported by `llmtrace`.
"""
