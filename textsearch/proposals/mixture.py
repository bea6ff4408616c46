"""Mixture and Cycle: combine moves and stay exact.

Each component is a complete MH move that preserves the target on its own (it
reports its own q(y←x) and q(x←y)). The component is chosen independently of the
state — at random with fixed weights (Mixture) or in turn by step (Cycle) — so the
combined kernel is a weighted average (Mixture) or a product (Cycle) of
target-preserving kernels, and preserves the target too. There is no need to sum q
over components. One component serves all chains at a step, so a step still costs
one objective call. A combination's session opens every component's, so a mixture
of language-model moves keeps the model's states as each of them alone would.
"""
from __future__ import annotations

import torch

from ..sessions import all_of
from ..state import State
from ..target import Target
from .base import Move, Proposal


class Combined(Proposal):
    """What Mixture and Cycle share: their components, the first tokenizer and start among them, and
    the sessions of all."""

    def __init__(self, components: list[Proposal]):
        if not components:
            raise ValueError("give at least one proposal to combine")
        for component in components:
            if not isinstance(component, Proposal):
                raise TypeError(f"{component!r} is not a proposal: subclass textsearch.proposals.Proposal "
                                "and implement propose(states, energies, target)")
        self.proposals = list(components)
        self.tokenizer = next((p.tokenizer for p in self.proposals if p.tokenizer is not None), None)

    def initial(self, chains: int, generator: torch.Generator) -> list[State] | None:
        for component in self.proposals:
            states = component.initial(chains, generator)
            if states is not None:
                return states
        return None

    def session(self, searches: int = 1):
        return all_of(self.proposals, searches)


class Mixture(Combined):
    """Each step, one component drawn with probability ∝ its weight: Mixture([(P1, 0.7), (P2, 0.3)]).

    Parameters
    ----------
    components
        (proposal, weight) pairs, weights > 0; they need not sum to 1.
    """

    def __init__(self, components: list[tuple[Proposal, float]]):
        pairs = list(components)
        if any(not isinstance(pair, tuple) or len(pair) != 2 for pair in pairs):
            raise TypeError("Mixture takes a list of (proposal, weight) pairs")
        super().__init__([proposal for proposal, _ in pairs])
        weights = [weight for _, weight in pairs]
        if any(not isinstance(w, (int, float)) or not w > 0 for w in weights):
            raise ValueError(f"mixture weights must be positive numbers, got {weights}")
        self.weights = torch.tensor(weights, dtype=torch.float64) / sum(weights)

    def propose(self, states: list[State], energies: torch.Tensor, target: Target) -> Move:
        k = int(torch.multinomial(self.weights, 1, generator=target.generator))
        return self.proposals[k].propose(states, energies, target)


class Cycle(Combined):
    """The components in turn: step t uses component t mod n.

    Parameters
    ----------
    components
        The proposals, in the order they take turns.
    """

    def propose(self, states: list[State], energies: torch.Tensor, target: Target) -> Move:
        return self.proposals[target.step % len(self.proposals)].propose(states, energies, target)
