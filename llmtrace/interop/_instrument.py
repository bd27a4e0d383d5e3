"""`llmtrace.instrument("openai", "langchain", ...)`: third-party instrumentors, one call.

Each library name maps to the instrumentors that can trace it, tried in order: OpenInference's
first (Phoenix's conventions, which MLflow's store translates), then the official OpenTelemetry
one where there is one. The instrumentor records into llmtrace's tracer provider, so its spans
nest under llmtrace spans and reach llmtrace's store with the same masking, limits and
counters as llmtrace's own.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from typing import Any

from .._errors import ConfigurationError
from .._runtime import tracer_provider


@dataclass(frozen=True)
class _Option:
    module: str
    cls: str
    pip: str


_OI = "openinference.instrumentation."
LIBRARIES: dict[str, tuple[_Option, ...]] = {
    "openai": (
        _Option(_OI + "openai", "OpenAIInstrumentor", "openinference-instrumentation-openai"),
        _Option(
            "opentelemetry.instrumentation.openai_v2",
            "OpenAIInstrumentor",
            "opentelemetry-instrumentation-openai-v2",
        ),
    ),
    "langchain": (
        _Option(
            _OI + "langchain", "LangChainInstrumentor", "openinference-instrumentation-langchain"
        ),
    ),
    "llama_index": (
        _Option(
            _OI + "llama_index",
            "LlamaIndexInstrumentor",
            "openinference-instrumentation-llama-index",
        ),
    ),
    "openai_agents": (
        _Option(
            _OI + "openai_agents",
            "OpenAIAgentsInstrumentor",
            "openinference-instrumentation-openai-agents",
        ),
    ),
    "anthropic": (
        _Option(
            _OI + "anthropic", "AnthropicInstrumentor", "openinference-instrumentation-anthropic"
        ),
    ),
    "litellm": (
        _Option(_OI + "litellm", "LiteLLMInstrumentor", "openinference-instrumentation-litellm"),
    ),
    "dspy": (_Option(_OI + "dspy", "DSPyInstrumentor", "openinference-instrumentation-dspy"),),
    "bedrock": (
        _Option(_OI + "bedrock", "BedrockInstrumentor", "openinference-instrumentation-bedrock"),
    ),
    "mistralai": (
        _Option(
            _OI + "mistralai", "MistralAIInstrumentor", "openinference-instrumentation-mistralai"
        ),
    ),
    "groq": (_Option(_OI + "groq", "GroqInstrumentor", "openinference-instrumentation-groq"),),
    "crewai": (
        _Option(_OI + "crewai", "CrewAIInstrumentor", "openinference-instrumentation-crewai"),
    ),
    "haystack": (
        _Option(
            _OI + "haystack", "HaystackInstrumentor", "openinference-instrumentation-haystack"
        ),
    ),
}
_ALIASES = {"llamaindex": "llama_index", "llama-index": "llama_index", "agents": "openai_agents"}

_lock = threading.Lock()
_active: dict[str, Any] = {}  # library name -> the instrumentor llmtrace turned on


def _normalize(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ConfigurationError(f"instrument() takes library names such as 'openai', got {name!r}")
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in LIBRARIES:
        known = ", ".join(sorted(LIBRARIES))
        raise ConfigurationError(f"instrument(): unknown library {name!r}; known: {known}")
    return key


def _load(key: str) -> Any:
    options = LIBRARIES[key]
    for option in options:
        try:
            module = importlib.import_module(option.module)
        except ImportError:
            continue
        return getattr(module, option.cls)()
    raise ConfigurationError(
        f"instrument({key!r}) needs an instrumentor: pip install {options[0].pip}"
    )


def instrument(*libraries: str) -> list[str]:
    """Trace each named library with its installed OpenTelemetry instrumentor, into llmtrace.

    Names: ``openai``, ``langchain``, ``llama_index``, ``openai_agents``, ``anthropic``,
    ``litellm``, ``dspy``, ``bedrock``, ``mistralai``, ``groq``, ``crewai``, ``haystack``. A
    library whose instrumentor is not installed raises `ConfigurationError` naming what to
    ``pip install`` (before any is turned on). Calling it again for a library is harmless.
    Returns the libraries now instrumented by llmtrace.

    Example:
        >>> llmtrace.instrument("openai", "langchain")
        ['langchain', 'openai']
    """
    keys = [_normalize(name) for name in libraries]
    with _lock:
        pending = {key: _load(key) for key in keys if key not in _active}  # all found, or none
        provider = tracer_provider() if pending else None
        for key, instrumentor in pending.items():
            if provider is None:  # tracing disabled: nothing to record into
                break
            if getattr(instrumentor, "is_instrumented_by_opentelemetry", False):
                continue  # the program turned it on itself; not ours to turn off
            instrumentor.instrument(tracer_provider=provider)
            _active[key] = instrumentor
        return sorted(_active)


def uninstrument(*libraries: str) -> list[str]:
    """Turn off what `instrument` turned on (all of it when no name is given).

    Example:
        >>> llmtrace.uninstrument("langchain")
        ['openai']
    """
    with _lock:
        keys = [_normalize(name) for name in libraries] if libraries else list(_active)
        for key in keys:
            instrumentor = _active.pop(key, None)
            if instrumentor is not None:
                instrumentor.uninstrument()
        return sorted(_active)


def instrumented() -> list[str]:
    """The libraries llmtrace's `instrument` has turned on."""
    with _lock:
        return sorted(_active)
