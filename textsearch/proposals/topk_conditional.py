"""Gibbs-like draws for one position from an LM's top-K, weighted by the target's energy.

At position i the language model shortlists its top-K tokens; each candidate sentence
is scored by the target and the token is drawn from the energy-weighted mix of
`weighted_choice` (the same draw as the replace move of `EditProposal`). Were C the
whole vocabulary this would be the exact conditional p(x_i | x_−i); over a shortlist
it is a proposal whose forward and reverse probabilities are both reported, so the
MH rule makes the chain exact. The current token need not be in C: the uniform mix
keeps the way back open.
"""
from __future__ import annotations

import torch

from ..sequences import State
from ..target import Target
from .base import Conditional, Move
from .candidates import replacement_slots
from .weighted_choice import WeightedChoice


class TopKConditional(Conditional):
    """Replace the token at a given position, drawn by sentence energy among the LM's top-K."""

    def __init__(self, model, top_k: int = 32, uniform_mix: float = 0.01):
        self.choice = WeightedChoice(model, top_k, uniform_mix)
        self.tokenizer = model.tokenizer

    def propose_at(self, states: list[State], positions: list[int | None], energies: torch.Tensor,
                   target: Target) -> Move:
        rows, slots = replacement_slots(states, positions)
        chosen = self.choice(slots, [True] * len(slots), target.temperature[rows], target)
        current = torch.tensor([slot.state.tokens[slot.index] for slot in slots], dtype=torch.long)
        back = chosen.weights.log_prob(current)
        proposed, kinds = list(states), ["stay"] * len(states)
        forward = torch.zeros(len(states), dtype=torch.float64)
        reverse = torch.zeros(len(states), dtype=torch.float64)
        proposed_energies = energies.clone().to(torch.float64)
        for row, c in enumerate(rows):
            proposed[c], kinds[c], proposed_energies[c] = chosen.states[row], "gibbs", chosen.energies[row]
            forward[c], reverse[c] = chosen.log_q[row], back[row]
        return Move(proposed, forward, reverse, kinds, proposed_energies)
