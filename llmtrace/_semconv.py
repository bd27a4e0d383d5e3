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
#: Set when text had to be repaired to be stored (lone surrogates replaced by U+FFFD).
LLMTRACE_REPAIRED_TEXT = "llmtrace.repaired_text"
#: Set on a trace's root span when an MLflow run is active; the exporter links the trace to it.
LLMTRACE_RUN_ID = "llmtrace.run_id"

# --- LLM calls (llmtrace.openai): GenAI semantic conventions, then llmtrace's own ---
MLFLOW_LINKED_PROMPTS = "mlflow.linkedPrompts"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P = "gen_ai.request.top_p"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_FREQUENCY_PENALTY = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_STOP_SEQUENCES = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_SEED = "gen_ai.request.seed"
GEN_AI_REQUEST_CHOICE_COUNT = "gen_ai.request.choice.count"
GEN_AI_REQUEST_ENCODING_FORMATS = "gen_ai.request.encoding_formats"
GEN_AI_OUTPUT_TYPE = "gen_ai.output.type"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
GEN_AI_EMBEDDINGS_DIMENSION_COUNT = "gen_ai.embeddings.dimension.count"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"
HTTP_RESPONSE_STATUS_CODE = "http.response.status_code"
OPENAI_REQUEST_SERVICE_TIER = "openai.request.service_tier"
OPENAI_RESPONSE_SERVICE_TIER = "openai.response.service_tier"
OPENAI_RESPONSE_SYSTEM_FINGERPRINT = "openai.response.system_fingerprint"
LLMTRACE_OPENAI_API = "llmtrace.openai.api"
LLMTRACE_OPENAI_REQUEST_ID = "llmtrace.openai.request_id"
LLMTRACE_LLM_STREAM = "llmtrace.llm.stream"
LLMTRACE_LLM_TIME_TO_FIRST_TOKEN_MS = "llmtrace.llm.time_to_first_token_ms"
LLMTRACE_LLM_STREAM_CHUNKS = "llmtrace.llm.stream.chunks"
LLMTRACE_LLM_STREAM_STOPPED = "llmtrace.llm.stream.stopped"
LLMTRACE_LLM_COST_USD = "llmtrace.llm.cost_usd"
LLMTRACE_EXTRACTION_ERROR = "llmtrace.extraction_error"

# --- evaluation (evals): judge calls and evaluation runs ---
#: ``True`` on the root span of an evaluator's trace (a judge call), and the trace tag
#: (``MLFLOW_TRACE_TAG_PREFIX + LLMTRACE_EVALUATION`` = ``"true"``) and run tag that mark
#: evaluation traces and runs, so searches can leave them out of the app's.
LLMTRACE_EVALUATION = "llmtrace.evaluation"
LLMTRACE_JUDGE_PROMPT_ID = "llmtrace.judge.prompt_id"
LLMTRACE_JUDGE_PROMPT_VERSION = "llmtrace.judge.prompt_version"
LLMTRACE_JUDGE_ATTEMPTS = "llmtrace.judge.attempts"
LLMTRACE_JUDGE_RETRIES = "llmtrace.judge.retries"
#: Metadata key of the feedback `evals.watch` writes (value: the watcher's name), so reports
#: can tell continuously scored traces from evaluation runs.
LLMTRACE_WATCH = "llmtrace.watch"

# --- OpenInference (Arize Phoenix and the instrumentors that follow it) ---
# llmtrace writes these next to MLflow's keys so any OTel backend understands its spans, and
# reads them on spans other instrumentations made.
OPENINFERENCE_SPAN_KIND = "openinference.span.kind"
INPUT_VALUE = "input.value"
INPUT_MIME_TYPE = "input.mime_type"
OUTPUT_VALUE = "output.value"
OUTPUT_MIME_TYPE = "output.mime_type"
RETRIEVAL_DOCUMENTS = "retrieval.documents"  # .N.document.{id,content,score,metadata}
LLM_MODEL_NAME = "llm.model_name"
LLM_TOKEN_COUNT_PROMPT = "llm.token_count.prompt"
LLM_TOKEN_COUNT_COMPLETION = "llm.token_count.completion"
LLM_TOKEN_COUNT_TOTAL = "llm.token_count.total"
LLM_INPUT_MESSAGES = "llm.input_messages"  # .N.message.{role,content}
LLM_OUTPUT_MESSAGES = "llm.output_messages"
#: ``True`` on a span whose OpenInference keys llmtrace wrote as a copy of its MLflow keys; the
#: MLflow exporter leaves the copies out of the store (they would double its size).
LLMTRACE_MIRRORED = "llmtrace.mirrored"
#: The keys (exact, or prefixes ending in ".") that such a copy may hold.
MIRROR_KEYS = (
    OPENINFERENCE_SPAN_KIND,
    INPUT_VALUE,
    INPUT_MIME_TYPE,
    OUTPUT_VALUE,
    OUTPUT_MIME_TYPE,
    LLM_MODEL_NAME,
    LLM_TOKEN_COUNT_PROMPT,
    LLM_TOKEN_COUNT_COMPLETION,
    LLM_TOKEN_COUNT_TOTAL,
    RETRIEVAL_DOCUMENTS + ".",
    LLM_INPUT_MESSAGES + ".",
    LLM_OUTPUT_MESSAGES + ".",
    LLMTRACE_MIRRORED,
)


def is_mirror_key(key: str) -> bool:
    """Whether ``key`` is one llmtrace writes as an OpenInference copy (see `MIRROR_KEYS`)."""
    return any(key == k or (k.endswith(".") and key.startswith(k)) for k in MIRROR_KEYS)
