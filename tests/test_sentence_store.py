"""Kept sentence states give the plain forward's log-probs, and spare the forwards they should."""
from __future__ import annotations

import random

import pytest
import torch
from transformers import Gemma2Config, Gemma2ForCausalLM

import textsearch as ts
from textsearch.tasks.keywords import KeywordsToSentence
from textsearch.lm.store import SEARCH_BYTES, STORE_BYTES

from exact_targets import single_thread  # noqa: F401  (autouse: one thread)
from conftest import make_tiny_lm, make_tiny_tokenizer, plain as plain_lm, scored


def plain(lm, rows):
    return scored(plain_lm(lm), rows)


def assert_same(scored, expected):
    for a, b in zip(scored[0], expected[0]):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    torch.testing.assert_close(scored[1], expected[1], atol=1e-4, rtol=0)


def test_a_sampler_step_after_scoring_runs_one_forward():
    """Score sentences; then, as the next step does, ask for the slots' distributions (no forward) and
    score the candidates that fill them (one forward): all as the plain forward gives them."""
    lm = make_tiny_lm()
    sentences = [[5, 6, 7, 8, 9, 10], [11, 12, 13], [6, 6, 7, 8]]
    with lm.session():
        assert_same(scored(lm, sentences), plain(lm, sentences))
        slots = [2, 0, 4]
        prefixes = [s[:i] for s, i in zip(sentences, slots)]
        forwards = lm.stats.forwards
        after = lm.next_token_log_probs(prefixes)
        assert lm.stats.forwards == forwards
        candidates = [p + [c] + s[i + 1:] for p, s, i in zip(prefixes, sentences, slots) for c in (14, 15, 16)]
        candidate_scores = scored(lm, candidates)
        assert lm.stats.forwards == forwards + 1
    torch.testing.assert_close(after, plain(lm, prefixes)[1], atol=1e-4, rtol=0)
    assert_same(candidate_scores, plain(lm, candidates))


def forward_inputs(lm):
    inputs = []
    handle = lm.model.register_forward_pre_hook(lambda module, args, kwargs: inputs.append(kwargs["input_ids"]),
                                                with_kwargs=True)
    return inputs, handle


def test_a_kept_prefix_is_not_run_again():
    """Candidates that go on from a kept prefix run from the slot on: the prefix's last state gives the
    slot's log p. Without the distribution after them, their last token runs not at all, and a
    candidate that ends right after the prefix (a deletion at the end) costs no forward."""
    lm = make_tiny_lm()
    sentence = [5, 6, 7, 8, 9]
    candidates = [[5, 6, 7, 14, 9], [5, 6, 7, 15, 9], [5, 6, 7, 9], [5, 6, 7, 8]]
    inputs, handle = forward_inputs(lm)
    try:
        with lm.session():
            lm.token_log_probs([sentence])
            inputs.clear()
            candidate_lp = lm.token_log_probs(candidates)
            assert [i.tolist() for i in inputs] == [[[14, 15]]]       # start 5 6 7 8 are kept; the last tokens run not
            inputs.clear()
            ended = lm.token_log_probs([[5, 6, 7]])                  # its states are all kept
            assert inputs == []
            after = scored(lm, [[5, 6, 7, 8, 9]])                    # kept without the state after its last token
            assert [i.tolist() for i in inputs] == [[[9]]]
    finally:
        handle.remove()
    for got, rows in ((candidate_lp, candidates), (ended, [[5, 6, 7]])):
        for a, b in zip(got, plain(lm, rows)[0]):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    assert_same(after, plain(lm, [[5, 6, 7, 8, 9]]))


def test_a_sentence_scored_again_costs_nothing_and_scores_the_same():
    lm = make_tiny_lm()
    rows = [[5, 6, 7, 8], [9, 10], [5, 6, 11]]
    with lm.session():
        first = scored(lm, rows)
        forwards = lm.stats.forwards
        again = scored(lm, rows[::-1])
        assert lm.stats.forwards == forwards
    for a, b in zip(first[0], again[0][::-1]):
        assert torch.equal(a, b)
    torch.testing.assert_close(again[1].flip(0), first[1], atol=1e-5, rtol=0)


def test_exact_under_evictions():
    """A store too small for a step's rows drops old ones: a miss costs a forward, never a wrong score."""
    lm = make_tiny_lm()
    with lm.session():
        lm.store.budget = 3000
        evict(lm)


