"""The target a sampler runs against: an objective, a temperature per chain, a tokenizer.

`Target.energy` is the one door through which samplers and proposals reach the
objective, so NaN checks, counting and caching live in one place.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .objectives.base import Batch, Objective
from .state import State


@dataclass
class Target:
    objective: Objective
    temperature: torch.Tensor              # [chains], float64
    tokenizer: object = None
    generator: torch.Generator = None
    step: int = 0
    evaluations: int = 0                    # sequences scored so far
    calls: int = 0                          # objective calls so far
    requested: int = 0                      # states asked for; requested − evaluations came from the cache
    cache: dict = field(default_factory=dict)
    cache_size: int = 100_000

    def energy(self, states: list[State]) -> torch.Tensor:
        """Energies of states [n] (float64, CPU), one objective call for the unseen ones."""
        keys = [s.tokens for s in states]
        self.requested += len(keys)
        todo = list(dict.fromkeys(k for k in keys if k not in self.cache))
        if todo:
            values = self.objective(Batch(todo, self.tokenizer))
            self.calls += 1
            self.evaluations += len(todo)
            if len(self.cache) + len(todo) > self.cache_size:
                self.cache.clear()
            self.cache.update(zip(todo, values.tolist()))
        return torch.tensor([self.cache[k] for k in keys], dtype=torch.float64)
