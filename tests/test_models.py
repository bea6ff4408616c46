"""The LM wrappers on tiny random models: padding, the start token, chunking, errors."""
import math

import pytest
import torch
from conftest import make_tiny_lm, make_tiny_mlm

import textsearch as ts
from textsearch.state import State

ITEMS = ["the cat sat on the mat .", "dog", "", "a big red ball was under the green tree", [5, 6, 7, 8]]


@pytest.mark.parametrize("token_trees", [True, False])
def test_batched_scores_equal_one_at_a_time(token_trees):
    tiny_lm = make_tiny_lm(token_trees=token_trees)
    batched = tiny_lm.log_prob(ITEMS)
    single = torch.cat([tiny_lm.log_prob([item]) for item in ITEMS])
    assert batched.dtype == torch.float64 and batched.shape == (len(ITEMS),)
    torch.testing.assert_close(batched, single, rtol=0, atol=1e-5)
    for batched_row, item in zip(tiny_lm.token_log_probs(ITEMS), ITEMS):
        torch.testing.assert_close(batched_row, tiny_lm.token_log_probs([item])[0], rtol=0, atol=1e-5)


def test_log_prob_is_sum_of_token_log_probs_and_matches_chain_rule(tiny_lm):
    text = ITEMS[0]
    ids = tiny_lm.encode(text)
    per_token = tiny_lm.token_log_probs([text])[0]
    assert per_token.shape == (len(ids),)
    assert tiny_lm.log_prob([text]).item() == pytest.approx(per_token.sum().item(), abs=1e-9)
    # chain rule: each token's log p is the next-token distribution after its prefix
    dists = tiny_lm.next_token_log_probs([ids[:t] for t in range(len(ids))])
    torch.testing.assert_close(dists[torch.arange(len(ids)), ids].double(), per_token, rtol=0, atol=1e-5)


def test_first_token_is_scored_after_bos(tiny_lm):
    first = tiny_lm.next_token_log_probs([[]])[0]
    assert tiny_lm.bos_id == tiny_lm.tokenizer.bos_token_id
    for token in (5, 8, 20):
        assert tiny_lm.log_prob([[token]]).item() == pytest.approx(first[token].item(), abs=1e-5)
    assert torch.logsumexp(first, 0).item() == pytest.approx(0.0, abs=1e-5)


def test_bos_changes_the_scores(tiny_lm):
    """The start token is really fed to the model: scoring after a different one changes the result."""
    other = make_tiny_lm()
    other.start_id = other.eos_id
    assert abs(other.log_prob(ITEMS[:1]).item() - tiny_lm.log_prob(ITEMS[:1]).item()) > 1e-3


def test_eos_is_the_start_token_when_there_is_no_bos():
    lm = make_tiny_lm()
    lm.tokenizer.bos_token = None
    wrapped = ts.lm.CausalLM(lm.model, lm.tokenizer)
    assert wrapped.bos_id is None and wrapped.start_id == wrapped.eos_id
    reference = make_tiny_lm()
    reference.start_id = reference.eos_id
    torch.testing.assert_close(wrapped.log_prob(ITEMS), reference.log_prob(ITEMS), rtol=0, atol=1e-6)


@pytest.mark.parametrize("token_trees", [True, False])
def test_a_tiny_token_budget_gives_the_same_numbers(tiny_lm, token_trees):
    small = make_tiny_lm(token_budget=3, token_trees=token_trees)     # fewer tokens than most rows: a row per forward
    torch.testing.assert_close(small.log_prob(ITEMS), tiny_lm.log_prob(ITEMS), rtol=0, atol=1e-5)
    torch.testing.assert_close(small.next_token_log_probs(ITEMS), tiny_lm.next_token_log_probs(ITEMS),
                               rtol=0, atol=1e-5)


def test_chunks_respect_the_budget_and_cover_every_row():
    from textsearch.lm.base import chunks_by_budget
    lengths = [3, 9, 1, 4, 4, 7, 2]
    chunks = list(chunks_by_budget(lengths, 10))
    assert sorted(i for c in chunks for i in c) == list(range(len(lengths)))
    assert all(len(c) * max(lengths[i] for i in c) <= 10 for c in chunks)