def evict(lm):
    rng = random.Random(0)
    vocab = range(5, lm.vocab_size)
    sentences = [[rng.choice(vocab) for _ in range(rng.randrange(2, 10))] for _ in range(3)]
    scored_rows = set()
    for _ in range(30):
        slots = [rng.randrange(len(s)) for s in sentences]
        prefixes = [s[:i] for s, i in zip(sentences, slots)]
        torch.testing.assert_close(lm.next_token_log_probs(prefixes), plain(lm, prefixes)[1], atol=1e-4, rtol=0)
        candidates = [p + [rng.choice(vocab)] + s[i + 1:] for p, s, i in zip(prefixes, sentences, slots)
                      for _ in range(4)]
        assert_same(scored(lm, candidates), plain(lm, candidates))
        assert lm.store.width <= lm.store.limit                  # kept between forwards: the budget's columns
        assert lm.store.kv.shape[2] <= lm.store.limit + sum(map(len, candidates)) + len(prefixes) * 10
        scored_rows |= {tuple(c) for c in candidates}
        sentences = [candidates[4 * c + rng.randrange(4)] for c in range(3)]
    assert len(lm.store) < len(scored_rows) / 4, "the budget should have dropped most rows"


def test_no_store_where_the_logits_are_more_than_the_head():
    """Soft-capped logits (Gemma 2) are not the LM head of the hidden states: nothing is kept, scores stay right."""
    tokenizer = make_tiny_tokenizer()
    config = Gemma2Config(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                          num_attention_heads=2, num_key_value_heads=2, head_dim=8, initializer_range=0.5,
                          final_logit_softcapping=3.0, bos_token_id=tokenizer.bos_token_id,
                          eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    lm = ts.lm.CausalLM(Gemma2ForCausalLM(config).eval(), tokenizer, device="cpu")
    assert not lm.can_keep
    with lm.session():
        assert lm.store is None
        rows = [[5, 6, 7, 8], [5, 6, 9], [10, 11]]
        assert_same(scored(lm, rows), plain(lm, rows))
    assert make_tiny_lm().can_keep


@pytest.mark.slow
def test_kept_states_on_the_real_model(default_lm):
    rng = random.Random(1)
    words = "The dog caught a red frisbee in the park while children were playing near the old tree".split()
    sentences = [default_lm.encode(" ".join(rng.sample(words, rng.randrange(6, len(words))))) for _ in range(4)]
    with default_lm.session():
        check_kept_states(default_lm, sentences, rng)


def check_kept_states(default_lm, sentences, rng):
    default_lm.token_log_probs(sentences)
    slots = [rng.randrange(len(s)) for s in sentences]
    prefixes = [s[:i] for s, i in zip(sentences, slots)]
    candidates = [p + [rng.randrange(300, 20000)] + s[i + 1:] for p, s, i in zip(prefixes, sentences, slots)
                  for _ in range(8)]
    after = default_lm.next_token_log_probs(prefixes)
    candidate_lp = default_lm.token_log_probs(candidates)
    torch.testing.assert_close(after, plain(default_lm, prefixes)[1], atol=1e-3, rtol=0)
    expected = plain(default_lm, candidates)
    for a, b in zip(candidate_lp, expected[0]):
        torch.testing.assert_close(a, b, atol=1e-3, rtol=0)


@pytest.mark.parametrize("reuse", [True, False])
def test_a_sequence_given_twice_is_scored_once(reuse):
    def scored_inputs(lm, rows):
        inputs = []
        handle = lm.model.register_forward_pre_hook(lambda module, args, kwargs: inputs.append(kwargs["input_ids"]),
                                                    with_kwargs=True)
        try:
            with lm.session():
                return scored(lm, rows), inputs
        finally:
            handle.remove()

    lm = make_tiny_lm(token_trees=reuse)
    (token_lp, last), inputs = scored_inputs(lm, [[5, 6, 7], [8, 9], [5, 6, 7], [8, 9], [10]])
    fresh = make_tiny_lm(token_trees=reuse)
    expected, distinct_inputs = scored_inputs(fresh, [[5, 6, 7], [8, 9], [10]])
    assert [i.tolist() for i in inputs] == [i.tolist() for i in distinct_inputs]      # the repeats cost nothing
    assert_same((token_lp, last), ([expected[0][i] for i in (0, 1, 0, 1, 2)], expected[1][[0, 1, 0, 1, 2]]))


def test_states_are_kept_for_a_sampler_run_only():
    """A run starts from an empty store and leaves none behind: its scores never depend on an earlier run."""
    lm = make_tiny_lm()
    proposal = ts.proposals.EditProposal(lm, top_k=4, max_len=8)
    objective = ts.objectives.Fluency(lm)
    sizes = []
    sampler = ts.samplers.MetropolisHastings(proposal, steps=5, chains=2, seed=0)
    first = sampler.run(objective, init=[5, 6, 7], callback=lambda *args: sizes.append(len(lm.store)),
                        progress=False)
    assert lm.store is None and min(sizes) > 0
    scored(lm, [[5, 6, 8, 9], [7, 7]])                   # outside a run: nothing kept
    assert lm.store is None
    again = sampler.run(objective, init=[5, 6, 7], progress=False)
    assert torch.equal(first.trace, again.trace)


def test_searches_that_take_turns_share_a_store_sized_for_them(monkeypatch):
    lm = make_tiny_lm()
    with lm.session():
        assert lm.store.budget == STORE_BYTES
    with lm.session(searches=16):
        assert lm.store.budget == 16 * SEARCH_BYTES > STORE_BYTES
    sizes = []
    keeping = lm.session
    monkeypatch.setattr(lm, "session", lambda searches=1: sizes.append(searches) or keeping(searches))
    KeywordsToSentence(lm, init="keywords", steps=1).generate([["cat"], ["dog"], ["ball"]])
    assert sizes[0] == 3


def test_rows_after_one_context_share_its_columns():
    """Particles that grow after one prompt hold it once: every row's held columns begin with the same
    context columns, the arena holds each distinct token's states once, and scores stay the plain ones."""
    lm = make_tiny_lm()
    context = [5, 6, 7, 8, 9, 10, 11, 12]
    rows = [context + [13, 14], context + [15], context + [16, 17, 18]]
    with lm.session():
        lm.next_token_log_probs([r[len(context):] for r in rows], context)
        assert lm.store.width == 1 + len(context) + 2 + 1 + 3
        held = [[lm.start_id] + r + [19] for r in rows]
        past = lm.store.past(held)
        assert past.lengths == [len(h) - 1 for h in held]
        assert [past.held[i].tolist()[:1 + len(context)] for i in range(3)] == [list(range(1 + len(context)))] * 3
        grown = [r + [19] for r in rows]
        assert_same(scored(lm, grown), plain(lm, grown))


def test_a_step_writes_only_its_new_tokens_into_the_arena():
    """Growing every row by a token adds one column per row to the arena, in place: no kept state is
    copied, and rows point to their ancestors' columns."""
    lm = make_tiny_lm()
    context = [5, 6, 7, 8, 9, 10, 11, 12]
    rows = [[13, 14], [15], [16, 17, 18]]
    with lm.session():
        store = lm.store
        lm.next_token_log_probs(rows, context)
        arena, width = store.kv.data_ptr(), store.width
        grown = [r + [19] for r in rows]
        lm.next_token_log_probs(grown, context)
        assert store.kv.data_ptr() == arena and store.width == width + len(rows)
        for before, after in zip(rows, grown):
            parent = store.rows[tuple([lm.start_id] + context + before)].columns
            child = store.rows[tuple([lm.start_id] + context + after)].columns
            assert torch.equal(child[:len(parent)], parent)
        assert_same(scored(lm, [g + [20] for g in grown]), plain(lm, [g + [20] for g in grown]))


def test_compaction_keeps_the_columns_of_the_rows_it_keeps():
    """Past the budget, the oldest rows go and the rest move to the arena's front: their scores, and the
    distributions after them, stay the plain ones."""
    lm = make_tiny_lm()
    rng = random.Random(3)
    with lm.session():
        store = lm.store
        rows = [[rng.randrange(5, lm.vocab_size) for _ in range(6)] for _ in range(12)]
        lm.next_token_log_probs(rows)
        store.budget = store.width * store.layout.column_bytes // 2
        lm.next_token_log_probs([r + [7] for r in rows[-4:]])               # triggers the compaction
        assert store.width <= store.limit and 1 < len(store) < len(rows)
        kept = [list(key[1:]) for key in store.rows]
        assert all(store.has([lm.start_id] + k, with_last=True) for k in kept)
        grown = [k + [9, 10] for k in kept]                    # new states go where moved-out ones were
        grown_scores = scored(lm, grown)
        forwards = lm.stats.forwards
        after = lm.next_token_log_probs(kept)
        assert lm.stats.forwards == forwards
    assert_same(grown_scores, plain(lm, grown))
    torch.testing.assert_close(after, plain(lm, kept)[1], atol=1e-4, rtol=0)


def test_a_distribution_handed_out_is_the_callers_to_change():
    """Changing a returned slot distribution in place leaves the one the store gives next time as it was."""
    lm = make_tiny_lm()
    sentences = [[5, 6, 7, 8], [9, 10, 11]]
    prefixes = [s[:2] for s in sentences]
    with lm.session():
        scored(lm, sentences)
        first = lm.next_token_log_probs(prefixes)
        with torch.inference_mode():                     # where a caller may change it in place
            first.zero_()
        again = lm.next_token_log_probs(prefixes)
    torch.testing.assert_close(again, plain(lm, prefixes)[1], atol=1e-4, rtol=0)
