"""Answer-vs-expected text metrics: exact match, token F1, ROUGE, BLEU, contains, regex, edit
distance, length. Deterministic, offline: nothing is downloaded, ever.

``expected`` may be one string or a list of acceptable strings; the best match counts.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from typing import Any

from .._types import Row, Score
from ._base import FunctionMetric, references, text

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def squad_normalize(value: str) -> str:
    """SQuAD's answer normalisation: lower case, drop punctuation and articles, fold spaces.

    Example:
        >>> squad_normalize("The  Eiffel Tower!")
        'eiffel tower'
    """
    value = value.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", value).split())


def _normalizer(normalize: bool | Callable[[str], str]) -> Callable[[str], str]:
    if callable(normalize):
        return normalize
    return squad_normalize if normalize else (lambda value: value)


def exact_match(
    *,
    normalize: bool | Callable[[str], str] = False,
    name: str = "exact_match",
    threshold: float | None = 1.0,
) -> FunctionMetric:
    """1.0 when the answer equals the expected text (or one of them), else 0.0.

    Args:
        normalize: False compares the texts as they are; True applies SQuAD normalisation
            (`squad_normalize`); or pass your own ``str -> str`` function.

    Example:
        >>> evaluate(rows, [metrics.exact_match(normalize=True)])
    """
    norm = _normalizer(normalize)

    def fn(row: Row) -> Score:
        answer = norm(text(row.answer))
        for ref in references(row.expected):
            if norm(ref) == answer:
                return Score(1.0, reason="matches the expected answer")
        return Score(0.0, reason="differs from the expected answer")

    return FunctionMetric(
        name,
        fn,
        requires=("answer", "expected"),
        threshold=threshold,
        settings={"normalize": getattr(normalize, "__name__", normalize)},
    )


def _squad_tokens(value: str) -> list[str]:
    """``squad_normalize(value).split()``, without joining and splitting again."""
    return _ARTICLES.sub(" ", value.lower().translate(_PUNCTUATION)).split()


def _f1(prediction: str, truth: str) -> float:
    pred = _squad_tokens(prediction)
    gold = _squad_tokens(truth)
    if not pred or not gold:
        return float(pred == gold)
    left: dict[str, int] = {}  # sum((Counter(pred) & Counter(gold)).values()), faster
    for token in gold:
        left[token] = left.get(token, 0) + 1
    same = 0
    for token in pred:
        if left.get(token):
            left[token] -= 1
            same += 1
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def token_f1(*, name: str = "token_f1", threshold: float | None = None) -> FunctionMetric:
    """SQuAD token F1 between the answer and the expected text (best over several).

    Tokens are the words after SQuAD normalisation; two empty texts score 1.0, one empty 0.0.

    Example:
        >>> metrics.token_f1().score(Row(0, answer="the Eiffel tower", expected="Eiffel")).value
        0.6666666666666666
    """

    def fn(row: Row) -> float:
        answer = text(row.answer)
        return max(_f1(answer, ref) for ref in references(row.expected))

    return FunctionMetric(name, fn, requires=("answer", "expected"), threshold=threshold)


_ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
#: Result names: the name `rouge_l` and ``llmtrace eval run -m rouge_l`` go by (one name
#: from the command line to the logged metric and ``eval compare --metric``).
_ROUGE_NAMES = {"rougeL": "rouge_l"}


def rouge(
    kind: str = "rougeL",
    *,
    use_stemmer: bool = False,
    measure: str = "fmeasure",
    name: str | None = None,
    threshold: float | None = None,
) -> FunctionMetric:
    """ROUGE of the answer against the expected text, as the ``rouge-score`` package computes it.

    Args:
        kind: ``"rouge1"``, ``"rouge2"`` or ``"rougeL"`` (``rougeLsum`` is left out: it needs
            NLTK's sentence splitter data, a download).
        use_stemmer: Porter stemming, as ``RougeScorer(use_stemmer=...)``.
        measure: ``"fmeasure"`` (default), ``"precision"`` or ``"recall"``.
        name: the result name; default ``rouge1``, ``rouge2``, ``rouge_l``.

    With several expected texts the best (``RougeScorer.score_multi``) counts.

    Example:
        >>> evaluate(rows, [metrics.rouge("rouge1"), metrics.rouge("rougeL", use_stemmer=True)])
    """
    if kind not in _ROUGE_TYPES:
        raise ValueError(f"rouge kind must be one of {', '.join(_ROUGE_TYPES)}, got {kind!r}")
    if measure not in ("fmeasure", "precision", "recall"):
        raise ValueError(f"measure must be fmeasure, precision or recall, got {measure!r}")
    scorer: list[Any] = []

    def fn(row: Row) -> float:
        if not scorer:
            from rouge_score.rouge_scorer import RougeScorer  # imports NLTK: ~1 s, once

            scorer.append(RougeScorer([kind], use_stemmer=use_stemmer))
        refs = references(row.expected)
        answer = text(row.answer)
        tokenizer = getattr(scorer[0], "_tokenizer", None)
        if kind == "rougeL" and tokenizer is not None:  # same numbers, ~5x faster
            tokenize = tokenizer.tokenize if use_stemmer else _rouge_tokens
            return _rouge_l(tokenize, refs, answer)[measure]
        if len(refs) == 1:
            result = scorer[0].score(refs[0], answer)[kind]
        else:
            result = scorer[0].score_multi(refs, answer)[kind]
        return float(getattr(result, measure))

    return FunctionMetric(
        name or _ROUGE_NAMES.get(kind, kind),
        fn,
        requires=("answer", "expected"),
        threshold=threshold,
        settings={"use_stemmer": use_stemmer, "measure": measure},
    )


_ALNUM_RUNS = re.compile(r"[a-z0-9]+")


def _rouge_tokens(value: str) -> list[str]:
    """rouge-score's tokens without stemming: lower case, runs of ``[a-z0-9]`` (its
    ``tokenize.tokenize`` replaces everything else by spaces, splits, drops empty tokens)."""
    return _ALNUM_RUNS.findall(value.lower())


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence of two token lists (bit-parallel, Hyyrö 2004).

    Bit ``i`` of ``v`` is cleared once ``a[i]`` is matched; each token of ``b`` updates all the
    bits at once, so the cost is ``len(b)`` big-integer operations instead of a
    ``len(a) x len(b)`` table (the same integer as rouge-score's ``_lcs_table``).

    Example:
        >>> lcs_length("the cat sat on the mat".split(), "the cat is on the mat".split())
        5
    """
    masks: dict[str, int] = {}
    for i, token in enumerate(a):
        masks[token] = masks.get(token, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for token in b:
        match = masks.get(token)
        if match:
            u = v & match
            v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def _rouge_l(
    tokenize: Callable[[str], list[str]], refs: list[str], answer: str
) -> dict[str, float]:
    """rouge-score's ``_score_lcs`` (best F over several references, first one on ties)."""
    prediction = tokenize(answer)
    best: dict[str, float] | None = None
    for ref in refs:
        target = tokenize(ref)
        if not target or not prediction:
            score = {"precision": 0.0, "recall": 0.0, "fmeasure": 0.0}
        else:
            lcs = lcs_length(target, prediction)
            precision, recall = lcs / len(prediction), lcs / len(target)
            fmeasure = (
                2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
            )
            score = {"precision": precision, "recall": recall, "fmeasure": fmeasure}
        if best is None or score["fmeasure"] > best["fmeasure"]:
            best = score
    assert best is not None  # references() never returns an empty list
    return best


def rouge1(**kwargs: Any) -> FunctionMetric:
    """`rouge` with ``kind="rouge1"`` (unigram overlap F-measure)."""
    return rouge("rouge1", **kwargs)


def rouge2(**kwargs: Any) -> FunctionMetric:
    """`rouge` with ``kind="rouge2"`` (bigram overlap F-measure)."""
    return rouge("rouge2", **kwargs)


def rouge_l(**kwargs: Any) -> FunctionMetric:
    """`rouge` with ``kind="rougeL"`` (longest common subsequence F-measure)."""
    return rouge("rougeL", **kwargs)


#: sacrebleu tokenizers that need no model download.
_BLEU_TOKENIZERS = ("13a", "none", "intl", "char", "zh")


def bleu(
    *,
    tokenize: str = "13a",
    smooth_method: str = "exp",
    smooth_value: float | None = None,
    lowercase: bool = False,
    name: str = "bleu",
    threshold: float | None = None,
) -> FunctionMetric:
    """sacrebleu's sentence BLEU of the answer against the expected text(s), scaled to 0..1.

    The value is ``sacrebleu.sentence_bleu(answer, expected, ...).score / 100`` (same defaults:
    13a tokenizer, exponential smoothing, effective order); ``details["sacrebleu"]`` keeps the
    0..100 score. All expected texts are references at once, as BLEU intends.

    Example:
        >>> evaluate(rows, [metrics.bleu()])
    """
    if tokenize not in _BLEU_TOKENIZERS:
        raise ValueError(
            f"tokenize must be one of {', '.join(_BLEU_TOKENIZERS)} (the others download "
            f"models), got {tokenize!r}"
        )
    scorer: list[Any] = []

    def fn(row: Row) -> Score:
        if not scorer:
            from sacrebleu.metrics import BLEU

            scorer.append(
                BLEU(
                    lowercase=lowercase,
                    tokenize=tokenize,
                    smooth_method=smooth_method,
                    smooth_value=smooth_value,
                    effective_order=True,
                )
            )
        result = scorer[0].sentence_score(text(row.answer), references(row.expected))
        return Score(result.score / 100, details={"sacrebleu": result.score})

    return FunctionMetric(
        name,
        fn,
        requires=("answer", "expected"),
        threshold=threshold,
        settings={"tokenize": tokenize, "smooth_method": smooth_method, "lowercase": lowercase},
    )


def contains(
    value: str | None = None,
    *,
    case_sensitive: bool = True,
    name: str = "contains",
    threshold: float | None = 1.0,
) -> FunctionMetric:
    """1.0 when the answer contains ``value`` — or, without one, the expected text (any of them).

    Example:
        >>> metrics.contains("Paris").score(Row(0, answer="It is Paris.")).value
        1.0
    """
    fold = (lambda s: s) if case_sensitive else str.casefold

    def fn(row: Row) -> Score:
        answer = fold(text(row.answer))
        wanted = [value] if value is not None else references(row.expected)
        for item in wanted:
            if fold(item) in answer:
                return Score(1.0, reason=f"contains {item!r}")
        return Score(0.0, reason=f"contains none of {wanted!r}")

    return FunctionMetric(
        name,
        fn,
        requires=("answer",) if value is not None else ("answer", "expected"),
        threshold=threshold,
        settings={"value": value, "case_sensitive": case_sensitive},
    )


def regex(
    pattern: str,
    *,
    flags: int = 0,
    full_match: bool = False,
    name: str = "regex",
    threshold: float | None = 1.0,
) -> FunctionMetric:
    """1.0 when the answer matches ``pattern`` (``re.search``; ``full_match=True`` for all of it).

    Example:
        >>> metrics.regex(r"\\d{4}-\\d{2}-\\d{2}", name="has_date")
    """
    try:
        compiled = re.compile(pattern, flags)
    except re.error as exc:
        raise ValueError(f"regex pattern {pattern!r} is invalid: {exc}") from exc
    match = compiled.fullmatch if full_match else compiled.search

    def fn(row: Row) -> Score:
        found = match(text(row.answer))
        if found:
            return Score(1.0, reason=f"matches at {found.start()}: {found.group(0)[:80]!r}")
        return Score(0.0, reason=f"no match for {pattern!r}")

    return FunctionMetric(
        name,
        fn,
        requires=("answer",),
        threshold=threshold,
        settings={"pattern": pattern, "full_match": full_match},
    )


def levenshtein(
    *,
    normalize: bool | Callable[[str], str] = False,
    name: str = "levenshtein",
    threshold: float | None = None,
) -> FunctionMetric:
    """Normalised Levenshtein similarity (1 - distance / longer length; rapidfuzz).

    1.0 for identical texts, 0.0 for nothing in common; best over several expected texts.

    Example:
        >>> metrics.levenshtein().score(Row(0, answer="kitten", expected="sitting")).value
        0.5714285714285714
    """
    norm = _normalizer(normalize)

    def fn(row: Row) -> float:
        from rapidfuzz.distance import Levenshtein

        answer = norm(text(row.answer))
        return max(
            Levenshtein.normalized_similarity(answer, norm(ref)) for ref in references(row.expected)
        )

    return FunctionMetric(name, fn, requires=("answer", "expected"), threshold=threshold)


def answer_length(
    unit: str = "words", *, name: str | None = None, threshold: float | None = None
) -> FunctionMetric:
    """Length of the answer in ``"words"`` (whitespace-separated) or ``"chars"``.

    (LLM tokens spent are read from traces by `tokens`; counting a model's tokens here would
    need its tokenizer files, a download.)

    Example:
        >>> metrics.answer_length("chars").score(Row(0, answer="Paris.")).value
        6.0
    """
    if unit not in ("words", "chars"):
        raise ValueError(f"unit must be 'words' or 'chars', got {unit!r}")

    def fn(row: Row) -> float:
        answer = text(row.answer)
        return float(len(answer.split()) if unit == "words" else len(answer))

    return FunctionMetric(
        name or f"answer_{unit}",
        fn,
        requires=("answer",),
        threshold=threshold,
        settings={"unit": unit},
    )
