"""Versioned prompts in MLflow's prompt registry: `register`, `load`, `Prompt.format`.

The registry is the one of llmtrace's tracking URI (the SQLite store by default, or the MLflow
server). MLflow is imported on first use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._errors import LLMTraceError
from ._errors import PromptFormatError, PromptNotFoundError
from ._link import link_to_current_span

_NOT_FOUND = ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "INVALID_PARAMETER_VALUE")


def _client() -> Any:
    from mlflow.tracking import MlflowClient

    from .. import _runtime

    uri = _runtime.current_config().tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _where() -> str:
    from .. import _runtime

    return _runtime.current_config().tracking_uri


class Prompt:
    """One version of a registered prompt. `format` fills in its ``{{variables}}``.

    A text prompt formats to a string, a chat prompt (a list of ``{role, content}`` messages)
    to a list of messages ready for ``chat.completions.create(messages=...)``. Formatting inside
    a traced span links this prompt version to the trace.

    Example:
        >>> prompt = llmtrace.prompts.load("prompts:/support/2")
        >>> prompt.format(product="llmtrace", question="How do I trace?")
    """

    __slots__ = ("_pv",)

    def __init__(self, prompt_version: Any) -> None:
        self._pv = prompt_version

    @property
    def name(self) -> str:
        """The prompt's name."""
        return str(self._pv.name)

    @property
    def version(self) -> int:
        """The version number (1, 2, ...)."""
        return int(self._pv.version)

    @property
    def uri(self) -> str:
        """``prompts:/<name>/<version>``."""
        return f"prompts:/{self.name}/{self.version}"

    @property
    def template(self) -> str | list[dict[str, Any]]:
        """The template: a string, or a list of chat messages."""
        template: str | list[dict[str, Any]] = self._pv.template
        return template

    @property
    def is_chat(self) -> bool:
        """True for a chat prompt (a list of messages)."""
        return not isinstance(self._pv.template, str)

    @property
    def variables(self) -> frozenset[str]:
        """The names of the template's ``{{variables}}``."""
        return frozenset(self._pv.variables)

    @property
    def commit_message(self) -> str | None:
        """The commit message given at `register`."""
        message: str | None = self._pv.commit_message
        return message

    @property
    def tags(self) -> dict[str, str]:
        """The version's tags (MLflow's internal ``mlflow.*`` tags left out)."""
        return {k: v for k, v in (self._pv.tags or {}).items() if not k.startswith("mlflow.")}

    @property
    def mlflow_prompt(self) -> Any:
        """MLflow's own `PromptVersion` object."""
        return self._pv

    def _is_jinja(self) -> bool:
        template = self._pv.template
        texts = [template] if isinstance(template, str) else [m.get("content") for m in template]
        return any(isinstance(t, str) and "{%" in t for t in texts)

    def format(self, **variables: Any) -> str | list[dict[str, Any]]:
        """Fill in every variable; a missing or unknown one raises `PromptFormatError`.

        Example:
            >>> llmtrace.prompts.load("prompts:/greet/1").format(name="Ada")
            'Hello Ada!'
        """
        result = self.render(variables)
        link_to_current_span(self.name, str(self.version))
        return result

    def render(self, variables: Mapping[str, Any]) -> str | list[dict[str, Any]]:
        """`format` without linking the prompt to the current trace."""
        if not self._is_jinja():
            expected = self.variables
            missing = sorted(expected - variables.keys())
            unknown = sorted(variables.keys() - expected)
            if missing or unknown:
                problems = []
                if missing:
                    problems.append("missing variable(s) " + ", ".join(map(repr, missing)))
                if unknown:
                    problems.append("unknown variable(s) " + ", ".join(map(repr, unknown)))
                uses = ", ".join(sorted(expected)) or "none"
                raise PromptFormatError(
                    f"prompt {self.uri}: {'; '.join(problems)} (the template uses: {uses})"
                )
        result: str | list[dict[str, Any]] = self._pv.format(**variables)
        return result

    def __repr__(self) -> str:
        kind = "chat" if self.is_chat else "text"
        return f"Prompt({self.uri!r}, {kind}, variables={sorted(self.variables)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Prompt) and (other.name, other.version) == (
            self.name,
            self.version,
        )

    def __hash__(self) -> int:
        return hash((self.name, self.version))


def _check_template(template: Any) -> None:
    if isinstance(template, str):
        return
    if isinstance(template, Sequence) and template:
        if all(
            isinstance(m, Mapping) and isinstance(m.get("role"), str) and "content" in m
            for m in template
        ):
            return
    raise LLMTraceError(
        "a prompt template is a string with {{variables}}, or a non-empty list of chat "
        f"messages {{'role': ..., 'content': ...}}; got {type(template).__name__}"
    )


