"""Prefix reuse gives the plain forward's log-probs, and finds the prefixes that rows share."""
from __future__ import annotations

import random

import pytest
import torch

from textsearch.prefix_cache import plan_reuse, saved_tokens, shared_prefix_lengths

from conftest import make_tiny_lm


@pytest.fixture(autouse=True)
def single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def candidate_batch(rng: random.Random, vocab: range, chains: int = 3) -> list[list[int]]:
    """What a sampler step scores: per chain, several one-token edits at one place of its sentence."""
    rows = []
    for _ in range(chains):
        sentence = [rng.choice(vocab) for _ in range(rng.randrange(1, 12))]
        place = rng.randrange(0, len(sentence) + 1)
        replace = rng.random() < 0.5 and place < len(sentence)
        rows += [sentence[:place] + [rng.choice(vocab)] + sentence[place + replace:] for _ in range(rng.randrange(1, 7))]
    return rows + [[rng.choice(vocab)]]                    # a one-token row: nothing to share but the start


def score(lm, rows, reuse: bool):
    lm.prefix_reuse = reuse
    return lm._score(rows)


@pytest.mark.parametrize("token_budget", [24, 4096])
def test_reuse_matches_plain_forward(token_budget):
    lm = make_tiny_lm(token_budget=token_budget)
    rng = random.Random(token_budget)
    vocab = range(5, lm.vocab_size)
    reused = 0
    for _ in range(25):
        rows = candidate_batch(rng, vocab)
        reused += plan_reuse([[lm.start_id] + r for r in rows]) is not None
        plain_lp, plain_last = score(lm, rows, reuse=False)
        shared_lp, shared_last = score(lm, rows, reuse=True)
        assert [len(t) for t in shared_lp] == [len(r) for r in rows]
        for a, b in zip(plain_lp, shared_lp):
            torch.testing.assert_close(b, a, atol=1e-4, rtol=0)
        torch.testing.assert_close(shared_last, plain_last, atol=1e-4, rtol=0)
    assert reused >= 15, "the candidate batches should mostly take the prefix path"


def test_public_scores_unchanged_by_reuse(tiny_lm):
    texts = ["the cat sat on the mat", "the cat sat on a mat", "the cat ran", "the dog sat on the mat ."]
    plain = score(tiny_lm, [tiny_lm.encode(t) for t in texts], reuse=False)[0]
    tiny_lm.prefix_reuse = True
    torch.testing.assert_close(tiny_lm.log_prob(texts), torch.stack([p.sum() for p in plain]), atol=1e-4, rtol=0)


def test_shared_prefixes_found():
    rows = [[1, 5, 6, 7], [1, 5, 6, 8], [1, 5, 9], [1, 2], [1, 5, 6, 7, 3]]
    lengths = shared_prefix_lengths(rows)
    assert lengths == [3, 3, 2, 1, 4]       # [1,5,6,7] shares 4 with its extension but must keep a token to score
    assert saved_tokens(rows, lengths) == 3                  # (1, 5, 6) runs once instead of twice


def test_plain_path_where_reuse_does_not_pay():
    assert plan_reuse([[1, 2, 3, 4], [1, 5, 6, 7], [1, 8, 9, 10]]) is None       # only the start token shared
    assert plan_reuse([[1, 2, 3, 4]]) is None
    assert plan_reuse([[1], [1, 2, 3]]) is None                               # a row with nothing after the start
    assert plan_reuse([[1, 2, 3, 4, 5], [1, 2, 3, 4, 6]]) == [4, 4]


@pytest.mark.slow
def test_reuse_matches_plain_forward_on_the_real_model(default_lm):
    rng = random.Random(0)
    words = "The dog caught a red frisbee in the park while children were playing near the old tree".split()
    rows = []
    for _ in range(6):
        sentence = default_lm.encode(" ".join(rng.sample(words, rng.randrange(6, len(words)))))
        place = rng.randrange(0, len(sentence))
        rows += [sentence[:place] + [rng.randrange(300, 20000)] + sentence[place + 1:] for _ in range(8)]
    assert plan_reuse([[default_lm.start_id] + r for r in rows]) is not None
    plain_lp, plain_last = score(default_lm, rows, reuse=False)
    shared_lp, shared_last = score(default_lm, rows, reuse=True)
    default_lm.prefix_reuse = True
    for a, b in zip(plain_lp, shared_lp):
        torch.testing.assert_close(b, a, atol=1e-3, rtol=0)
    torch.testing.assert_close(shared_last, plain_last, atol=1e-3, rtol=0)
