"""Rows run as token trees give the plain forward's log-probs, each distinct prefix run once."""
from __future__ import annotations

import random

import pytest
import torch

from textsearch.lm.tree import Tree, tree_chunks

from exact_targets import single_thread  # noqa: F401  (autouse: one thread)
from conftest import make_tiny_lm, plain as plain_lm, scored


def candidate_batch(rng: random.Random, vocab: range, chains: int = 3) -> list[list[int]]:
    """What a sampler step scores: per chain, several one-token edits at one place of its sentence."""
    rows = []
    for _ in range(chains):
        sentence = [rng.choice(vocab) for _ in range(rng.randrange(1, 12))]
        place = rng.randrange(0, len(sentence) + 1)
        replace = rng.random() < 0.5 and place < len(sentence)
        rows += [sentence[:place] + [rng.choice(vocab)] + sentence[place + replace:] for _ in range(rng.randrange(1, 7))]
    return rows + [[rng.choice(vocab)]]                    # a one-token row: nothing to share but the start


def score(lm, rows, reuse: bool, with_last: bool = True):
    """Token log-probs and (`with_last`) the distributions after the rows, as trees or plain forwards."""
    lm = lm if reuse else plain_lm(lm)
    return scored(lm, rows) if with_last else (lm.token_log_probs(rows), None)


@pytest.mark.parametrize("token_budget", [24, 4096])
def test_tree_matches_plain_forward(token_budget):
    lm = make_tiny_lm(token_budget=token_budget)
    rng = random.Random(token_budget)
    vocab = range(5, lm.vocab_size)
    for _ in range(25):
        rows = candidate_batch(rng, vocab)
        plain_lp, plain_last = score(lm, rows, reuse=False)
        tree_lp, tree_last = score(lm, rows, reuse=True)
        assert [len(t) for t in tree_lp] == [len(r) for r in rows]
        for a, b in zip(plain_lp, tree_lp):
            torch.testing.assert_close(b, a, atol=1e-4, rtol=0)
        torch.testing.assert_close(tree_last, plain_last, atol=1e-4, rtol=0)


def test_public_scores_unchanged_by_reuse(tiny_lm):
    texts = ["the cat sat on the mat", "the cat sat on a mat", "the cat ran", "the dog sat on the mat ."]
    plain = score(tiny_lm, [tiny_lm.encode(t) for t in texts], reuse=False)[0]
    torch.testing.assert_close(tiny_lm.log_prob(texts), torch.stack([p.sum() for p in plain]), atol=1e-4, rtol=0)


def test_a_tree_holds_each_distinct_prefix_once():
    rows = [[1, 5, 6, 7], [1, 5, 6, 8], [1, 5, 9], [1, 2], [1, 5, 6, 7, 3]]
    tree = Tree.of(rows, [0] * len(rows))
    assert len(tree) == 8                    # 1 · 15 · 156 · 1567 · 1568 · 159 · 12 · 15673
    assert [[tree.tokens[n] for n in nodes] for nodes in tree.nodes] == rows
    assert [[tree.positions[n] for n in nodes] for nodes in tree.nodes] == [list(range(len(r))) for r in rows]
    sees = tree.allowed(None)
    for row, nodes in zip(rows, tree.nodes):
        for k, node in enumerate(nodes):
            assert set(sees[node].nonzero()[:, 0].tolist()) == set(nodes[: k + 1])     # its own row's tokens so far


def test_tree_chunks_keep_within_the_budget_and_group_rows_that_begin_alike():
    rows = [[1, 2, 3, 4], [1, 9, 9, 9], [1, 2, 3, 5], [1, 9, 9, 8], [1, 2, 3, 4, 5, 6, 7, 8]]
    chunks = tree_chunks(rows, budget=8)
    assert sorted(i for chunk in chunks for i in chunk) == list(range(len(rows)))
    for chunk in chunks:
        assert len(Tree.of([rows[i] for i in chunk], [0] * len(chunk))) <= 8
    assert any({1, 3} <= set(chunk) for chunk in chunks)                 # 1 9 9 · shared
    assert tree_chunks([[1, 2, 3, 4, 5]], budget=2) == [[0]]            # a row longer than the budget runs alone


