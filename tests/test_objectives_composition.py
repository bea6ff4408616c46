"""Language terms composed with + and *: one batch, one decode, inf kept, the LM's tokenizer lent."""
import math

import pytest
import torch

from textsearch.objectives import Fluency, Keywords, LengthPrior, RepetitionPenalty, Sum

TEXTS = ["the dog saw a red ball", "the dog the dog ran", "a cat sat on the mat ."]


def test_sum_and_scale_add_up_the_terms(tiny_lm):
    fluency = Fluency(tiny_lm, gamma=0.8)
    keywords = Keywords(["dog"], hard=False, weight=2.0, tokenizer=tiny_lm.tokenizer)
    repetition = RepetitionPenalty(n=2, tokenizer=tiny_lm.tokenizer)
    energy = fluency + 3 * keywords + 0.5 * repetition
    assert isinstance(energy, Sum) and energy.tokenizer is tiny_lm.tokenizer
    expected = fluency(TEXTS) + 3 * keywords(TEXTS) + 0.5 * repetition(TEXTS)
    assert keywords(TEXTS).tolist() == [0.0, 0.0, 2.0] and repetition(TEXTS).tolist() == [0.0, 1.0, 0.0]
    torch.testing.assert_close(energy(TEXTS), expected)


def test_text_terms_read_token_ids_through_the_lms_tokenizer_in_a_sum(tiny_lm):
    energy = Keywords(["dog", "ball"]) + Fluency(tiny_lm) + LengthPrior(max_len=6)
    ids = [tiny_lm.encode(t) for t in TEXTS]
    energies = energy(ids)
    assert energies[1] == math.inf and energies[2] == math.inf            # no ball; no dog
    assert energies[0].item() == pytest.approx(Fluency(tiny_lm)([ids[0]]).item(), abs=1e-4)   # hits cost nothing


def test_the_batch_decodes_once_for_all_text_terms(tiny_lm, monkeypatch):
    decodes = []
    original = tiny_lm.tokenizer.decode
    monkeypatch.setattr(tiny_lm.tokenizer, "decode", lambda *a, **k: decodes.append(1) or original(*a, **k))
    energy = Fluency(tiny_lm) + Keywords(["dog"], hard=False) + RepetitionPenalty() + LengthPrior(target=3)
    energy([tiny_lm.encode(t) for t in TEXTS])
    assert len(decodes) == len(TEXTS)
