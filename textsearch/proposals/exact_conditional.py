"""ExactConditional: p(x_i = v | x_−i) ∝ exp(−E(x with x_i = v) / T), by enumerating v.

For each chain the whole vocabulary is tried at the position, all chains × V
sequences in one call to the objective. The draw comes from the target's own
conditional, so with q(y←x) = p(y_i | x_−i) and q(x←y) = p(x_i | x_−i) (the rest of
the sequence is shared) the MH ratio is exactly 1: Gibbs sampling as an MH move.
At temperature 0 the draw is uniform over the lowest-energy tokens; when every
token is forbidden it is uniform over all of them (a walk out of the forbidden region).
"""
from __future__ import annotations

import torch

from ..sequences import State
from ..target import Target
from .base import Conditional, Move
from .uniform_replace import check_token, check_vocab_size


def conditional_log_probs(energies: torch.Tensor, temperature: torch.Tensor) -> torch.Tensor:
    """log softmax(−E/T) of each row of candidate energies [rows, V], T per row."""
    temperature = temperature[:, None]
    cold = temperature == 0
    logits = -energies / torch.where(cold, 1.0, temperature)
    lowest = energies == energies.min(dim=1, keepdim=True).values
    logits = torch.where(cold, torch.where(lowest, 0.0, -torch.inf), logits)
    logits = torch.where(torch.isneginf(logits).all(dim=1, keepdim=True), 0.0, logits)
    return logits.log_softmax(dim=1)


class ExactConditional(Conditional):
    """The exact conditional of the target at one position, by scoring every token there."""

    def __init__(self, vocab_size: int, tokenizer=None):
        self.vocab_size = check_vocab_size(vocab_size, least=1)
        self.tokenizer = tokenizer

    def propose_at(self, states: list[State], positions: list[int | None], energies: torch.Tensor,
                   target: Target) -> Move:
        rows = [c for c, i in enumerate(positions) if i is not None]
        V = self.vocab_size
        candidates = [states[c].replace(positions[c], v) for c in rows for v in range(V)]
        candidate_energies = target.energy(candidates).view(len(rows), V)
        log_probs = conditional_log_probs(candidate_energies, target.temperature[rows])
        drawn = torch.multinomial(log_probs.exp(), 1, generator=target.generator).view(-1).tolist() if rows else []
        proposed, kinds = list(states), ["stay"] * len(states)
        forward = torch.zeros(len(states), dtype=torch.float64)
        reverse = torch.zeros(len(states), dtype=torch.float64)
        proposed_energies = energies.clone().to(torch.float64)
        for row, (c, v) in enumerate(zip(rows, drawn)):
            current = check_token(states[c].tokens[positions[c]], V)
            proposed[c], kinds[c] = candidates[row * V + v], "gibbs"
            forward[c], reverse[c] = log_probs[row, v], log_probs[row, current]
            proposed_energies[c] = candidate_energies[row, v]
        return Move(proposed, forward, reverse, kinds, energies=proposed_energies)
