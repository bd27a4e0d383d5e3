"""Text metrics: parity with rouge-score and sacrebleu, and hand-computed small cases."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from evals import Row, Score, metrics

PAIRS = [
    ("the cat sat on the mat", "the cat is on the mat"),
    ("The quick brown fox jumps over the lazy dog.", "A quick brown dog jumps over the lazy fox!"),
    ("Paris is the capital and largest city of France.", "Paris is the capital of France."),
    ("running runs runner", "the runner was running"),
    ("completely different words here", "nothing in common at all"),
    ("", "an empty prediction"),
    ("Numbers 1, 2 and 3.", "numbers 1 2 3"),
    ("café naïve résumé", "cafe naive resume"),
]


def row(answer: object = None, expected: object = None, **kw: object) -> Row:
    return Row(index=0, answer=answer, expected=expected, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["rouge1", "rouge2", "rougeL"])
@pytest.mark.parametrize("stem", [False, True])
@pytest.mark.parametrize(("answer", "expected"), PAIRS)
def test_rouge_equals_rouge_score(kind: str, stem: bool, answer: str, expected: str) -> None:
    want = rouge_scorer.RougeScorer([kind], use_stemmer=stem).score(expected, answer)[kind]
    for measure in ("fmeasure", "precision", "recall"):
        got = metrics.rouge(kind, use_stemmer=stem, measure=measure).score(row(answer, expected))
        assert got.value == getattr(want, measure)


def test_rouge_hand_computed() -> None:
    # 5 of 6 unigrams shared both ways -> P = R = F = 5/6; LCS "the cat on the mat" = 5 tokens
    score = metrics.rouge1().score(row("the cat sat on the mat", "the cat is on the mat"))
    assert score.value == pytest.approx(5 / 6)
    assert metrics.rouge_l().score(row("the cat sat on the mat", "the cat is on the mat")).value
    # bigrams: the-cat, on-the, the-mat shared of 5 each -> 3/5
    assert metrics.rouge2().score(row("the cat sat on the mat", "the cat is on the mat")).value == (
        pytest.approx(3 / 5)
    )


def test_rouge_several_references_takes_the_best() -> None:
    refs = ["nothing alike", "the cat sat on the mat"]
    want = rouge_scorer.RougeScorer(["rougeL"]).score_multi(refs, "the cat sat on the mat")
    got = metrics.rouge_l().score(row("the cat sat on the mat", refs)).value
    assert got == want["rougeL"].fmeasure == 1.0


def test_rouge_rejects_lsum_which_would_need_a_download() -> None:
    with pytest.raises(ValueError, match="must be one of"):
        metrics.rouge("rougeLsum")


@pytest.mark.parametrize(("answer", "expected"), PAIRS)
def test_bleu_equals_sacrebleu_sentence_bleu(answer: str, expected: str) -> None:
    want = sacrebleu.sentence_bleu(answer, [expected])
    got = metrics.bleu().score(row(answer, expected))
    assert got.value == want.score / 100
    assert got.details["sacrebleu"] == want.score


def test_bleu_options_and_several_references_match_sacrebleu() -> None:
    refs = ["The cat is on the mat.", "There is a cat on the mat."]
    hyp = "the cat sat on the mat"
    for kwargs in ({}, {"lowercase": True}, {"tokenize": "intl"}, {"smooth_method": "floor"}):
        want = sacrebleu.sentence_bleu(hyp, refs, **kwargs).score / 100  # type: ignore[arg-type]
        assert metrics.bleu(**kwargs).score(row(hyp, refs)).value == want  # type: ignore[arg-type]


def test_bleu_refuses_tokenizers_that_download() -> None:
    with pytest.raises(ValueError, match="download"):
        metrics.bleu(tokenize="flores200")


def test_exact_match_strict_and_normalised() -> None:
    strict, loose = metrics.exact_match(), metrics.exact_match(normalize=True)
    assert strict.score(row("Paris", "Paris")).value == 1.0
    assert strict.score(row("The Paris!", "paris")).value == 0.0
    assert loose.score(row("The Paris!", "paris")).value == 1.0
    assert loose.score(row("Lyon", ["paris", "lyon"])).value == 1.0
    custom = metrics.exact_match(normalize=str.strip)
    assert custom.score(row("  x ", "x")).value == 1.0


@pytest.mark.parametrize(
    ("answer", "expected", "f1"),
    [
        ("the Eiffel tower", "Eiffel", 2 * 0.5 * 1 / 1.5),  # P=1/2, R=1
        ("x b c", "b c d e", 2 * (2 / 3) * (2 / 4) / (2 / 3 + 2 / 4)),
        ("a b c", "b c d e", 2 * 1 * (2 / 4) / (1 + 2 / 4)),  # "a" is an article: dropped
        ("The cat.", "cat", 1.0),  # articles and punctuation dropped
        ("x", "y", 0.0),
        ("the", "a", 1.0),  # both empty after normalisation: SQuAD gives 1
        ("the", "cat", 0.0),  # one empty: 0
        ("cat cat dog", "cat dog dog", 2 * (2 / 3) * (2 / 3) / (4 / 3)),  # counted overlap
    ],
)
def test_token_f1_hand_computed(answer: str, expected: str, f1: float) -> None:
    assert metrics.token_f1().score(row(answer, expected)).value == pytest.approx(f1)


def test_token_f1_best_of_several_expected() -> None:
    assert metrics.token_f1().score(row("blue whale", ["red", "blue whale"])).value == 1.0


def test_squad_normalize() -> None:
    assert metrics.squad_normalize("  The Eiffel,   Tower! ") == "eiffel tower"


def test_contains_regex_levenshtein_length() -> None:
    assert metrics.contains("paris", case_sensitive=False).score(row("It is PARIS.")).value == 1.0
    assert metrics.contains("paris").score(row("It is PARIS.")).value == 0.0
    assert metrics.contains().score(row("It is Paris.", "Paris")).value == 1.0
    date = metrics.regex(r"\d{4}-\d{2}-\d{2}")
    assert date.score(row("on 2024-05-01")).value == 1.0
    assert date.score(row("tomorrow")).value == 0.0
    assert metrics.regex(r"\d+", full_match=True).score(row("12a")).value == 0.0
    # kitten -> sitting: 3 edits over the longer length 7
    assert metrics.levenshtein().score(row("kitten", "sitting")).value == pytest.approx(1 - 3 / 7)
    assert metrics.levenshtein().score(row("same", "same")).value == 1.0
    assert metrics.answer_length().score(row("three words here")).value == 3.0
    assert metrics.answer_length("chars").score(row("Paris.")).value == 6.0


def test_invalid_regex_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="invalid"):
        metrics.regex("(unclosed")


def test_json_valid_and_schema() -> None:
    assert metrics.json_valid().score(row('{"a": 1}')).value == 1.0
    assert metrics.json_valid().score(row({"a": 1})).value == 1.0
    bad = metrics.json_valid().score(row("{a: 1}"))
    assert bad.value == 0.0 and "not valid JSON" in (bad.reason or "")
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "pop": {"type": "integer"}},
        "required": ["city"],
    }
    check = metrics.json_schema(schema)
    assert check.score(row('{"city": "Paris", "pop": 2}')).value == 1.0
    missing = check.score(row('{"town": "Paris"}'))
    assert missing.value == 0.0 and "'city' is a required property" in (missing.reason or "")
    wrong = check.score(row('{"city": "Paris", "pop": "many"}'))
    assert wrong.value == 0.0 and (wrong.reason or "").startswith("$.pop:")
    with pytest.raises(ValueError, match="schema itself is invalid"):
        metrics.json_schema({"type": "no-such-type"})


def test_missing_field_is_an_error_not_nan() -> None:
    for metric in (metrics.exact_match(), metrics.token_f1(), metrics.rouge_l(), metrics.bleu()):
        score = metric.score(row("an answer", None))
        assert score.value is None
        assert score.error is not None and "missing expected" in score.error
        assert "ground_truth" in score.error  # names the accepted columns


def test_scores_are_never_nan() -> None:
    for answer, expected in PAIRS:
        for metric in (metrics.token_f1(), metrics.rouge_l(), metrics.bleu()):
            value = metric.score(row(answer, expected)).value
            assert isinstance(value, float) and not math.isnan(value)
    assert isinstance(metrics.exact_match().score(row("a", "a")), Score)


def test_metrics_work_with_the_network_cut_off(tmp_path: Path) -> None:
    """Every deterministic metric scores a row with sockets refused and no NLTK data around."""
    code = """
