"""Fluency: how likely a causal language model finds the sentence."""
from __future__ import annotations

import math

import torch

from .base import Batch, Objective
from .text import tokens_for
from .unigram import check_language, unigram_log_prob


class Fluency(Objective):
    """E(x) = −γ · log p_LM(x), the whole sentence scored after the model's start token.

    γ < 1 flattens the LM's preference for short sentences, which otherwise wins over
    any constraint that needs words added. `length_norm=True` scores the mean log p
    per token instead of the sum (then γ only rescales).

    `end=True` also scores the end of the sentence, log p(EOS | x): a sentence the
    model would continue ("The cat sat on the") then costs more than one it would
    close, so truncated drafts stop looking cheap. With the built-in LM and γ=0.8,
    Fluency prefers 20 complete sentences to their truncations (last one or two words
    dropped) in 39 of 40 pairs with the end scored (mean energy gap +10.9), in 0 of
    40 without (gap −3.5: the shorter draft wins); scripts/fluency_end.py. Hence the
    default. The EOS counts as one more token for
    `length_norm`. A model whose tokenizer has no EOS needs `end=False`.

    `unigram="en"` (a wordfreq language code) adds back the words' unigram log-probability,
    E(x) = −γ · (log p_LM(x) − log p_unigram(x)): with `length_norm`, −γ · SLOR per token
    (Lau et al. 2017). A sentence is then charged for words that do not fit where they
    stand, not for words that are rare; without it the energy prefers filler made of the
    commonest words.

    An empty sequence gets `inf`: it is no sentence, and with nothing to score it
    would otherwise have the lowest energy of all.
    """

    def __init__(self, lm, gamma: float = 0.8, length_norm: bool = False, end: bool = True,
                 unigram: str | None = None):
        if not (isinstance(gamma, (int, float)) and math.isfinite(gamma) and gamma > 0):
            raise ValueError(f"gamma must be a positive number, got {gamma!r}")
        if end and lm.eos_id is None:
            raise ValueError("the LM's tokenizer has no EOS token to score the sentence end with: pass end=False")
        self.lm, self.gamma, self.length_norm, self.end = lm, float(gamma), length_norm, end
        self.unigram = check_language(unigram) if unigram is not None else None
        self.tokenizer = lm.tokenizer

    def session(self):
        return self.lm.session()

    def energy(self, batch: Batch) -> torch.Tensor:
        tokens = tokens_for(batch, self.tokenizer)
        scored = [i for i, seq in enumerate(tokens) if seq]
        rows = [tokens[i] + [self.lm.eos_id] if self.end else tokens[i] for i in scored]
        log_p = self.lm.log_prob(rows) if rows else torch.zeros(0, dtype=torch.float64)
        if self.unigram:
            log_p = log_p - torch.tensor([unigram_log_prob(batch.texts[i], self.unigram) for i in scored],
                                         dtype=torch.float64)
        if self.length_norm:
            log_p = log_p / torch.tensor([len(r) for r in rows], dtype=torch.float64)
        energies = torch.full((len(batch),), math.inf, dtype=torch.float64)
        energies[scored] = -self.gamma * log_p
        return energies

    def __repr__(self) -> str:
        unigram = f", unigram={self.unigram!r}" if self.unigram else ""
        return f"Fluency(gamma={self.gamma:g}, length_norm={self.length_norm}, end={self.end}{unigram})"
