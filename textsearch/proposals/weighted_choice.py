"""Fill a slot with a token chosen by the energy of the whole sentence it makes.

The language model only shortlists: C = its top-K tokens at the slot. Each candidate
sentence is scored by the target, and the token is drawn from

    q(t) = (1 − ε) · [t ∈ C] · softmax_{c ∈ C}(−E(x[slot ← c]) / T)(t)  +  ε / |A|

with A the ordinary (non-special) tokens and T the chain's temperature. The uniform
part ε keeps every token possible, so the reverse of any move has q > 0 and the MH
ratio is exact; with ε = 0 a move whose reverse needs a token outside C is rejected.
Whether the uniform branch is taken is drawn *before* scoring, so its token is scored
in the same single objective call as the candidates.

The softmax over C follows `conditional_log_probs`: at T = 0 it is uniform over the
lowest-energy candidates, and when every candidate sentence is forbidden (E = inf) it
is uniform over C, the same rule in both directions of a move.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..state import State
from ..target import Target
from .candidates import Candidates, Slot


def conditional_log_probs(energies: torch.Tensor, temperature: torch.Tensor) -> torch.Tensor:
    """log softmax(−E/T) of each row of candidate energies [rows, V], T per row."""
    temperature = temperature[:, None]
    cold = temperature == 0
    logits = -energies / torch.where(cold, 1.0, temperature)
    lowest = energies == energies.min(dim=1, keepdim=True).values
    logits = torch.where(cold, torch.where(lowest, 0.0, -torch.inf), logits)
    logits = torch.where(torch.isneginf(logits).all(dim=1, keepdim=True), 0.0, logits)
    return logits.log_softmax(dim=1)


@dataclass
class Weights:
    """The energy-weighted candidate distribution at each of n slots."""
    candidates: torch.Tensor        # [n, K] token ids; −1 past the end of a shorter (top-p) set
    energies: torch.Tensor          # [n, K] E of each candidate sentence
    temperature: torch.Tensor       # [n]; 0 puts all weight on the lowest-energy candidates
    uniform_mix: float
    allowed: torch.Tensor           # [V] bool, the ordinary tokens

    def __post_init__(self):
        self.log_probs = conditional_log_probs(self.energies, self.temperature)      # [n, K]
        short = self.candidates < 0
        if short.any():                     # not in C, even where every candidate is forbidden
            self.log_probs = self.log_probs.masked_fill(short, -math.inf).log_softmax(-1)

    def _within(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Whether each token is a candidate of its slot, and its log softmax_C (−inf if not)."""
        match = self.candidates == tokens[:, None]
        member = match.any(-1)
        at = self.log_probs.gather(-1, match.to(torch.uint8).argmax(-1, keepdim=True))[:, 0]
        return member, torch.where(member, at, -math.inf)

    def log_prob(self, tokens: torch.Tensor) -> torch.Tensor:
        """log q(t) at each slot [n]."""
        member, log_c = self._within(tokens)
        if self.uniform_mix == 0:
            return log_c
        log_u = torch.where(self.allowed[tokens], math.log(self.uniform_mix) - math.log(int(self.allowed.sum())),
                            -math.inf).to(log_c.dtype)
        return torch.logaddexp(math.log1p(-self.uniform_mix) + log_c, log_u)

    def gibbs_log_prob(self, tokens: torch.Tensor, energies: torch.Tensor) -> torch.Tensor:
        """log π(x[slot←t]) / Σ_{c∈C} π(x[slot←c]) for any t, given its sentence's energy: the CGMH
        formula, which is a distribution over C only (−inf off C at T = 0 or when C is all forbidden)."""
        member, log_c = self._within(tokens)
        cold = self.temperature == 0
        temperature = torch.where(cold, 1.0, self.temperature)
        outside = -energies / temperature - (-self.energies / temperature[:, None]).logsumexp(-1)
        blocked = cold | torch.isinf(self.energies).all(-1)
        return torch.where(member, log_c, torch.where(blocked, -math.inf, outside))


@dataclass
class Choice:
    """The drawn token per slot (rows that were not asked to draw hold −1 / None / nan)."""
    tokens: torch.Tensor            # [n]
    states: list[State | None]      # the filled sentences
    energies: torch.Tensor          # [n] their energies
    log_q: torch.Tensor             # [n] log q(token)
    extra_energies: torch.Tensor    # energies of the extra states, scored in the same call
    weights: Weights


class WeightedChoice:
    """Energy-weighted token choice over the model's top-K at each slot, with a uniform mix."""

    def __init__(self, model, top_k: int | None, uniform_mix: float, top_p: float = 1.0):
        if not 0.0 <= uniform_mix < 1.0:
            raise ValueError(f"uniform_mix must be in [0, 1), got {uniform_mix!r}")
        self.candidates = Candidates(model, top_k, top_p)
        self.uniform_mix = float(uniform_mix)

    def __call__(self, slots: list[Slot], draw: list[bool], temperature: torch.Tensor, target: Target,
                 extra: list[State] = ()) -> Choice:
        """Score every slot's candidate sentences (plus `extra`) in one objective call; draw where asked."""
        n, generator = len(slots), target.generator
        candidates = self.candidates.top(slots) if slots else torch.zeros((0, self.candidates.top_k), dtype=torch.long)
        uniform = torch.rand(n, generator=generator, dtype=torch.float64) < self.uniform_mix
        picks = self.candidates.allowed_ids[torch.randint(self.candidates.num_allowed, (n,), generator=generator)]
        uniform &= torch.tensor(draw, dtype=torch.bool)
        uniform_rows = uniform.nonzero()[:, 0].tolist()
        sentences = [slot.fill(c) for slot, row in zip(slots, candidates.tolist()) for c in row if c >= 0]
        sentences += [slots[r].fill(int(picks[r])) for r in uniform_rows] + list(extra)
        energies = target.energy(sentences)
        listed, k = candidates >= 0, len(sentences) - len(uniform_rows) - len(extra)
        candidate_energies = torch.full(candidates.shape, math.inf, dtype=torch.float64)
        candidate_energies[listed] = energies[:k]
        weights = Weights(candidates, candidate_energies, temperature.to(torch.float64), self.uniform_mix,
                          self.candidates.allowed)

        index = torch.multinomial(weights.log_probs.exp(), 1, generator=generator)[:, 0] \
            if n else torch.zeros(0, dtype=torch.long)
        rows = torch.arange(n)
        tokens, chosen = candidates[rows, index], candidate_energies[rows, index]
        tokens[uniform], chosen[uniform] = picks[uniform], energies[k: k + len(uniform_rows)]
        asked = torch.tensor(draw, dtype=torch.bool)
        tokens = torch.where(asked, tokens, -1)
        chosen = torch.where(asked, chosen, math.nan)
        log_q = torch.where(asked, weights.log_prob(tokens.clamp(min=0)), math.nan)
        states = [slot.fill(int(t)) if ok else None for slot, t, ok in zip(slots, tokens.tolist(), draw)]
        return Choice(tokens, states, chosen, log_q, energies[k + len(uniform_rows):], weights)
