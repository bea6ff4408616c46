"""Proposals: local moves for Metropolis–Hastings and sequence distributions q.

A local move maps the chains' states to proposed states and reports both
log q(y←x) and log q(x←y), so the sampler can apply the MH rule without knowing
what the move was. A proposal that had to score its candidates anyway (energy-
weighted token choice) hands back E(y) so the sampler does not score y twice.
"""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch

from ..state import State
from ..target import Target


@dataclass
class Move:
    states: list[State]                     # proposed y, one per chain
    log_q_forward: torch.Tensor             # log q(y←x) [chains]
    log_q_reverse: torch.Tensor             # log q(x←y) [chains]; -inf: y cannot return, reject
    kinds: list[str]                        # the move type per chain, for acceptance per type
    energies: torch.Tensor | None = None    # E(y) when the proposal already computed it
    always_accept: bool = False             # approximate Gibbs: take y whatever the ratio


class Proposal:
    """A local move. Subclasses implement `propose`; `session` and `initial` are optional."""

    tokenizer = None

    def propose(self, states: list[State], energies: torch.Tensor, target: Target) -> Move:
        raise NotImplementedError

    def initial(self, chains: int, generator: torch.Generator) -> list[State] | None:
        """Starting states when the user gives none; None means init is required."""
        return None

    def session(self, searches: int = 1) -> AbstractContextManager:
        """A block that spans a sampler run (or `searches` runs taking turns): a proposal backed by a
        language model lets it keep the states of what it scored. Combinators open their parts'."""
        return nullcontext()


class SequenceDistribution:
    """A distribution q over whole sequences, for rejection and importance sampling."""

    tokenizer = None

    def sample(self, n: int, generator: torch.Generator) -> tuple[list[list[int]], torch.Tensor]:
        """n sequences and their log q [n]."""
        raise NotImplementedError

    def session(self, searches: int = 1) -> AbstractContextManager:
        return nullcontext()


class Conditional(Proposal):
    """A draw for one position given the rest of the sequence, for Gibbs sampling.

    `exact` conditionals (of the target itself) are accepted by the MH rule with
    probability one; approximate ones (an MLM's) set `Move.always_accept`, or are
    corrected by MH when the sampler asks for it. A conditional is also a proposal:
    `propose` resamples one uniformly chosen editable position per chain (random scan).
    """

    def propose_at(self, states: list[State], positions: list[int | None], energies: torch.Tensor,
                   target: Target) -> Move:
        """Redraw position `positions[c]` of chain c; None (nothing editable) proposes the state itself."""
        raise NotImplementedError

    def propose(self, states: list[State], energies: torch.Tensor, target: Target) -> Move:
        return self.propose_at(states, random_editable(states, target.generator), energies, target)


def random_editable(states: list[State], generator: torch.Generator) -> list[int | None]:
    """A uniformly chosen editable position of each state (None where every token is locked)."""
    uniforms = torch.rand(len(states), generator=generator, dtype=torch.float64).tolist()
    positions = []
    for state, u in zip(states, uniforms):
        editable = state.editable
        positions.append(editable[min(int(u * len(editable)), len(editable) - 1)] if editable else None)
    return positions
