"""LengthPrior: exact values in words and tokens, bounds, bad arguments."""
import math

import pytest

from textsearch.objectives import Batch, LengthPrior

TEXTS = ["one", "one two three", "one, two; three four five!", "", "我喜欢猫"]   # 1, 3, 5, 0, 4 words


def energies(prior, texts=TEXTS):
    return prior.energy(Batch([[]] * len(texts), texts=texts)).tolist()


def test_laplace_around_the_target_in_words():
    assert energies(LengthPrior(target=3, weight=0.5)) == [1.0, 0.0, 1.0, 1.5, 0.5]


def test_bounds_forbid_outside_and_are_inclusive():
    assert energies(LengthPrior(min_len=1, max_len=4)) == [0.0, 0.0, math.inf, math.inf, 0.0]
    assert energies(LengthPrior(min_len=3)) == [math.inf, 0.0, 0.0, math.inf, 0.0]
    assert energies(LengthPrior(max_len=3, target=2, weight=2.0)) == [2.0, 2.0, math.inf, 4.0, math.inf]


def test_tokens_of_the_batch_or_of_a_tokenizer(tiny_lm):
    ids = [tiny_lm.encode(t) for t in ["the cat", "the cat sat on the mat ."]]      # 2 and 7 tokens
    assert LengthPrior(target=4, unit="tokens").energy(Batch(ids)).tolist() == [2.0, 3.0]
    assert LengthPrior(target=4, unit="tokens", tokenizer=tiny_lm.tokenizer)(["the cat", "the cat sat"]).tolist() \
        == [2.0, 1.0]


@pytest.mark.parametrize("kwargs, match", [
    ({}, "give min_len"),
    ({"min_len": 5, "max_len": 2}, "larger"),
    ({"min_len": 2, "max_len": 5, "target": 7}, "outside"),
    ({"target": -1}, "non-negative"),
    ({"max_len": 2.5}, "integer"),
    ({"target": 3, "weight": -1}, "weight"),
    ({"target": 3, "unit": "chars"}, "unit"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LengthPrior(**kwargs)
