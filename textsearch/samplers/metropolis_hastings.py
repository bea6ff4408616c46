"""Metropolis–Hastings at a fixed temperature: samples of p(x) ∝ exp(−E(x)/T)."""
from __future__ import annotations

import torch

from .base import MarkovSampler


class MetropolisHastings(MarkovSampler):
    """MH at a fixed temperature: samples of p(x) ∝ exp(−E(x)/T).

    Parameters
    ----------
    proposal
        A `Proposal`: the move each chain tries at each step.
    steps, chains
        Steps per chain, and how many chains run side by side (one batched objective call per step).
    burn_in, thin
        Steps dropped before samples are kept, and keep every `thin`-th step after that.
    seed
        Seed of the run's random stream: the same seed gives the same run.
    temperature
        T of the target.
    """

    def __init__(self, proposal, steps: int, chains: int = 1, burn_in: int = 0, thin: int = 1,
                 temperature: float = 1.0, seed: int = 0):
        super().__init__(proposal, steps, chains, burn_in, thin, seed)
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)

    def temperatures(self, step: int) -> torch.Tensor:
        return torch.full((self.chains,), self.temperature, dtype=torch.float64)
