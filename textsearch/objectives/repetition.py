"""RepetitionPenalty: discourage the loops that language models like."""
from __future__ import annotations

import torch

from .arguments import check_unit, check_weight
from .base import Batch, Objective
from .text import units_of


def repeated_ngrams(units: list, n: int) -> int:
    """How many n-grams are repeats of an earlier one: all n-grams minus the distinct ones."""
    grams = [tuple(units[i:i + n]) for i in range(len(units) - n + 1)]
    return len(grams) - len(set(grams))


class RepetitionPenalty(Objective):
    """E(x) = weight · (number of n-grams of x that repeat an earlier n-gram).

    Counted over words of the decoded text (`unit="words"`, case-insensitive) or over
    token ids (`unit="tokens"`, of `tokenizer` when given). "the cat saw the cat" has
    one repeated bigram; n=1 counts repeated words.

    Parameters
    ----------
    n
        The n-gram size (1: repeated words or tokens).
    weight
        Energy per repeated n-gram.
    unit
        "words" (of the decoded text, case-insensitive) or "tokens".
    tokenizer
        With unit="tokens", count ids of this tokenizer; it also gives token ids their text when
        this term is used alone (None: the batch's own ids and tokenizer).
    """

    def __init__(self, n: int = 2, weight: float = 1.0, unit: str = "words", tokenizer=None):
        if not (isinstance(n, int) and n >= 1):
            raise ValueError(f"n must be a positive integer, got {n!r}")
        self.n, self.weight = n, check_weight(weight)
        self.unit, self.tokenizer = check_unit(unit), tokenizer

    def energy(self, batch: Batch) -> torch.Tensor:
        counts = [repeated_ngrams(u, self.n) for u in units_of(batch, self.unit, self.tokenizer)]
        return self.weight * torch.tensor(counts, dtype=torch.float64)

    def __repr__(self) -> str:
        return f"RepetitionPenalty(n={self.n}, weight={self.weight:g}, unit={self.unit!r})"
