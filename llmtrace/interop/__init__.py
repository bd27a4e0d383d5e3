"""llmtrace with other OpenTelemetry tools: third-party instrumentors against llmtrace's provider.

`instrument` turns on the installed OpenInference instrumentor (or the official OpenTelemetry
one) for each library named, recording into llmtrace's provider; `uninstrument` turns them
off. The public names are re-exported by `llmtrace`.
"""
