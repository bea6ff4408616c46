"""Gibbs sampling from a masked LM's conditionals, as in "BERT has a Mouth" (Wang & Cho 2019).

Mask position i, read the MLM's distribution there, draw the new token. The MLM's
conditionals need not be those of any one joint distribution, so the chain this
makes samples *some* distribution near the MLM's, not the target: by default the
draw is taken whatever the target says (`Move.always_accept`). With
`mh_correction=True` the move reports its true forward and reverse probabilities
(the masked context is the same both ways) and the MH rule corrects it toward
p(x) ∝ exp(−E(x)/T); with top_k a current token outside the shortlist cannot be
proposed back, and such moves are rejected.
"""
from __future__ import annotations

import torch

from ..sequences import State
from ..target import Target
from .base import Conditional, Move
from .candidates import Candidates, Slot, cut_to_top_k, replacement_slots


class MLMConditional(Conditional):
    """Draw the token at a position from the MLM at a [MASK] there (temperature, optional top-k)."""

    def __init__(self, mlm, top_k: int | None = None, temperature: float = 1.0, mh_correction: bool = False):
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        self.candidates = Candidates(mlm, top_k)
        self.top_k, self.temperature, self.mh_correction = top_k, float(temperature), mh_correction
        self.tokenizer = mlm.tokenizer

    def log_probs(self, slots: list[Slot]) -> torch.Tensor:
        """log q(token | slot) [n, V] (float64): the tempered MLM distribution, cut to the top-k."""
        return cut_to_top_k(self.candidates.log_probs(slots, self.temperature).double(), self.top_k)

    def propose_at(self, states: list[State], positions: list[int | None], energies: torch.Tensor,
                   target: Target) -> Move:
        rows, slots = replacement_slots(states, positions)
        proposed, kinds = list(states), ["stay"] * len(states)
        forward = torch.zeros(len(states), dtype=torch.float64)
        reverse = torch.zeros(len(states), dtype=torch.float64)
        if slots:
            log_q = self.log_probs(slots)
            drawn = torch.multinomial(log_q.exp(), 1, generator=target.generator)[:, 0].tolist()
            for row, (c, slot, t) in enumerate(zip(rows, slots, drawn)):
                proposed[c], kinds[c] = slot.fill(t), "gibbs"
                forward[c], reverse[c] = log_q[row, t], log_q[row, slot.state.tokens[slot.index]]
        return Move(proposed, forward, reverse, kinds, always_accept=not self.mh_correction)
