"""Mixture and Cycle: combine moves and stay exact.

Each component is a complete MH move that preserves the target on its own (it
reports its own q(y←x) and q(x←y)). The component is chosen independently of the
state — at random with fixed weights (Mixture) or in turn by step (Cycle) — so the
combined kernel is a weighted average (Mixture) or a product (Cycle) of
target-preserving kernels, and preserves the target too. There is no need to sum q
over components. One component serves all chains at a step, so a step still costs
one objective call.
"""
from __future__ import annotations

import torch

from ..sequences import State
from ..target import Target
from .base import Move, Proposal


def _check_components(components: list) -> list:
    if not components:
        raise ValueError("give at least one proposal to combine")
    for component in components:
        if not callable(getattr(component, "propose", None)):
            raise TypeError(f"{component!r} is not a proposal: it needs a propose(states, energies, target) method")
    return components


def _first_initial(components: list, chains: int, generator: torch.Generator) -> list[State] | None:
    for component in components:
        initial = getattr(component, "initial", None)
        states = initial(chains, generator) if initial is not None else None
        if states is not None:
            return states
    return None


class Mixture(Proposal):
    """Each step, one component drawn with probability ∝ its weight: Mixture([(P1, 0.7), (P2, 0.3)])."""

    def __init__(self, components: list[tuple[Proposal, float]]):
        pairs = list(components)
        if any(not isinstance(pair, tuple) or len(pair) != 2 for pair in pairs):
            raise TypeError("Mixture takes a list of (proposal, weight) pairs")
        self.proposals = _check_components([proposal for proposal, _ in pairs])
        weights = [weight for _, weight in pairs]
        if any(not isinstance(w, (int, float)) or not w > 0 for w in weights):
            raise ValueError(f"mixture weights must be positive numbers, got {weights}")
        self.weights = torch.tensor(weights, dtype=torch.float64) / sum(weights)
        self.tokenizer = next((p.tokenizer for p in self.proposals if p.tokenizer is not None), None)

    def propose(self, states: list[State], energies: torch.Tensor, target: Target) -> Move:
        k = int(torch.multinomial(self.weights, 1, generator=target.generator))
        return self.proposals[k].propose(states, energies, target)

    def initial(self, chains: int, generator: torch.Generator) -> list[State] | None:
        return _first_initial(self.proposals, chains, generator)


class Cycle(Proposal):
    """The components in turn: step t uses component t mod n."""

    def __init__(self, components: list[Proposal]):
        self.proposals = _check_components(list(components))
        self.tokenizer = next((p.tokenizer for p in self.proposals if p.tokenizer is not None), None)

    def propose(self, states: list[State], energies: torch.Tensor, target: Target) -> Move:
        return self.proposals[target.step % len(self.proposals)].propose(states, energies, target)

    def initial(self, chains: int, generator: torch.Generator) -> list[State] | None:
        return _first_initial(self.proposals, chains, generator)
