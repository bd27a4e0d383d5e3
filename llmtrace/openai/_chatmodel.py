"""The pyfunc model `log_model` logs: a chat configuration that calls OpenAI, traced.

The model holds the configuration only (model name, prompt, parameters, tools, base URL),
never a credential: at load time it builds an ``openai.OpenAI()`` client from the environment
(``OPENAI_API_KEY``, ``OPENAI_BASE_URL``...), traced with `wrap`. Each ``predict`` is one
trace: a CHAIN span named after the model with the LLM span inside, linked to the registry
prompt version it formats.

This module imports MLflow; it is loaded by `log_model` and when MLflow unpickles a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import mlflow.pyfunc

from .._errors import LLMTraceError
from ..tracing._span import span

_RESERVED = frozenset({"messages", "question"})


class OpenAIChatModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """The pyfunc behind `log_model`: one chat completion per input, traced.

    ``predict`` takes a question (string), a list of chat messages, a dict with ``question``
    and/or ``messages`` plus the prompt's variables, or a DataFrame of such rows (one answer per
    row). It returns the assistant's text, or the whole assistant message (a dict) when the
    model answered with tool calls.
    """

    _skip_type_hint_validation = True  # inputs take several shapes: no schema conversion

    def __init__(self) -> None:
        self._config: dict[str, Any] = {}
        self._client: Any = None

    def load_context(self, context: Any) -> None:
        """Read the configuration and build the traced OpenAI client."""
        import openai

        from ._wrap import wrap

        self._config = dict(context.model_config or {})
        base_url = self._config.get("base_url")
        self._client = wrap(openai.OpenAI(**({"base_url": base_url} if base_url else {})))

    # -- building the request -------------------------------------------------------------
    def _prompt_messages(self, variables: Mapping[str, Any]) -> list[dict[str, Any]]:
        prompt = self._config.get("prompt")
        if not prompt:
            if variables:
                raise LLMTraceError(
                    f"this model has no prompt, so no variables: {sorted(variables)}"
                )
            return []
        from mlflow.entities.model_registry import PromptVersion

        from ..prompts._registry import Prompt

        registered = prompt.get("name") is not None
        pv = PromptVersion(
            prompt["name"] if registered else "inline",
            int(prompt["version"]) if registered else 1,
            prompt["template"],
        )
        # a registry prompt is linked to the trace; an inline one has nothing to link to
        formatted = Prompt(pv).format(**variables) if registered else Prompt(pv).render(variables)
        if isinstance(formatted, str):
            return [{"role": "system", "content": formatted}]
        return [dict(m) for m in formatted]

    def _messages(self, row: Any) -> list[dict[str, Any]]:
        if isinstance(row, str):
            return [*self._prompt_messages({}), {"role": "user", "content": row}]
        if isinstance(row, Sequence) and all(isinstance(m, Mapping) for m in row):
            return [*self._prompt_messages({}), *[dict(m) for m in row]]
        if isinstance(row, Mapping):
            variables = {k: v for k, v in row.items() if k not in _RESERVED}
            messages = self._prompt_messages(variables)
            messages.extend(dict(m) for m in row.get("messages") or ())
            if row.get("question") is not None:
                messages.append({"role": "user", "content": str(row["question"])})
            return messages
        raise LLMTraceError(
            "predict() takes a question (str), chat messages (list of dicts), a dict with "
            f"'question'/'messages' and prompt variables, or a DataFrame of those; got {row!r}"
        )

    def _answer(self, row: Any, params: Mapping[str, Any] | None) -> Any:
        config = self._config
        request: dict[str, Any] = {**(config.get("params") or {}), **(params or {})}
        if config.get("tools"):
            request["tools"] = config["tools"]
        with span(config.get("name") or "chat model", kind="CHAIN", inputs=row) as s:
            reply = self._client.chat.completions.create(
                model=config["model"], messages=self._messages(row), **request
            )
            message = reply.choices[0].message
            answer: Any = message.content
            if message.tool_calls:
                answer = message.to_dict()
            s.set_outputs(answer)
        return answer

    # ``model_input`` has no type hint on purpose: MLflow turns predict's hints into a schema
    # and converts inputs to it, and this model takes several shapes of input.
    def predict(self, context: Any, model_input, params: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
        """Answer one input, or each row of a DataFrame (then a list of answers)."""
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - MLflow depends on pandas
            pd = None
        if pd is not None and isinstance(model_input, pd.DataFrame):
            rows = model_input.to_dict(orient="records")
            return [self._answer(_unwrap_row(r), params) for r in rows]
        return self._answer(model_input, params)


def _unwrap_row(row: dict[str, Any]) -> Any:
    # a one-column frame of questions (or of message lists) is a list of those
    if len(row) == 1 and next(iter(row)) not in _RESERVED:
        value = next(iter(row.values()))
        if isinstance(value, (str, list)):
            return value
    return row
