"""Masked-LM energies: score every token with the rest of the sentence as context."""
from __future__ import annotations

import math

import torch

from .base import Batch, Objective
from .text import tokens_for

KINDS = ("pll", "raw")


class MLMEnergy(Objective):
    """An energy from a masked LM, one masked copy of the sentence per position.

    kind="pll": the negative pseudo-log-likelihood, −Σ_i log p_MLM(x_i | x_−i)
    (Salazar et al., 2020). kind="raw": −Σ_i logit(x_i | x_−i), the raw-logit energy
    of Goyal et al. (2022), which reads the MLM as an energy-based model without
    normalising each conditional.

    A sequence of n tokens costs n masked rows; all rows of all sequences go to the
    model in one call. An empty sequence gets `inf` (nothing to score would
    otherwise mean the lowest energy).

    Parameters
    ----------
    mlm
        The masked language model that scores each position; its tokenizer becomes the term's.
    kind
        "pll" (negative pseudo-log-likelihood) or "raw" (negative raw logits, not normalised).
    """

    def __init__(self, mlm, kind: str = "pll"):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.mlm, self.kind = mlm, kind
        self.tokenizer = mlm.tokenizer

    def energy(self, batch: Batch) -> torch.Tensor:
        tokens = tokens_for(batch, self.tokenizer)
        owner = [row for row, seq in enumerate(tokens) for _ in seq]
        positions = [i for seq in tokens for i in range(len(seq))]
        energies = torch.full((len(batch),), math.inf, dtype=torch.float64)
        if not positions:
            return energies
        logits = self.mlm.masked_logits([tokens[row] for row in owner], positions)
        targets = torch.tensor([tokens[row][i] for row, i in zip(owner, positions)])
        scores = logits.gather(-1, targets[:, None])[:, 0].double()
        if self.kind == "pll":
            scores = scores - logits.logsumexp(-1).double()
        owner = torch.tensor(owner)
        totals = torch.zeros(len(batch), dtype=torch.float64).index_add_(0, owner, scores)
        scored = owner.unique()
        energies[scored] = -totals[scored]
        return energies

    def __repr__(self) -> str:
        return f"MLMEnergy(kind={self.kind!r})"
