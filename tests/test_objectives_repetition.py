"""RepetitionPenalty: exact counts of repeated n-grams of words or tokens."""
import pytest

from textsearch.objectives import Batch, RepetitionPenalty
from textsearch.objectives.repetition import repeated_ngrams


def test_repeated_ngram_counts():
    assert repeated_ngrams("the cat saw the cat".split(), 2) == 1
    assert repeated_ngrams("the cat the cat the cat".split(), 2) == 3      # 5 bigrams, 2 distinct
    assert repeated_ngrams("a b c d".split(), 2) == 0
    assert repeated_ngrams("a a a a".split(), 1) == 3
    assert repeated_ngrams("a a a a".split(), 3) == 1
    assert repeated_ngrams(["a"], 2) == 0 and repeated_ngrams([], 2) == 0


def test_words_are_case_insensitive_and_weighted():
    texts = ["The cat saw the cat.", "The CAT, the cat!", "a b c", ""]
    energies = RepetitionPenalty(n=2, weight=1.5).energy(Batch([[]] * len(texts), texts=texts))
    assert energies.tolist() == [1.5, 1.5, 0.0, 0.0]


def test_tokens(tiny_lm):
    ids = [[5, 6, 5, 6, 5], [5, 5, 5], []]
    assert RepetitionPenalty(n=2, unit="tokens").energy(Batch(ids)).tolist() == [2.0, 1.0, 0.0]
    assert RepetitionPenalty(n=1, unit="tokens", tokenizer=tiny_lm.tokenizer)(["the the dog dog dog"]).tolist() \
        == [3.0]


@pytest.mark.parametrize("kwargs, match", [
    ({"n": 0}, "n must"), ({"n": 1.5}, "n must"), ({"weight": -2}, "weight"), ({"unit": "letters"}, "unit"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RepetitionPenalty(**kwargs)