def test_tree_chunks_count_only_the_tokens_after_a_past():
    rows = [[1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 7], [1, 8, 9, 9, 9, 9], [1, 8, 9, 9, 9, 8]]
    held = [4, 4, 0, 3]
    assert len(Tree.of(rows, held)) == 10                                # 2 + 1 + 4 + 3 nodes
    assert [sorted(chunk) for chunk in tree_chunks(rows, budget=10, held=held)] == [[0, 1, 2, 3]]
    assert len(tree_chunks(rows, budget=9, held=held)) == 2
    assert len(tree_chunks(rows, budget=10)) == 2                        # without a past: 13 nodes


def test_rows_scored_without_the_distribution_after_them_run_no_node_for_their_last_token(tiny_lm):
    """A token's log p comes from the state before it: without `with_last` a row's last token runs only
    where another row goes on from it."""
    rows = [[5, 6, 7, 8], [5, 6, 7, 9], [5, 6, 7], [10, 11], [12]]
    inputs = []
    handle = tiny_lm.model.register_forward_pre_hook(
        lambda module, args, kwargs: inputs.append(kwargs["input_ids"].shape[1]), with_kwargs=True)
    try:
        tree_lp, last = score(tiny_lm, rows, reuse=True, with_last=False)
    finally:
        handle.remove()
    assert last is None
    assert inputs == [5]                     # start, 5, 6, 7 and 10; not 8, 9, 11, 12 (all nine with_last)
    for a, b in zip(score(tiny_lm, rows, reuse=False, with_last=False)[0], tree_lp):
        torch.testing.assert_close(b, a, atol=1e-4, rtol=0)
    assert [len(lp) for lp in tree_lp] == [len(r) for r in rows]


def test_kept_prefixes_spare_the_prefix_forward(tiny_lm):
    """What a proposal does: the next-token distribution at each slot, then the sentences that fill
    the slots, scored in one forward of the suffixes against the kept prefixes."""
    states = [[5, 6, 7, 8, 9, 10], [11, 12, 13], [6, 6, 7, 8]]
    slots = [2, 1, 3]
    prefixes = [s[:i] for s, i in zip(states, slots)]
    rows = [p + [c] + s[i + 1:] for p, s, i in zip(prefixes, states, slots) for c in (14, 15, 16, 17)]
    plain = score(tiny_lm, rows, reuse=False)
    with tiny_lm.session():                                       # as in a sampler run
        after = tiny_lm.next_token_log_probs(prefixes)
        forwards = []
        hook = tiny_lm.model.register_forward_hook(lambda module, args, kwargs_out: forwards.append(1))
        try:
            reused = scored(tiny_lm, rows)
        finally:
            hook.remove()
    assert len(forwards) == 1
    for a, b in zip(plain[0], reused[0]):
        torch.testing.assert_close(b, a, atol=1e-4, rtol=0)
    torch.testing.assert_close(reused[1], plain[1], atol=1e-4, rtol=0)
    torch.testing.assert_close(after, score(tiny_lm, prefixes, reuse=False)[1], atol=1e-4, rtol=0)


@pytest.mark.slow
def test_reuse_matches_plain_forward_on_the_real_model(default_lm):
    rng = random.Random(0)
    words = "The dog caught a red frisbee in the park while children were playing near the old tree".split()
    rows, prefixes = [], []
    for _ in range(6):
        sentence = default_lm.encode(" ".join(rng.sample(words, rng.randrange(6, len(words)))))
        place = rng.randrange(0, len(sentence))
        prefixes.append(sentence[:place])
        rows += [sentence[:place] + [rng.randrange(300, 20000)] + sentence[place + 1:] for _ in range(8)]
    plain_lp, plain_last = score(default_lm, rows, reuse=False)
    shared_lp, shared_last = score(default_lm, rows, reuse=True)
    with default_lm.session():
        default_lm.next_token_log_probs(prefixes)              # kept: the next scoring runs suffixes only
        kept_lp, kept_last = scored(default_lm, rows)
    for a, b, c in zip(plain_lp, shared_lp, kept_lp):
        torch.testing.assert_close(b, a, atol=1e-3, rtol=0)
        torch.testing.assert_close(c, a, atol=1e-3, rtol=0)
    torch.testing.assert_close(shared_last, plain_last, atol=1e-3, rtol=0)
    torch.testing.assert_close(kept_last, plain_last, atol=1e-3, rtol=0)
