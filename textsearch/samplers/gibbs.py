"""Gibbs sampling: redraw one position at a time from its conditional.

Gibbs is the MH step with the conditional as the proposal. An exact conditional (of
the target) is accepted with probability one by the MH rule itself; an approximate
one (an MLM's, "BERT has a mouth") sets `Move.always_accept` and is taken as drawn.
Random scan picks a uniform editable position per chain; systematic scan visits the
editable positions in order, one per step. Each single-position update preserves
the target, so both scans do.
"""
from __future__ import annotations

import torch

from ..state import State
from ..target import Target
from .base import MarkovSampler
from .kernel import mh_accept, mh_step

SCANS = ("random", "systematic")


class Gibbs(MarkovSampler):
    """Gibbs sampler of p(x) ∝ exp(−E(x)/T) with a `Conditional` (e.g. ExactConditional, MLMConditional).

    Parameters
    ----------
    conditional
        Redraws one position from its conditional (`propose_at`).
    steps, chains
        Steps per chain, and how many chains run side by side (one batched objective call per step).
    burn_in, thin
        Steps dropped before samples are kept, and keep every `thin`-th step after that.
    seed
        Seed of the run's random stream: the same seed gives the same run.
    scan
        "random" (a uniform position each step) or "systematic" (positions in turn).
    temperature
        T of the target.
    """

    def __init__(self, conditional, steps: int, chains: int = 1, burn_in: int = 0, thin: int = 1,
                 seed: int = 0, scan: str = "random", temperature: float = 1.0):
        if not callable(getattr(conditional, "propose_at", None)):
            raise TypeError(f"Gibbs needs a conditional with propose_at(states, positions, energies, target), "
                            f"got {type(conditional).__name__}")
        if scan not in SCANS:
            raise ValueError(f"scan must be one of {SCANS}, got {scan!r}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        super().__init__(conditional, steps, chains, burn_in, thin, seed)
        self.scan, self.temperature = scan, float(temperature)

    def initial_states(self, init, tokenizer, generator: torch.Generator) -> list[State]:
        states = super().initial_states(init, tokenizer, generator)
        if any(not state.editable for state in states):
            raise ValueError("Gibbs redraws editable positions, and a chain starts with none (empty, or every "
                             "token locked): start from a sequence with at least one unlocked token")
        return states

    def temperatures(self, step: int) -> torch.Tensor:
        return torch.full((self.chains,), self.temperature, dtype=torch.float64)

    def step(self, states: list[State], energies: torch.Tensor, target: Target):
        if self.scan == "random":
            return mh_step(self.proposal, states, energies, target)
        positions = [s.editable[target.step % len(s.editable)] if s.editable else None for s in states]
        return mh_accept(self.proposal.propose_at(states, positions, energies, target), states, energies, target)