import socket
def refuse(*args, **kwargs):
    raise OSError("network used")
socket.socket.connect = refuse
socket.create_connection = refuse
from evals import Row, metrics
row = Row(0, answer='{"city": "Paris"}', expected="Paris is nice", contexts=["a b"],
          reference_contexts=["a b c"], context_ids=["1"], reference_context_ids=["1"],
          tool_calls=[{"name": "t"}], expected_tool_calls=[{"name": "t"}])
made = [metrics.exact_match(normalize=True), metrics.token_f1(), metrics.rouge1(use_stemmer=True),
        metrics.rouge2(), metrics.rouge_l(), metrics.bleu(), metrics.bleu(tokenize="intl"),
        metrics.contains(), metrics.regex("P"), metrics.levenshtein(), metrics.answer_length(),
        metrics.json_valid(), metrics.json_schema({"type": "object"}),
        metrics.non_llm_context_precision(), metrics.non_llm_context_recall(),
        metrics.id_based_context_precision(), metrics.id_based_context_recall(),
        metrics.tool_call_accuracy(), metrics.tool_call_f1(), metrics.trajectory_match()]
for m in made:
    score = m.score(row)
    assert score.error is None and score.value is not None, (m.name, score)
print(len(made))
"""
    env = {**os.environ, "NLTK_DATA": str(tmp_path), "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "20"
