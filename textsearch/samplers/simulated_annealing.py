"""Simulated annealing: the MH step under a falling temperature, to find low energies.

The chains follow p_t(x) ∝ exp(−E(x)/T_t) with T_t from a schedule; `result.best`
is the lowest-energy state seen. At T = 0 a step takes exactly the moves that do
not raise the energy, so `hill_climbing` is annealing at a constant 0.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from .. import schedules
from .base import MarkovSampler


class SimulatedAnnealing(MarkovSampler):
    """MH with temperature `schedule(step, steps)`; `result.best` is the answer.

    Parameters
    ----------
    proposal
        A `Proposal`: the move each chain tries at each step.
    schedule
        Maps (step, steps) to a temperature (`ts.schedules`).
    steps, chains
        Steps per chain, and how many chains run side by side (one batched objective call per step).
    burn_in, thin
        Steps dropped before samples are kept, and keep every `thin`-th step after that.
    seed
        Seed of the run's random stream: the same seed gives the same run.
    """

    def __init__(self, proposal, schedule: Callable[[int, int], float], steps: int, chains: int = 1,
                 seed: int = 0, burn_in: int = 0, thin: int = 1):
        if not callable(schedule):
            raise TypeError("schedule must map (step, total_steps) to a temperature, e.g. ts.schedules.Exponential(1.0, 0.01)")
        super().__init__(proposal, steps, chains, burn_in, thin, seed)
        self.schedule = schedule

    @classmethod
    def hill_climbing(cls, proposal, steps: int, chains: int = 1, seed: int = 0) -> "SimulatedAnnealing":
        """Accept a move iff it does not raise the energy."""
        return cls(proposal, schedules.Constant(0.0), steps, chains, seed)

    def temperatures(self, step: int) -> torch.Tensor:
        temperature = float(self.schedule(step, self.steps))
        if not (math.isfinite(temperature) and temperature >= 0):
            raise ValueError(f"the schedule gave temperature {temperature} at step {step}: it must be finite and >= 0")
        return torch.full((self.chains,), temperature, dtype=torch.float64)
