"""Conditionals: redraw the token at one position given the rest, for Gibbs sampling.

- `ExactConditional`: p(x_i = v | x_−i) ∝ exp(−E(x with x_i = v) / T), by scoring every
  token v at the position (all chains × V sequences in one objective call). With
  q(y←x) = p(y_i | x_−i) and q(x←y) = p(x_i | x_−i) (the rest is shared) the MH ratio is
  exactly 1: Gibbs sampling as an MH move. At temperature 0 the draw is uniform over the
  lowest-energy tokens; when every token is forbidden, uniform over all (a walk out).
- `TopKConditional`: the language model shortlists its top-K tokens at the position,
  each candidate sentence is scored by the target, and the token is drawn from the
  energy-weighted mix of `weighted_choice` (the replace move of `EditProposal`). Over a
  shortlist this is a proposal whose forward and reverse probabilities are both
  reported, so the MH rule makes the chain exact; the uniform mix keeps the way back open.
- `MLMConditional`: mask position i, read a masked LM's distribution there, draw the new
  token ("BERT has a Mouth", Wang & Cho 2019). The MLM's conditionals need not be those
  of any one joint distribution, so by default the draw is taken whatever the target says
  (`Move.always_accept`); with `mh_correction=True` the move reports its true forward and
  reverse probabilities (the masked context is the same both ways) and the MH rule
  corrects it toward p(x) ∝ exp(−E(x)/T); with top_k a current token outside the
  shortlist cannot be proposed back, and such moves are rejected.
"""
from __future__ import annotations

import torch

from ..state import State
from ..target import Target
from .base import Conditional, Move
from .candidates import TOP_K, Candidates, Slot, cut_to_top_k, replacement_slots
from .uniform import check_token, check_vocab_size
from .weighted_choice import WeightedChoice, conditional_log_probs


class ExactConditional(Conditional):
    """The exact conditional of the target at one position, by scoring every token there.

    Parameters
    ----------
    vocab_size
        Number of token ids: every id 0 .. vocab_size − 1 is scored at the position (chains × V sequences).
    tokenizer
        Turns the run's text into token ids and back (None: the objective's tokenizer).
    """

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


class TopKConditional(Conditional):
    """Replace the token at a given position, drawn by sentence energy among the LM's top-K.

    Parameters
    ----------
    model
        A causal or masked language model that shortlists the tokens at the position.
    top_k
        Candidate tokens at the position, each scored by the target (None: every ordinary token).
    uniform_mix
        ε: the probability of a uniform ordinary token instead of a candidate, which keeps the way back open.
    """

    def __init__(self, model, top_k: int | None = TOP_K, uniform_mix: float = 0.01):
        self.choice = WeightedChoice(model, top_k, uniform_mix)
        self.tokenizer = model.tokenizer

    def session(self, searches: int = 1):
        return self.choice.candidates.model.session(searches)

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


class MLMConditional(Conditional):
    """Draw the token at a position from the MLM at a [MASK] there (temperature, optional top-k).

    Parameters
    ----------
    mlm
        The masked language model read at a [MASK] put at the position.
    top_k
        Keep only the MLM's top_k tokens there, renormalised (None: every ordinary token).
    temperature
        Divides the MLM's logits before the draw (the MLM's own temperature, not the target's T).
    mh_correction
        False: every draw is taken (approximate Gibbs); True: the MH rule corrects the draws toward the target.
    """

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
