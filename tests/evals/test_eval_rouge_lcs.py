"""ROUGE-L's fast LCS (bit-parallel) gives rouge-score's numbers on many random cases."""

from __future__ import annotations

import random

import pytest
from rouge_score.rouge_scorer import RougeScorer, _lcs_table

from evals import Row, metrics
from evals.metrics._text import lcs_length

WORDS = "the cat sat on mat dog ran a big red Fish, running runs ran! 42 é über".split()


def test_lcs_length_equals_the_dynamic_programming_table() -> None:
    rng = random.Random(1)
    for _ in range(2000):
        a = rng.choices(WORDS, k=rng.randint(0, 70))  # beyond 64 tokens: big integers
        b = rng.choices(WORDS, k=rng.randint(0, 70))
        assert lcs_length(a, b) == (_lcs_table(a, b)[-1][-1] if a and b else 0)


@pytest.mark.parametrize("stem", [False, True])
def test_rouge_l_equals_rouge_score_on_random_texts(stem: bool) -> None:
    rng = random.Random(2)
    scorer = RougeScorer(["rougeL"], use_stemmer=stem)
    ours = {m: metrics.rouge_l(use_stemmer=stem, measure=m) for m in ("precision", "recall")}
    ours["fmeasure"] = metrics.rouge_l(use_stemmer=stem)
    for _ in range(500):
        answer = " ".join(rng.choices(WORDS, k=rng.randint(0, 20)))
        refs = [
            " ".join(rng.choices(WORDS, k=rng.randint(0, 20))) for _ in range(rng.randint(1, 3))
        ]
        if len(refs) == 1:
            want = scorer.score(refs[0], answer)["rougeL"]
        else:
            want = scorer.score_multi(refs, answer)["rougeL"]
        expected = refs[0] if len(refs) == 1 else refs
        for measure, metric in ours.items():
            got = metric.score(Row(0, answer=answer, expected=expected)).value
            assert got == float(getattr(want, measure)), (answer, refs, measure)
