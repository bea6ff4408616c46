"""UniformReplace: put a different, uniformly drawn token at one editable position.

The position is uniform over the editable ones and the token uniform over the
V − 1 tokens other than the current one. A replacement keeps the length and the
locked mask, so the reverse move has the same probability: q(y←x) = q(x←y) =
1 / (#editable · (V − 1)), a symmetric move. Locked positions never change.
"""
from __future__ import annotations

import math

import torch

from ..sequences import State
from ..target import Target
from .base import Move, Proposal, random_editable


def check_vocab_size(vocab_size: int, least: int = 2) -> int:
    if not isinstance(vocab_size, int) or vocab_size < least:
        raise ValueError(f"vocab_size must be an integer >= {least}, got {vocab_size!r}")
    return vocab_size


def check_token(token: int, vocab_size: int) -> int:
    """A token a uniform move may remove must be one it could put back."""
    if not 0 <= token < vocab_size:
        raise ValueError(f"token id {token} is outside the vocabulary of {vocab_size} tokens: "
                         "pass the vocab_size of the tokenizer that made the sequences")
    return token


def other_token(current: int, u: float, vocab_size: int) -> int:
    """The token that the uniform u in [0, 1) picks among the vocab_size − 1 tokens other than `current`."""
    check_token(current, vocab_size)
    token = min(int(u * (vocab_size - 1)), vocab_size - 2)
    return token + (token >= current)


class UniformReplace(Proposal):
    """Symmetric single-site move: one editable position gets another uniform token."""

    def __init__(self, vocab_size: int, tokenizer=None):
        self.vocab_size = check_vocab_size(vocab_size)
        self.tokenizer = tokenizer

    def propose(self, states: list[State], energies: torch.Tensor, target: Target) -> Move:
        positions = random_editable(states, target.generator)
        uniforms = torch.rand(len(states), generator=target.generator, dtype=torch.float64).tolist()
        proposed, log_q, kinds = [], [], []
        for state, i, u in zip(states, positions, uniforms):
            if i is None:                                  # all locked or empty: stay
                proposed.append(state)
                log_q.append(0.0)
                kinds.append("stay")
                continue
            proposed.append(state.replace(i, other_token(state.tokens[i], u, self.vocab_size)))
            log_q.append(-math.log(len(state.editable) * (self.vocab_size - 1)))
            kinds.append("replace")
        log_q = torch.tensor(log_q, dtype=torch.float64)
        return Move(proposed, log_q, log_q.clone(), kinds)
