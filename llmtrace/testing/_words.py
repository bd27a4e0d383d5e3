"""Content words of a text: what the judge heuristics and the hashed embeddings both read."""

from __future__ import annotations

import re

STOPWORDS = frozenset(
    "a an and are as at be by can do does for from has have how i in is it its me my of on or "
    "the to was what when where which who why will with you your this that there their they "
    "not no if any all".split()
)


def words(text: str) -> list[str]:
    """Content words: lower case, no stopwords, a plural ``s`` dropped."""
    found = re.findall(r"[a-z0-9]+", text.lower())
    return [w[:-1] if len(w) > 3 and w.endswith("s") else w for w in found if w not in STOPWORDS]


def support(text: str, source: str) -> float:
    """Share of ``text``'s content words found in ``source`` (1.0 when it has none)."""
    mine = set(words(text))
    return len(mine & set(words(source))) / len(mine) if mine else 1.0


def sentences(text: str) -> list[str]:
    """Sentences with at least one content word."""
    parts = re.split(r"(?<=[.!?])\s+", text.strip())
    return [p.strip() for p in parts if words(p)]
