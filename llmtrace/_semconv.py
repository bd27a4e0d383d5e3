"""Every span attribute key llmtrace writes, defined once.

MLflow keys make the MLflow UI and `mlflow.search_traces` understand the spans; GenAI semantic
convention keys (``gen_ai.*``) make any OpenTelemetry backend understand them.
"""

from __future__ import annotations

# --- MLflow span attributes (values are JSON text, as MLflow's own tracer writes them) ---
MLFLOW_SPAN_TYPE = "mlflow.spanType"
MLFLOW_SPAN_INPUTS = "mlflow.spanInputs"
MLFLOW_SPAN_OUTPUTS = "mlflow.spanOutputs"
MLFLOW_FUNCTION_NAME = "mlflow.spanFunctionName"
MLFLOW_TRACE_REQUEST_ID = "mlflow.traceRequestId"
MLFLOW_CHAT_USAGE = "mlflow.chat.tokenUsage"
MLFLOW_CHAT_TOOLS = "mlflow.chat.tools"
MLFLOW_LLM_COST = "mlflow.llm.cost"
MLFLOW_LLM_MODEL = "mlflow.llm.model"
MLFLOW_LLM_PROVIDER = "mlflow.llm.provider"
MLFLOW_MESSAGE_FORMAT = "mlflow.message.format"
MLFLOW_TRACE_TAG_PREFIX = "mlflow.traceTag."

#: Attributes whose value llmtrace writes as JSON text (the MLflow convention).
JSON_VALUED = frozenset(
    {
        MLFLOW_SPAN_INPUTS,
        MLFLOW_SPAN_OUTPUTS,
        MLFLOW_CHAT_USAGE,
        MLFLOW_CHAT_TOOLS,
        MLFLOW_LLM_COST,
    }
)

# --- MLflow trace metadata (filled by the store from the session/user attributes below) ---
MLFLOW_TRACE_SESSION = "mlflow.trace.session"
MLFLOW_TRACE_USER = "mlflow.trace.user"
MLFLOW_TRACE_TOKEN_USAGE = "mlflow.trace.tokenUsage"

# --- OpenTelemetry semantic conventions ---
SESSION_ID = "session.id"
USER_ID = "user.id"
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_SYSTEM = "gen_ai.system"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
EXCEPTION_EVENT = "exception"

# --- llmtrace's own ---
LLMTRACE_KIND = "llmtrace.span.kind"
LLMTRACE_TRUNCATED = "llmtrace.truncated"
LLMTRACE_SERIALIZATION_ERROR = "llmtrace.serialization_error"
