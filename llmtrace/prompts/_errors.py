"""Errors of the prompt registry layer (all `LLMTraceError`s)."""

from __future__ import annotations

from .._errors import LLMTraceError


class PromptNotFoundError(LLMTraceError, LookupError):
    """No prompt, version or alias of that name in the registry.

    Example:
        >>> try:
        ...     llmtrace.prompts.load("prompts:/greeting/7")
        ... except llmtrace.prompts.PromptNotFoundError as exc:
        ...     print(exc)
        prompt 'greeting' has no version 7 (versions: 1, 2)
    """


class PromptFormatError(LLMTraceError, KeyError):
    """`Prompt.format` got a variable the template lacks, or lacks one the template needs."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
