"""Swap: exchange the tokens at two editable positions.

The move that puts a shuffled sentence back in order. Every unordered pair of
editable positions is equally likely, and a swap leaves the set of editable
positions as it was, so q(y←x) = q(x←y) = 1 / C(n, 2): the move is symmetric and
MH needs no correction. Locked tokens (keywords) stay where they are.
"""
from __future__ import annotations

import math

import torch

from ..state import State
from ..target import Target
from .base import Move, Proposal


class Swap(Proposal):
    """Pick two distinct editable positions uniformly and exchange their tokens.

    Parameters
    ----------
    tokenizer
        Turns the run's text into token ids and back (None: the objective's tokenizer).
    """

    def __init__(self, tokenizer=None):
        self.tokenizer = tokenizer

    def propose(self, states: list[State], energies: torch.Tensor, target: Target) -> Move:
        proposed, log_q = [], []
        for state in states:
            free = state.editable
            n = len(free)
            if n < 2:
                raise ValueError(f"Swap needs at least two editable positions, the state has {n}: "
                                 "use longer sequences or lock fewer tokens")
            first, second = torch.randperm(n, generator=target.generator)[:2].tolist()
            i, j = free[first], free[second]
            tokens = list(state.tokens)
            tokens[i], tokens[j] = tokens[j], tokens[i]
            proposed.append(State(tuple(tokens), state.locked))
            log_q.append(-math.log(n * (n - 1) / 2))
        log_q = torch.tensor(log_q, dtype=torch.float64)
        return Move(proposed, log_q, log_q.clone(), ["swap"] * len(states))