def register(
    name: str,
    template: str | Sequence[Mapping[str, Any]],
    *,
    commit_message: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> Prompt:
    """Store ``template`` as the next version of prompt ``name`` (version 1 if it is new).

    Args:
        name: the prompt's name (letters, digits, ``-``, ``_``, ``.``).
        template: ``"Answer as a {{style}} assistant: {{question}}"``, or chat messages
            ``[{"role": "system", "content": "..."}, {"role": "user", "content": "{{q}}"}]``.
        commit_message: what changed in this version.
        tags: string tags on this version.

    Example:
        >>> p = llmtrace.prompts.register("greet", "Hello {{name}}!", commit_message="first")
        >>> p.uri
        'prompts:/greet/1'
    """
    if not isinstance(name, str) or not name.strip():
        raise LLMTraceError(f"a prompt needs a non-empty name, got {name!r}")
    _check_template(template)
    from mlflow.exceptions import MlflowException

    try:
        pv = _client().register_prompt(
            name=name,
            template=template if isinstance(template, str) else [dict(m) for m in template],
            commit_message=commit_message,
            tags=dict(tags) if tags else None,
        )
    except MlflowException as exc:
        raise LLMTraceError(f"could not register prompt {name!r}: {exc.message}") from exc
    return Prompt(pv)


def _to_uri(name_or_uri: str, version: int | str | None) -> str:
    if name_or_uri.startswith("prompts:/"):
        if version is not None:
            raise LLMTraceError(
                f"give the version in the URI or as version=, not both: {name_or_uri!r}"
            )
        return name_or_uri
    if version is None:
        return f"prompts:/{name_or_uri}" if "@" in name_or_uri else f"prompts:/{name_or_uri}@latest"
    return f"prompts:/{name_or_uri}/{version}"


def _parse(uri: str) -> tuple[str, str]:
    """(name, version or alias) of ``prompts:/name/2`` or ``prompts:/name@alias``."""
    rest = uri[len("prompts:/") :]
    if "@" in rest:
        name, _, ref = rest.partition("@")
    else:
        name, _, ref = rest.partition("/")
        if not ref.isdigit():
            ref = ""
    if not name or not ref or "/" in name:
        raise LLMTraceError(
            f"not a prompt URI: {uri!r} (use prompts:/<name>/<version> or prompts:/<name>@<alias>)"
        )
    return name, ref


def _not_found(client: Any, name: str, ref: str) -> PromptNotFoundError:
    try:
        found = client.search_prompt_versions(name)
        versions = list(getattr(found, "prompt_versions", found) or [])
    except Exception:
        versions = []
    if not versions:
        return PromptNotFoundError(f"no prompt named {name!r} in {_where()}")
    numbers = ", ".join(str(v.version) for v in sorted(versions, key=lambda v: int(v.version)))
    if ref.isdigit():
        return PromptNotFoundError(f"prompt {name!r} has no version {ref} (versions: {numbers})")
    aliases = sorted({a for v in versions for a in (getattr(v, "aliases", None) or [])})
    known = ", ".join(["latest", *aliases])
    return PromptNotFoundError(f"prompt {name!r} has no alias {ref!r} (aliases: {known})")


def load(name_or_uri: str, *, version: int | str | None = None) -> Prompt:
    """Load a prompt version: ``prompts:/name/2``, ``prompts:/name@latest``, ``prompts:/name@prod``.

    A bare name loads the latest version (or ``version=``). Loading inside a traced span links
    the version to the trace. A prompt, version or alias that does not exist raises
    `PromptNotFoundError` naming it.

    Example:
        >>> prompt = llmtrace.prompts.load("prompts:/greet@production")
    """
    if not isinstance(name_or_uri, str) or not name_or_uri.strip():
        raise LLMTraceError(f"load() needs a prompt name or URI, got {name_or_uri!r}")
    uri = _to_uri(name_or_uri.strip(), version)
    from mlflow.exceptions import MlflowException

    name, ref = _parse(uri)
    client = _client()
    try:
        if ref.isdigit():
            pv = client.get_prompt_version(name, ref)
        else:
            pv = client.get_prompt_version_by_alias(name, ref)
    except MlflowException as exc:
        if exc.error_code in _NOT_FOUND:
            raise _not_found(client, name, ref) from exc
        raise LLMTraceError(f"could not load {uri}: {exc.message}") from exc
    if pv is None:
        raise _not_found(client, name, ref)
    prompt = Prompt(pv)
    link_to_current_span(prompt.name, str(prompt.version))
    return prompt


def set_alias(name: str, alias: str, version: int) -> None:
    """Point ``alias`` (e.g. ``"production"``) of prompt ``name`` at ``version``.

    Example:
        >>> llmtrace.prompts.set_alias("greet", "production", 2)
        >>> llmtrace.prompts.load("prompts:/greet@production").version
        2
    """
    from mlflow.exceptions import MlflowException

    client = _client()
    try:
        client.set_prompt_alias(name, alias, int(version))
    except MlflowException as exc:
        if exc.error_code in _NOT_FOUND:
            raise _not_found(client, name, str(version)) from exc
        raise LLMTraceError(f"could not set alias {alias!r} of {name!r}: {exc.message}") from exc
