"""Fluency: how likely a causal language model finds the sentence."""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch

from ..lm.vocabulary import stop_mask
from .base import Batch, Objective
from .text import tokens_for
from .unigram import check_language, unigram_log_prob


class Fluency(Objective):
    """E(x) = −γ · log p_LM(x | context), the whole sentence scored after the model's start token
    and the context, if one is given.

    With a `context` (a prompt: an instruction, few-shot examples), the energy is the
    conditional one, p(x | prompt): what the model would write there, not what it would
    write anywhere. The context's states are computed with the sentences and, within a
    sampler's session, kept, so it is not run again for every candidate. Sentences follow
    the context's tokens as they are: end the context where a sentence starts (after a
    newline or a colon and space, as a few-shot example would).

    γ < 1 flattens the LM's preference for short sentences, which otherwise wins over
    any constraint that needs words added. `length_norm=True` scores the mean log p
    per token instead of the sum (then γ only rescales).

    `end=True` also scores the end of the sentence, log p(EOS | x); a list of token ids or
    texts scores P(the next token is one of them | x) instead, summed over them (the
    tokens whose text contains a given text count: `end=["\\n"]` after few-shot lines): a sentence the
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

    Parameters
    ----------
    lm
        A causal `LanguageModel` (`CausalLM`, `CharacterLM`).
    gamma
        Energy per nat of log-probability.
    length_norm
        Score the mean log p per token (the end counted as one) instead of the sum.
    end
        True: score the EOS after the sentence; False: do not; token ids or texts: score
        stopping at any of them (summed).
    unigram
        A wordfreq language code: subtract the words' unigram log-probability (SLOR).
    context
        Text or token ids the sentence follows (None: only the model's start token).
    """

    def __init__(self, lm, gamma: float = 0.8, length_norm: bool = False,
                 end: bool | Iterable[int | str] = True, unigram: str | None = None,
                 context: str | Sequence[int] | None = None):
        if not (isinstance(gamma, (int, float)) and math.isfinite(gamma) and gamma > 0):
            raise ValueError(f"gamma must be a positive number, got {gamma!r}")
        if end is True and lm.eos_id is None:
            raise ValueError("the LM's tokenizer has no EOS token to score the sentence end with: pass end=False")
        self.lm, self.gamma, self.length_norm = lm, float(gamma), length_norm
        self.stops = None if isinstance(end, bool) else stop_mask(lm, end)
        self.end = bool(end) if isinstance(end, bool) else True
        self.unigram = check_language(unigram) if unigram is not None else None
        self.context = context
        self.tokenizer = lm.tokenizer

    def session(self):
        return self.lm.session()

    def energy(self, batch: Batch) -> torch.Tensor:
        tokens = tokens_for(batch, self.tokenizer)
        scored = [i for i, seq in enumerate(tokens) if seq]
        if not scored:
            return torch.full((len(batch),), math.inf, dtype=torch.float64)
        with_eos = self.end and self.stops is None
        rows = [tokens[i] + [self.lm.eos_id] if with_eos else tokens[i] for i in scored]
        log_p = self._log_prob(rows)
        if self.stops is not None:
            after = self._next_log_probs(rows)
            log_p = log_p + torch.logsumexp(after[:, self.stops].double(), dim=-1)
        if self.unigram:
            log_p = log_p - torch.tensor([unigram_log_prob(batch.texts[i], self.unigram) for i in scored],
                                         dtype=torch.float64)
        if self.length_norm:
            log_p = log_p / torch.tensor([len(r) + (self.stops is not None) for r in rows], dtype=torch.float64)
        energies = torch.full((len(batch),), math.inf, dtype=torch.float64)
        energies[scored] = -self.gamma * log_p
        return energies

    def _log_prob(self, rows: list[list[int]]) -> torch.Tensor:
        return self.lm.log_prob(rows) if self.context is None else self.lm.log_prob(rows, self.context)

    def _next_log_probs(self, rows: list[list[int]]) -> torch.Tensor:
        if self.context is None:
            return self.lm.next_token_log_probs(rows)
        return self.lm.next_token_log_probs(rows, self.context)

    def __repr__(self) -> str:
        unigram = f", unigram={self.unigram!r}" if self.unigram else ""
        end = "stops" if self.stops is not None else self.end
        context = ", context=..." if self.context is not None else ""
        return f"Fluency(gamma={self.gamma:g}, length_norm={self.length_norm}, end={end}{unigram}{context})"

