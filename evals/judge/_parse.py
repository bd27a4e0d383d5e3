"""Judge replies: the JSON object in a reply's text, validated against the asker's schema.

Replies from local models often wrap JSON in a code fence or put a sentence before it; both are
accepted. Anything else that is not a JSON object matching the schema is `Invalid`, with a
message the judge can be re-asked with.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["Invalid", "make_validator", "parse_reply", "reply_text"]

_FENCE = re.compile(r"^```[a-zA-Z]*\s*(.*?)\s*```$", re.S)


class Invalid(ValueError):
    """A reply that is not a JSON object matching the schema."""


def parse_reply(raw: str, validator: Any) -> dict[str, Any]:
    """The JSON object in ``raw`` (code fences and leading chatter tolerated), validated.

    Raises ``ValueError`` saying what is wrong when there is no JSON object or it does not
    match the schema.

    Example:
        >>> parse_reply('```json\\n{"score": 4}\\n```', validator)
        {'score': 4}
    """
    text = raw.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        start = text.find("{")
        if start < 0:
            raise Invalid(f"not JSON ({exc.msg} at char {exc.pos})") from None
        try:
            data, _ = json.JSONDecoder().raw_decode(text[start:])
        except json.JSONDecodeError:
            raise Invalid(f"not JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(data, dict):
        raise Invalid(f"expected a JSON object, got {type(data).__name__}")
    import jsonschema

    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise Invalid(f"does not match the schema at {where}: {error.message}")
    return data


def make_validator(schema: dict[str, Any]) -> Any:
    """A jsonschema validator for ``schema`` (its draft from ``$schema``, else the latest).

    Raises ``ValueError`` for a schema that is itself invalid (a mistake in the metric).

    Example:
        >>> make_validator({"type": "object", "required": ["score"]})
    """
    if not isinstance(schema, dict):
        raise TypeError(f"schema must be a JSON schema dict, got {type(schema).__name__}")
    import jsonschema

    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValueError(f"invalid judge reply schema: {exc.message}") from exc
    return cls(schema)


def reply_text(completion: Any) -> str:
    """The reply text (or refusal) of a chat completion; '' when there is none."""
    choices = getattr(completion, "choices", None) or []
    if not choices:
        return ""
    message = choices[0].message
    content = getattr(message, "content", None)
    if isinstance(content, str):
        return content
    refusal = getattr(message, "refusal", None)
    return refusal if isinstance(refusal, str) else ""
