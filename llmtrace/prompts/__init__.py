"""Versioned prompts in MLflow's prompt registry, linked to the traces that use them.

Example:
    >>> import llmtrace
    >>> llmtrace.prompts.register("greet", "Hello {{name}}!", commit_message="first")
    >>> prompt = llmtrace.prompts.load("prompts:/greet/1")
    >>> with llmtrace.span("reply"):
    ...     text = prompt.format(name="Ada")   # this trace now shows prompts:/greet/1
"""

from ._errors import PromptFormatError, PromptNotFoundError
from ._registry import Prompt, load, register, set_alias

__all__ = [
    "Prompt",
    "PromptFormatError",
    "PromptNotFoundError",
    "load",
    "register",
    "set_alias",
]
