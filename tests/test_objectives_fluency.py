"""Fluency: −γ·log p_LM, the sentence end scored, empty sequences forbidden, one model call."""
import math
from types import SimpleNamespace

import pytest
import torch

import textsearch as ts
from textsearch.objectives import Batch, Fluency

TEXTS = ["the cat sat on the mat .", "dog", "a big red ball was under the green tree"]


def test_energy_is_minus_gamma_log_prob_with_and_without_the_end(tiny_lm):
    ids = [tiny_lm.encode(t) for t in TEXTS]
    eos = tiny_lm.eos_id
    with_end = Fluency(tiny_lm, gamma=0.7)(TEXTS)
    torch.testing.assert_close(with_end, -0.7 * tiny_lm.log_prob([s + [eos] for s in ids]), rtol=0, atol=1e-9)
    without_end = Fluency(tiny_lm, gamma=0.7, end=False)(ids)
    torch.testing.assert_close(without_end, -0.7 * tiny_lm.log_prob(ids), rtol=0, atol=1e-9)
    end_term = -0.7 * torch.stack([tiny_lm.next_token_log_probs([s])[0, eos].double() for s in ids])
    torch.testing.assert_close(with_end - without_end, end_term, rtol=0, atol=1e-4)


def test_length_norm_is_the_mean_per_token(tiny_lm):
    ids = [tiny_lm.encode(t) for t in TEXTS]
    total = Fluency(tiny_lm, gamma=1.0, end=False)(ids)
    mean = Fluency(tiny_lm, gamma=1.0, end=False, length_norm=True)(ids)
    torch.testing.assert_close(mean, total / torch.tensor([len(s) for s in ids], dtype=torch.float64))
    mean_with_end = Fluency(tiny_lm, gamma=1.0, length_norm=True)(ids)
    total_with_end = Fluency(tiny_lm, gamma=1.0)(ids)
    torch.testing.assert_close(mean_with_end, total_with_end / torch.tensor([len(s) + 1.0 for s in ids]))


def test_unigram_credits_back_each_words_unigram_log_prob(tiny_lm):
    from wordfreq import word_frequency
    texts = ["the cat sat on the mat .", "dog", "a big red ball was"]          # all in the tiny vocabulary
    ids = [tiny_lm.encode(t) for t in texts]
    plain = Fluency(tiny_lm, gamma=2.0, length_norm=True)(ids)
    slor = Fluency(tiny_lm, gamma=2.0, length_norm=True, unigram="en")(ids)
    unigram = torch.tensor([sum(math.log(word_frequency(w, "en")) for w in t.replace(" .", "").split()) for t in texts],
                           dtype=torch.float64)
    lengths = torch.tensor([len(s) + 1.0 for s in ids], dtype=torch.float64)
    torch.testing.assert_close(slor, plain + 2.0 * unigram / lengths)


def test_unigram_needs_a_language_wordfreq_knows(tiny_lm):
    with pytest.raises(ValueError, match="no unigram frequencies for language 'xx'"):
        Fluency(tiny_lm, unigram="xx")


def test_unigram_floor_caps_the_credit_of_unknown_strings():
    from textsearch.objectives.unigram import FLOOR, unigram_log_prob
    assert unigram_log_prob("xqzvtw", "en") == pytest.approx(math.log(FLOOR))
    assert unigram_log_prob("the dog", "en") > unigram_log_prob("the frisbee", "en") > math.log(FLOOR) * 2


def test_empty_sequences_are_forbidden_not_free(tiny_lm):
    for fluency in (Fluency(tiny_lm), Fluency(tiny_lm, end=False), Fluency(tiny_lm, length_norm=True)):
        energies = fluency([[], tiny_lm.encode("dog"), []])
        assert energies[0] == math.inf and energies[2] == math.inf and math.isfinite(energies[1])
        assert fluency([[]]).tolist() == [math.inf]


def test_whole_batch_goes_to_the_model_in_one_call(tiny_lm, monkeypatch):
    calls = []
    original = tiny_lm.log_prob
    monkeypatch.setattr(tiny_lm, "log_prob", lambda items: calls.append(len(items)) or original(items))
    ids = [tiny_lm.encode(t) for t in TEXTS]
    Fluency(tiny_lm)(ids + [[]] + ids)
    assert calls == [2 * len(ids)]


def test_batched_equals_one_at_a_time(tiny_lm):
    fluency = Fluency(tiny_lm)
    batched = fluency(TEXTS)
    torch.testing.assert_close(batched, torch.cat([fluency([t]) for t in TEXTS]), rtol=0, atol=1e-5)


def test_states_and_token_lists_and_texts_agree(tiny_lm):
    ids = [tiny_lm.encode(t) for t in TEXTS]
    fluency = Fluency(tiny_lm)
    torch.testing.assert_close(fluency(TEXTS), fluency([ts.State(tuple(s)) for s in ids]))
    torch.testing.assert_close(fluency(TEXTS), fluency(Batch(ids, tiny_lm.tokenizer)))
    assert fluency.tokenizer is tiny_lm.tokenizer


@pytest.mark.parametrize("gamma", [0, -1, math.inf, math.nan, "0.8"])
def test_bad_gamma(tiny_lm, gamma):
    with pytest.raises(ValueError, match="gamma"):
        Fluency(tiny_lm, gamma=gamma)


def test_an_lm_without_eos_needs_end_false(tiny_lm):
    no_eos = SimpleNamespace(eos_id=None, tokenizer=tiny_lm.tokenizer)
    with pytest.raises(ValueError, match="end=False"):
        Fluency(no_eos)
    assert Fluency(no_eos, end=False).end is False


@pytest.mark.slow
def test_real_lm_prefers_a_sentence_to_its_scramble(default_lm):
    fluency = Fluency(default_lm)
    sentence, scramble = fluency(["The cat sat on the mat.", "mat the on sat cat The."]).tolist()
    assert scramble - sentence > 10, (sentence, scramble)
