"""Hashed bag-of-words embeddings: deterministic vectors where texts sharing words point alike."""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from collections import Counter
from collections.abc import Mapping
from typing import Any

from ._words import words

DIMENSIONS = 256


def embed(text: str, dimensions: int = DIMENSIONS) -> list[float]:
    """A deterministic, L2-normalised hashed bag-of-words vector of the text's content words.

    Not a model: each content word (lower case, stopwords dropped) adds +1 or -1 to one slot
    picked by its SHA-256 hash, so texts that share words have a high cosine similarity and the
    same text always gets the same vector. The stand-in's ``/v1/embeddings`` answers with it.

    Args:
        text: the text to embed.
        dimensions: the vector's length (the request's ``dimensions``, else 256).

    Returns:
        ``dimensions`` floats of unit length (all zeros for a text without content words).

    Example:
        >>> from llmtrace.testing import embed
        >>> a, b = embed("late fee for a DVD"), embed("DVD late fees")
        >>> round(sum(x * y for x, y in zip(a, b)), 2)
        1.0
    """
    vector = [0.0] * dimensions
    for word, count in Counter(words(text)).items():
        digest = hashlib.sha256(word.encode()).digest()
        slot = int.from_bytes(digest[:4], "little") % dimensions
        vector[slot] += count if digest[4] & 1 else -count
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def embeddings_response(body: Mapping[str, Any], model: str) -> dict[str, Any]:
    """The ``/v1/embeddings`` answer to ``body``: float lists, or base64 little-endian float32."""
    given = body.get("input", "")
    texts = given if isinstance(given, list) else [given]
    dimensions = int(body.get("dimensions") or DIMENSIONS)
    data = []
    for i, text in enumerate(texts):
        vector: Any = embed(str(text), dimensions)
        if body.get("encoding_format") == "base64":
            vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": vector})
    tokens = sum(len(str(t).split()) for t in texts)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
