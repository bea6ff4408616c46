"""Metropolis–Hastings at a fixed temperature: samples of p(x) ∝ exp(−E(x)/T)."""
from __future__ import annotations

import torch

from .base import MarkovSampler


class MetropolisHastings(MarkovSampler):
    """MH at a fixed temperature: samples of p(x) ∝ exp(−E(x)/T)."""

    def __init__(self, proposal, steps: int, chains: int = 1, burn_in: int = 0, thin: int = 1,
                 temperature: float = 1.0, seed: int = 0):
        super().__init__(proposal, steps, chains, burn_in, thin, seed)
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)

    def temperatures(self, step: int) -> torch.Tensor:
        return torch.full((self.chains,), self.temperature, dtype=torch.float64)