def test_items_may_be_texts_token_lists_or_states(tiny_lm):
    ids = tiny_lm.encode(ITEMS[0])
    scores = tiny_lm.log_prob([ITEMS[0], ids, State(tuple(ids)), torch.tensor(ids)])
    assert torch.allclose(scores, scores[0].expand(4), atol=1e-9)


def test_next_token_log_probs_shape_and_dtype(tiny_lm):
    out = tiny_lm.next_token_log_probs(["the cat", [], [7]])
    assert out.shape == (3, tiny_lm.vocab_size) and out.dtype == torch.float32
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(3), rtol=0, atol=1e-5)


def test_seed_determines_the_model():
    assert torch.equal(make_tiny_lm(seed=3).log_prob(ITEMS), make_tiny_lm(seed=3).log_prob(ITEMS))
    assert not torch.allclose(make_tiny_lm(seed=3).log_prob(ITEMS), make_tiny_lm(seed=4).log_prob(ITEMS))
    assert make_tiny_lm(vocab_size=50).vocab_size == 50


def test_bad_items_give_clear_errors(tiny_lm):
    with pytest.raises(TypeError, match="list of items"):
        tiny_lm.log_prob("the cat")
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 32\)"):
        tiny_lm.log_prob([[1, 99]])
    with pytest.raises(ValueError, match="token_budget"):
        make_tiny_lm(token_budget=0)


def test_masked_logits_batched_equal_single(tiny_mlm):
    items = ["the cat sat on the mat .", "dog ran", [5, 6, 7, 8, 9]]
    positions = [3, 0, 4]
    batched = tiny_mlm.masked_logits(items, positions)
    assert batched.shape == (3, tiny_mlm.vocab_size) and batched.dtype == torch.float32
    for j, (item, pos) in enumerate(zip(items, positions)):
        torch.testing.assert_close(batched[j], tiny_mlm.masked_logits([item], [pos])[0], rtol=0, atol=1e-5)
    small = make_tiny_mlm(token_budget=4)
    torch.testing.assert_close(small.masked_logits(items, positions), batched, rtol=0, atol=1e-5)


def test_masked_logits_hide_the_token_and_read_the_right_place(tiny_mlm):
    ids = tiny_mlm.encode("the cat sat on the mat .")
    masked = list(ids)
    masked[2] = tiny_mlm.mask_id
    # the token under the mask is invisible: any token there gives the same logits
    other = list(ids)
    other[2] = 20
    torch.testing.assert_close(tiny_mlm.masked_logits([ids], [2]), tiny_mlm.masked_logits([other], [2]))
    # a pre-masked item (insertion) reads the same place; framing tokens are added by the wrapper
    torch.testing.assert_close(tiny_mlm.masked_logits([masked], [2]), tiny_mlm.masked_logits([ids], [2]))
    rows = [tiny_mlm.prefix + masked + tiny_mlm.suffix]
    with torch.inference_mode():
        direct = tiny_mlm.model(input_ids=torch.tensor(rows)).logits[0, len(tiny_mlm.prefix) + 2]
    torch.testing.assert_close(tiny_mlm.masked_logits([ids], [2])[0], direct, rtol=0, atol=1e-5)
    assert not torch.allclose(tiny_mlm.masked_logits([ids], [2]), tiny_mlm.masked_logits([ids], [3]))


def test_masked_logits_errors(tiny_mlm):
    with pytest.raises(ValueError, match="one per item"):
        tiny_mlm.masked_logits(["the cat", "dog"], [0])
    with pytest.raises(ValueError, match="outside an item of 2 tokens"):
        tiny_mlm.masked_logits(["the cat"], [2])


def test_scores_are_finite_log_probabilities(tiny_lm):
    scores = tiny_lm.log_prob(ITEMS)
    assert all(math.isfinite(s) for s in scores.tolist())
    assert (scores[[0, 1, 3, 4]] < 0).all() and scores[2] == 0.0


def test_default_budget_bounds_the_logits_of_a_forward():
    from textsearch.lm.base import LOGITS_BUDGET, default_token_budget
    assert default_token_budget(262_144) * 262_144 <= LOGITS_BUDGET          # a Gemma-sized vocabulary
    assert default_token_budget(49_152) * 49_152 <= LOGITS_BUDGET
    assert default_token_budget(32) == make_tiny_lm().token_budget >= 64
