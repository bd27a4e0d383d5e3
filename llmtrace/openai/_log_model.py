"""`log_model`: store a chat configuration as an MLflow model (see `_chatmodel`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._errors import LLMTraceError


def _prompt_config(prompt: Any) -> dict[str, Any] | None:
    from ..prompts._registry import Prompt, load

    if prompt is None:
        return None
    if isinstance(prompt, str) and prompt.startswith("prompts:/"):
        prompt = load(prompt)
    if isinstance(prompt, Prompt):
        return {"name": prompt.name, "version": prompt.version, "template": prompt.template}
    if isinstance(prompt, str) or (
        isinstance(prompt, Sequence) and all(isinstance(m, Mapping) for m in prompt)
    ):
        template = prompt if isinstance(prompt, str) else [dict(m) for m in prompt]
        return {"name": None, "version": None, "template": template}
    raise LLMTraceError(
        "prompt must be a registry URI (prompts:/name/1), an llmtrace.prompts.Prompt, a template "
        f"string or a list of chat messages; got {type(prompt).__name__}"
    )


def log_model(
    model: str,
    *,
    prompt: Any = None,
    params: Mapping[str, Any] | None = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
    name: str = "chatbot",
    registered_model_name: str | None = None,
    base_url: str | None = None,
    **kwargs: Any,
) -> Any:
    """Log a chat configuration as an MLflow model (pyfunc) that calls OpenAI when it predicts.

    Args:
        model: the OpenAI model, e.g. ``"gpt-4o-mini"``.
        prompt: instructions: a registry URI (``"prompts:/support/2"``), a `Prompt`, a template
            string (sent as the system message) or chat messages. Its ``{{variables}}`` come
            from each input's keys.
        params: request parameters (``temperature``, ``max_tokens``...).
        tools: tool definitions sent with each request (chat-completions format).
        name: the model's name in the run/logged model, and the trace's root span name.
        registered_model_name: also register it under this name (a new version each time).
        base_url: an OpenAI-compatible endpoint; default: ``OPENAI_BASE_URL`` or OpenAI.
        **kwargs: passed to ``mlflow.pyfunc.log_model`` (``pip_requirements``...).

    Returns:
        MLflow's ``ModelInfo`` (``model_uri``, ``registered_model_version``...).

    Example:
        >>> info = llmtrace.openai.log_model("gpt-4o-mini", prompt="prompts:/support/2",
        ...                                  params={"temperature": 0}, name="chatbot",
        ...                                  registered_model_name="chatbot")
        >>> bot = mlflow.pyfunc.load_model("models:/chatbot/latest")
        >>> bot.predict({"question": "How do I trace?", "product": "llmtrace"})
    """
    if not isinstance(model, str) or not model:
        raise LLMTraceError(f"log_model needs the OpenAI model name, got {model!r}")
    from ..tracking._tracking import mlflow_errors, sync

    config = {
        "model": model,
        "name": name,
        "prompt": _prompt_config(prompt),
        "params": dict(params or {}),
        "tools": [dict(t) for t in tools] if tools else None,
        "base_url": base_url,
    }
    import mlflow.pyfunc

    from ._chatmodel import OpenAIChatModel

    sync()
    with mlflow_errors(f"log_model(name={name!r})"):
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=OpenAIChatModel(),
            model_config=config,
            registered_model_name=registered_model_name,
            **kwargs,
        )
